// Fuzzes the DNS message parser (src/frontend/dns/wire/message.h) on arbitrary
// bytes, as they arrive from any client over UDP or TCP.
//
// Properties checked beyond "does not crash":
// - ParseHeader succeeds exactly when there are 12 bytes, and agrees with
//   ParseMessage on the id and the counts;
// - ParseMessage fails only with kInvalidArgument; when it succeeds the
//   section sizes match the counts (OPT counted in arcount) and every record
//   of a known type has valid rdata whose text form parses back the same;
// - MessageWriter(65535) writes the parsed message back: a record is refused
//   only when it really does not fit, the output is at most 65535 octets and
//   parses again; when nothing was refused, it parses to an equal message
//   (names compare case-insensitively, rdata byte for byte), and writing that
//   again gives the same bytes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "frontend/dns/wire/message.h"
#include "frontend/dns/wire/rdata.h"
#include "fuzz_check.h"

namespace {

using meshkv::dns::Message;
using meshkv::dns::MessageWriter;
using meshkv::dns::ResourceRecord;
using meshkv::dns::Section;

struct Written {
  std::string bytes;
  bool complete;  // every question and record was added
};

Written Write(const Message& m) {
  MessageWriter writer(meshkv::dns::kMaxMessageSize);
  writer.SetHeader(m.header);
  if (m.edns) writer.SetEdns(*m.edns);
  for (const auto& q : m.questions) {
    if (!writer.AddQuestion(q)) {
      FUZZ_CHECK(writer.size() + q.name.wire().size() + 4 > meshkv::dns::kMaxMessageSize);
      return {writer.Finish(), false};
    }
  }
  const std::pair<Section, const std::vector<ResourceRecord>*> sections[] = {
      {Section::kAnswer, &m.answers},
      {Section::kAuthority, &m.authority},
      {Section::kAdditional, &m.additional}};
  for (const auto& [section, records] : sections) {
    for (const ResourceRecord& rr : *records) {
      if (!writer.AddRecord(section, rr)) {
        // Refused only when even the uncompressed record would not fit.
        FUZZ_CHECK(writer.size() + rr.name.wire().size() + 10 + rr.rdata.size() >
                   meshkv::dns::kMaxMessageSize);
        return {writer.Finish(), false};
      }
    }
  }
  return {writer.Finish(), true};
}

void CheckRecord(const ResourceRecord& rr) {
  FUZZ_CHECK(rr.name.wire().size() <= meshkv::dns::kMaxNameWireLength);
  if (!meshkv::dns::ValidateRdata(rr.type, rr.rdata).ok()) {
    // Only the empty rdata of UPDATE's class ANY/NONE records.
    FUZZ_CHECK(rr.rdata.empty());
    FUZZ_CHECK(rr.klass == meshkv::dns::RrClass::kAny || rr.klass == meshkv::dns::RrClass::kNone);
    return;
  }
  auto text = meshkv::dns::RdataToText(rr.type, rr.rdata);
  FUZZ_CHECK(text.ok());
  auto again = meshkv::dns::RdataFromText(rr.type, *text);
  FUZZ_CHECK(again.ok() && *again == rr.rdata);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto header = meshkv::dns::ParseHeader(bytes);
  FUZZ_CHECK(header.ok() == (size >= meshkv::dns::kHeaderSize));

  auto message = meshkv::dns::ParseMessage(bytes);
  if (!message.ok()) {
    FUZZ_CHECK(message.status().code() == meshkv::ErrorCode::kInvalidArgument);
    FUZZ_CHECK(!message.status().message().empty());
    return 0;
  }
  FUZZ_CHECK(header.ok() && *header == message->header);
  FUZZ_CHECK(message->questions.size() == header->qdcount);
  FUZZ_CHECK(message->answers.size() == header->ancount);
  FUZZ_CHECK(message->authority.size() == header->nscount);
  FUZZ_CHECK(message->additional.size() + (message->edns ? 1 : 0) == header->arcount);
  for (const auto* records : {&message->answers, &message->authority, &message->additional}) {
    for (const ResourceRecord& rr : *records) {
      FUZZ_CHECK(rr.type != meshkv::dns::RrType::kOpt);
      CheckRecord(rr);
    }
  }

  const Written written = Write(*message);
  FUZZ_CHECK(written.bytes.size() <= meshkv::dns::kMaxMessageSize);
  auto reparsed = meshkv::dns::ParseMessage(written.bytes);
  FUZZ_CHECK(reparsed.ok());
  if (written.complete) {
    FUZZ_CHECK(*reparsed == *message);
    const Written again = Write(*reparsed);
    FUZZ_CHECK(again.complete && again.bytes == written.bytes);
  }
  return 0;
}
