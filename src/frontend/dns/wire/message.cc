#include "frontend/dns/wire/message.h"

#include <algorithm>

#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/wire_internal.h"

namespace meshkv::dns {
namespace {

using internal::AppendU16;
using internal::AppendU32;
using internal::NameLayout;
using internal::RdataField;
using internal::RdataLayout;
using internal::ReadU16;
using internal::ReadU32;

void PutU16(std::string& out, size_t pos, uint16_t value) {
  out[pos] = static_cast<char>(value >> 8);
  out[pos + 1] = static_cast<char>(value & 0xFF);
}

constexpr const char* kSectionNames[] = {"answer", "authority", "additional"};

// Reads rdata at bytes[pos, pos + length), expanding compressed names of the
// known types that embed names (RFC 1035 4.1.4; SRV too, as Knot and BIND
// accept, because some writers compress it despite RFC 2782) and validating
// known types. Returns uncompressed rdata.
Result<std::string> ReadRdata(std::string_view bytes, size_t pos, size_t length, uint16_t type) {
  const size_t end = pos + length;
  const RdataLayout* layout = NameLayout(type);
  if (layout == nullptr) {
    std::string_view rdata = bytes.substr(pos, length);
    Status valid = ValidateRdata(type, rdata);
    if (!valid.ok()) return valid;
    return std::string(rdata);
  }
  std::string rdata;
  rdata.reserve(length + 32);
  for (const RdataField& field : layout->fields) {
    if (field.kind == RdataField::kEnd) break;
    if (field.kind == RdataField::kName) {
      // The name's own bytes must lie inside the rdata; pointers may go
      // anywhere earlier in the message.
      auto read = internal::ReadName(bytes.substr(0, end), pos, /*allow_pointers=*/true);
      if (!read.ok()) {
        return InvalidArgument(TypeToText(type) + " rdata: " + read.status().message());
      }
      rdata += read->name.wire();
      pos = read->end;
    } else {
      if (pos + field.size > end) {
        return InvalidArgument(TypeToText(type) + " rdata: too short");
      }
      rdata.append(bytes.substr(pos, field.size));
      pos += field.size;
    }
  }
  if (pos != end) return InvalidArgument(TypeToText(type) + " rdata: trailing bytes");
  if (rdata.size() > kMaxRdataLength) {
    return InvalidArgument(TypeToText(type) + " rdata longer than 65535 octets when expanded");
  }
  return rdata;
}

Result<Edns> ParseOpt(const ResourceRecord& rr) {
  // RFC 6891 6.1.2, 6.1.3. The owner MUST be the root, but like Knot we do
  // not refuse a query over it: the owner carries no meaning for EDNS.
  Edns edns;
  edns.udp_payload_size = rr.klass;
  edns.extended_rcode = static_cast<uint8_t>(rr.ttl >> 24);
  edns.version = static_cast<uint8_t>(rr.ttl >> 16);
  edns.dnssec_ok = (rr.ttl & 0x8000) != 0;
  size_t pos = 0;
  while (pos < rr.rdata.size()) {
    const uint16_t code = ReadU16(rr.rdata, pos);
    const uint16_t length = ReadU16(rr.rdata, pos + 2);
    edns.options.push_back({code, rr.rdata.substr(pos + 4, length)});
    pos += 4 + length;
  }
  return edns;
}

}  // namespace

uint16_t FullRcode(const Message& message) {
  const uint16_t high = message.edns ? message.edns->extended_rcode : 0;
  return static_cast<uint16_t>(high << 4 | (message.header.rcode_low & 0xF));
}

Result<Header> ParseHeader(std::string_view bytes) {
  // RFC 1035 4.1.1.
  if (bytes.size() < kHeaderSize) {
    return InvalidArgument("message shorter than the 12-byte header");
  }
  Header h;
  h.id = ReadU16(bytes, 0);
  const auto b2 = static_cast<uint8_t>(bytes[2]);
  const auto b3 = static_cast<uint8_t>(bytes[3]);
  h.qr = (b2 & 0x80) != 0;
  h.opcode = static_cast<Opcode>((b2 >> 3) & 0xF);
  h.aa = (b2 & 0x04) != 0;
  h.tc = (b2 & 0x02) != 0;
  h.rd = (b2 & 0x01) != 0;
  h.ra = (b3 & 0x80) != 0;
  h.ad = (b3 & 0x20) != 0;  // RFC 4035 3.2.3
  h.cd = (b3 & 0x10) != 0;  // RFC 4035 3.2.2
  h.rcode_low = b3 & 0xF;
  h.qdcount = ReadU16(bytes, 4);
  h.ancount = ReadU16(bytes, 6);
  h.nscount = ReadU16(bytes, 8);
  h.arcount = ReadU16(bytes, 10);
  return h;
}

Result<Message> ParseMessage(std::string_view bytes) {
  auto header = ParseHeader(bytes);
  if (!header.ok()) return header.status();
  Message message;
  message.header = *header;
  size_t pos = kHeaderSize;

  // Every question takes at least 5 bytes and every record 11, so counts that
  // cannot fit are rejected before allocating for them.
  const size_t left = bytes.size() - kHeaderSize;
  if (size_t{header->qdcount} * 5 +
          (size_t{header->ancount} + header->nscount + header->arcount) * 11 >
      left) {
    return InvalidArgument("section counts exceed the message length");
  }

  // RFC 1035 4.1.2.
  message.questions.reserve(header->qdcount);
  for (uint16_t i = 0; i < header->qdcount; ++i) {
    auto name = internal::ReadName(bytes, pos, /*allow_pointers=*/true);
    if (!name.ok()) return InvalidArgument("question name: " + name.status().message());
    pos = name->end;
    if (pos + 4 > bytes.size()) return InvalidArgument("question truncated");
    message.questions.push_back(
        {std::move(name->name), ReadU16(bytes, pos), ReadU16(bytes, pos + 2)});
    pos += 4;
  }

  // RFC 1035 4.1.3.
  std::vector<ResourceRecord>* sections[] = {&message.answers, &message.authority,
                                             &message.additional};
  const uint16_t counts[] = {header->ancount, header->nscount, header->arcount};
  for (int s = 0; s < 3; ++s) {
    sections[s]->reserve(counts[s]);
    for (uint16_t i = 0; i < counts[s]; ++i) {
      auto name = internal::ReadName(bytes, pos, /*allow_pointers=*/true);
      if (!name.ok()) {
        return InvalidArgument(std::string(kSectionNames[s]) +
                               " record name: " + name.status().message());
      }
      pos = name->end;
      if (pos + 10 > bytes.size()) {
        return InvalidArgument(std::string(kSectionNames[s]) + " record truncated");
      }
      ResourceRecord rr;
      rr.name = std::move(name->name);
      rr.type = ReadU16(bytes, pos);
      rr.klass = ReadU16(bytes, pos + 2);
      rr.ttl = ReadU32(bytes, pos + 4);
      const uint16_t rdlength = ReadU16(bytes, pos + 8);
      pos += 10;
      if (pos + rdlength > bytes.size()) {
        return InvalidArgument(std::string(kSectionNames[s]) + " record rdata truncated");
      }
      if (rdlength == 0 && (rr.klass == RrClass::kAny || rr.klass == RrClass::kNone) &&
          rr.type != RrType::kOpt) {
        // RFC 2136 2.4.1, 2.5.2: "RRset exists" / "delete RRset" carry no rdata.
      } else {
        auto rdata = ReadRdata(bytes, pos, rdlength, rr.type);
        if (!rdata.ok()) {
          return InvalidArgument(std::string(kSectionNames[s]) + " record " + rr.name.ToText() +
                                 " " + TypeToText(rr.type) + ": " + rdata.status().message());
        }
        rr.rdata = std::move(*rdata);
      }
      pos += rdlength;
      if (rr.type == RrType::kOpt) {
        // RFC 6891 6.1.1: at most one OPT, in the additional section.
        if (s != 2) {
          return InvalidArgument("OPT record outside the additional section (RFC 6891 6.1.1)");
        }
        if (message.edns) return InvalidArgument("more than one OPT record (RFC 6891 6.1.1)");
        auto edns = ParseOpt(rr);
        if (!edns.ok()) return edns.status();
        message.edns = std::move(*edns);
        continue;
      }
      sections[s]->push_back(std::move(rr));
    }
  }
  if (pos != bytes.size()) {
    return InvalidArgument(std::to_string(bytes.size() - pos) +
                           " trailing bytes after the last record");
  }
  return message;
}

// ---- MessageWriter -----------------------------------------------------------

MessageWriter::MessageWriter(size_t max_size)
    : max_size_(std::clamp<size_t>(max_size, kMaxUdpPlainSize, kMaxMessageSize)) {
  buffer_.reserve(std::min<size_t>(max_size_, 4096));
  buffer_.resize(kHeaderSize, '\0');
}

void MessageWriter::SetHeader(const Header& h) {
  header_ = h;
}

void MessageWriter::SetEdns(const Edns& e) {
  edns_ = e;
}

void MessageWriter::SetTruncated() {
  header_.tc = true;
}

void MessageWriter::SetRcode(Rcode rcode) {
  rcode_ = static_cast<uint16_t>(rcode);
}

size_t MessageWriter::OptSize() const {
  if (!edns_) return 0;
  // RFC 6891 6.1.2: root owner(1) TYPE CLASS TTL RDLEN(10) + options.
  size_t size = 11;
  for (const EdnsOption& option : edns_->options) size += 4 + option.data.size();
  return size;
}

size_t MessageWriter::size() const {
  return buffer_.size() + OptSize();
}

void MessageWriter::Rollback(size_t size) {
  buffer_.resize(size);
  while (!target_log_.empty() && target_log_.back().offset >= size) {
    const TargetLogEntry& entry = target_log_.back();
    (entry.exact ? exact_targets_ : lower_targets_).erase(entry.key);
    target_log_.pop_back();
  }
}

void MessageWriter::AddTarget(const std::string& suffix, size_t offset) {
  std::string lowered = suffix;
  for (char& c : lowered) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  if (exact_targets_.emplace(suffix, static_cast<uint16_t>(offset)).second) {
    target_log_.push_back({true, suffix, offset});
  }
  if (lower_targets_.emplace(lowered, static_cast<uint16_t>(offset)).second) {
    target_log_.push_back({false, std::move(lowered), offset});
  }
}

void MessageWriter::WriteName(const Name& name, Compression compression) {
  const std::string& wire = name.wire();
  const size_t labels = name.label_count();
  size_t starts[kMaxNameWireLength / 2 + 1];  // label start offsets in `wire`
  for (size_t i = 0, pos = 0; i <= labels; ++i) {
    starts[i] = pos;
    if (i < labels) pos += 1 + static_cast<uint8_t>(wire[pos]);
  }
  // RFC 1035 4.1.4: the longest suffix already in the message becomes a
  // pointer to it.
  size_t literal = labels;  // labels written in full
  std::optional<uint16_t> pointer;
  if (compression != Compression::kNone) {
    // The name lower-cased, for case-insensitive matching, without allocating.
    char lowered[kMaxNameWireLength];
    for (size_t k = 0; k < wire.size(); ++k) {
      const char c = wire[k];
      lowered[k] = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    }
    const bool any_case = compression == Compression::kAnyCase;
    const std::string_view key = any_case ? std::string_view(lowered, wire.size()) : wire;
    const TargetMap& targets = any_case ? lower_targets_ : exact_targets_;
    for (size_t i = 0; i < labels && !pointer; ++i) {
      const auto it = targets.find(key.substr(starts[i]));
      if (it != targets.end()) {
        literal = i;
        pointer = it->second;
      }
    }
  }
  const size_t base = buffer_.size();
  buffer_.append(wire, 0, starts[literal]);
  if (pointer) {
    AppendU16(buffer_, static_cast<uint16_t>(0xC000 | *pointer));
  } else {
    buffer_ += '\0';
  }
  if (compression == Compression::kNone) return;
  // The suffixes written in full become targets, spelled as they decode.
  std::string tail = std::string(1, '\0');
  if (pointer) {
    auto read = internal::ReadName(buffer_, *pointer, /*allow_pointers=*/true);
    if (!read.ok()) return;  // not reached: the writer only points backwards
    tail = read->name.wire();
  }
  for (size_t j = 0; j < literal && base + starts[j] < 0x4000; ++j) {
    AddTarget(wire.substr(starts[j], starts[literal] - starts[j]) + tail, base + starts[j]);
  }
}

bool MessageWriter::WriteRdata(uint16_t type, std::string_view rdata) {
  if (!ValidateRdata(type, rdata).ok()) return false;
  const RdataLayout* layout = NameLayout(type);
  if (layout == nullptr) {
    buffer_.append(rdata);
    return true;
  }
  size_t pos = 0;
  for (const RdataField& field : layout->fields) {
    if (field.kind == RdataField::kEnd) break;
    if (field.kind == RdataField::kName) {
      auto read = internal::ReadName(rdata, pos, /*allow_pointers=*/false);
      if (!read.ok()) return false;  // not reached: validated above
      // RFC 3597 4 / RFC 2782: SRV targets are neither compressed nor used
      // as compression targets. Names in rdata keep their case.
      WriteName(read->name, layout->compressible ? Compression::kExactCase : Compression::kNone);
      pos = read->end;
    } else {
      buffer_.append(rdata.substr(pos, field.size));
      pos += field.size;
    }
  }
  return true;
}

bool MessageWriter::AddQuestion(const Question& q) {
  if (current_section_ != -1 || counts_[0] == 0xFFFF) return false;
  const size_t start = buffer_.size();
  WriteName(q.name, Compression::kAnyCase);
  AppendU16(buffer_, q.type);
  AppendU16(buffer_, q.klass);
  if (size() > max_size_) {
    Rollback(start);
    return false;
  }
  ++counts_[0];
  return true;
}

bool MessageWriter::AddRecord(Section section, const ResourceRecord& rr) {
  const int index = static_cast<int>(section);
  if (index < current_section_ || counts_[index + 1] == 0xFFFF) return false;
  if (rr.type == RrType::kOpt) return false;  // use SetEdns
  const size_t start = buffer_.size();
  // RFC 1035 4.1.3.
  WriteName(rr.name, Compression::kAnyCase);
  AppendU16(buffer_, rr.type);
  AppendU16(buffer_, rr.klass);
  AppendU32(buffer_, rr.ttl);
  const size_t rdlength_at = buffer_.size();
  AppendU16(buffer_, 0);
  const size_t rdata_start = buffer_.size();
  // RFC 2136 2.4.1, 2.5.2: class ANY/NONE records may have empty rdata.
  const bool empty_update =
      rr.rdata.empty() && (rr.klass == RrClass::kAny || rr.klass == RrClass::kNone);
  if ((!empty_update && !WriteRdata(rr.type, rr.rdata)) || buffer_.size() - rdata_start > 0xFFFF ||
      size() > max_size_) {
    Rollback(start);
    return false;
  }
  PutU16(buffer_, rdlength_at, static_cast<uint16_t>(buffer_.size() - rdata_start));
  current_section_ = index;
  ++counts_[index + 1];
  return true;
}

std::string MessageWriter::Finish() {
  // RFC 1035 4.1.1.
  uint16_t rcode = rcode_ ? *rcode_ : header_.rcode_low;
  buffer_[0] = static_cast<char>(header_.id >> 8);
  buffer_[1] = static_cast<char>(header_.id & 0xFF);
  buffer_[2] = static_cast<char>(
      (header_.qr ? 0x80 : 0) | ((static_cast<uint8_t>(header_.opcode) & 0xF) << 3) |
      (header_.aa ? 0x04 : 0) | (header_.tc ? 0x02 : 0) | (header_.rd ? 0x01 : 0));
  buffer_[3] = static_cast<char>((header_.ra ? 0x80 : 0) | (header_.ad ? 0x20 : 0) |
                                 (header_.cd ? 0x10 : 0) | (rcode & 0xF));
  uint16_t arcount = counts_[3];
  if (edns_) {
    // RFC 6891 6.1.2, 6.1.3.
    const uint8_t extended = rcode_ ? static_cast<uint8_t>(*rcode_ >> 4) : edns_->extended_rcode;
    buffer_ += '\0';
    AppendU16(buffer_, RrType::kOpt);
    AppendU16(buffer_, edns_->udp_payload_size);
    AppendU32(buffer_, uint32_t{extended} << 24 | uint32_t{edns_->version} << 16 |
                           (edns_->dnssec_ok ? 0x8000u : 0u));
    size_t rdlength = 0;
    for (const EdnsOption& option : edns_->options) rdlength += 4 + option.data.size();
    AppendU16(buffer_, static_cast<uint16_t>(rdlength));
    for (const EdnsOption& option : edns_->options) {
      AppendU16(buffer_, option.code);
      AppendU16(buffer_, static_cast<uint16_t>(option.data.size()));
      buffer_ += option.data;
    }
    ++arcount;
  }
  PutU16(buffer_, 4, counts_[0]);
  PutU16(buffer_, 6, counts_[1]);
  PutU16(buffer_, 8, counts_[2]);
  PutU16(buffer_, 10, arcount);
  return std::move(buffer_);
}

}  // namespace meshkv::dns
