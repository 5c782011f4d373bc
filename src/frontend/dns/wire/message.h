// DNS messages (RFC 1035 4.1) with EDNS(0) (RFC 6891): a strict parser for
// untrusted bytes and a size-bounded writer with name compression.
//
// Message and its parts are plain values. ParseMessage is a pure function;
// a MessageWriter is used by one thread for one message and then discarded.
// Parse errors are kInvalidArgument with a message (answer them with FORMERR,
// echoing the id from ParseHeader).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/status.h"
#include "frontend/dns/wire/name.h"
#include "frontend/dns/wire/types.h"

namespace meshkv::dns {

inline constexpr size_t kHeaderSize = 12;         // RFC 1035 4.1.1
inline constexpr size_t kMaxUdpPlainSize = 512;   // RFC 1035 2.3.4
inline constexpr size_t kMaxMessageSize = 65535;  // RFC 1035 4.2.2 (TCP length)

// RFC 1035 4.1.1. The Z bit is not kept (read as 0, written as 0).
struct Header {
  uint16_t id = 0;
  bool qr = false;
  Opcode opcode = Opcode::kQuery;
  bool aa = false, tc = false, rd = false, ra = false, ad = false, cd = false;
  uint8_t rcode_low = 0;  // 4 bits; the high 8 bits are Edns::extended_rcode
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  friend bool operator==(const Header&, const Header&) = default;
};

// RFC 1035 4.1.2.
struct Question {
  Name name;
  uint16_t type = 0;
  uint16_t klass = RrClass::kIn;
  friend bool operator==(const Question&, const Question&) = default;
};

// RFC 1035 4.1.3. `rdata` is uncompressed wire rdata (see rdata.h).
struct ResourceRecord {
  Name name;
  uint16_t type = 0;
  uint16_t klass = RrClass::kIn;
  uint32_t ttl = 0;
  std::string rdata;
  friend bool operator==(const ResourceRecord&, const ResourceRecord&) = default;
};

// RFC 6891 6.1.2.
struct EdnsOption {
  uint16_t code;
  std::string data;
  friend bool operator==(const EdnsOption&, const EdnsOption&) = default;
};

// The OPT pseudo-RR (RFC 6891 6.1). The Z flags other than DO are not kept.
struct Edns {
  uint16_t udp_payload_size = 1232;
  uint8_t extended_rcode = 0;  // upper 8 bits of the 12-bit RCODE
  uint8_t version = 0;
  bool dnssec_ok = false;
  std::vector<EdnsOption> options;
  friend bool operator==(const Edns&, const Edns&) = default;
};

// Names compare case-insensitively (Name::operator==); everything else,
// rdata included, byte for byte.
struct Message {
  Header header;
  std::vector<Question> questions;
  std::vector<ResourceRecord> answers, authority, additional;
  std::optional<Edns> edns;  // the OPT RR is moved from additional into edns
  friend bool operator==(const Message&, const Message&) = default;
};

// The full 12-bit RCODE: header low 4 bits | EDNS extended rcode << 4
// (RFC 6891 6.1.3).
uint16_t FullRcode(const Message& message);

// Parses just the 12-byte header (so a FORMERR reply can echo the id even
// when the rest is garbage). Fails only when there are fewer than 12 bytes.
Result<Header> ParseHeader(std::string_view bytes);

// Strict parse (RFC 1035 4.1, RFC 6891):
// - compression pointers (RFC 1035 4.1.4) only backwards and never into the
//   header, so parsing is loop-safe; label types 01/10 are rejected;
// - the section counts must match the records present, and trailing bytes
//   are an error;
// - at most one OPT, only in additional, owner the root (RFC 6891 6.1.1);
// - rdata of known types (rdata.h) is validated and stored decompressed:
//   names inside NS, CNAME, PTR, MX and SOA rdata may be compressed in the
//   input and are expanded; so are SRV targets (RFC 2782 forbids compressing
//   them, but some writers such as dnspython do; Knot accepts them too);
//   names in other types are opaque rdata (RFC 3597 4);
// - records of class ANY or NONE may have empty rdata (RFC 2136 2.4, 2.5).
// Errors are kInvalidArgument with a message.
Result<Message> ParseMessage(std::string_view bytes);

enum class Section { kAnswer, kAuthority, kAdditional };

// Builds one message, bounded by a maximum size, with name compression
// (RFC 1035 4.1.4) of question and owner names and of names inside NS, CNAME,
// PTR, MX and SOA rdata (never SRV, RFC 2782, nor other types, RFC 3597 4).
// Question and owner names match earlier suffixes case-insensitively, so an
// owner may take the case of the name it points to (e.g. of a 0x20-randomized
// question). Names inside rdata are compressed only against the same octets,
// so rdata keeps its case exactly: ParseMessage(Finish()) gives back what was
// added (owner and question names equal case-insensitively).
//
// Usage: SetHeader, SetEdns (if the query had EDNS), AddQuestion, then
// AddRecord for answer, authority, additional in that order; Finish once.
// One thread, one message; the object is spent after Finish.
class MessageWriter {
 public:
  // `max_size` is the limit the finished message must fit, clamped to
  // 512..65535 (RFC 1035 2.3.4, RFC 6891 6.2.5).
  explicit MessageWriter(size_t max_size);

  // Copies everything but the counts, which Finish fills in.
  void SetHeader(const Header& h);
  // false (and nothing added) when the question would not fit, or when a
  // record was already added.
  bool AddQuestion(const Question& q);
  // false (and nothing added) when the record would not fit in max_size
  // minus the space reserved for OPT, or when `section` comes before a
  // section already written to (sections are written in order), or when the
  // rdata of a known type is malformed (empty rdata is allowed for class ANY
  // and NONE, RFC 2136), or for an OPT record (use SetEdns).
  bool AddRecord(Section section, const ResourceRecord& rr);
  // Reserves space for the OPT RR (RFC 6891 6.1.2), written at the end of
  // additional by Finish. Call before adding records: the reservation is not
  // checked against what is already written. Calling again replaces it.
  void SetEdns(const Edns& e);
  // Sets the TC bit (RFC 1035 4.1.1, RFC 2181 9).
  void SetTruncated();
  // Low 4 bits into the header, the high bits into the OPT extended_rcode
  // (RFC 6891 6.1.3). Overrides SetHeader and SetEdns. An rcode above 15
  // (BADVERS) needs SetEdns; without it only the low bits are sent.
  void SetRcode(Rcode rcode);
  // Size of the message Finish would return now (reserved OPT included).
  size_t size() const;
  // Bytes still free for questions and records.
  size_t remaining() const { return size() >= max_size_ ? 0 : max_size_ - size(); }
  // The finished message: header counts filled, OPT appended.
  std::string Finish();

 private:
  enum class Compression {
    kNone,       // written in full and never pointed at (SRV targets)
    kAnyCase,    // question and owner names: may take an earlier name's case
    kExactCase,  // names in rdata: compressed only against the same octets
  };
  // Appends `name` at the end of buffer_ and registers its suffixes as
  // pointer targets, unless kNone.
  void WriteName(const Name& name, Compression compression);
  void AddTarget(const std::string& suffix, size_t offset);
  // Appends rdata, compressing names for the types that allow it.
  bool WriteRdata(uint16_t type, std::string_view rdata);
  void Rollback(size_t size);
  size_t OptSize() const;

  size_t max_size_;
  std::string buffer_;  // header + sections written so far
  Header header_;
  std::optional<Edns> edns_;
  std::optional<uint16_t> rcode_;
  int current_section_ = -1;  // -1: questions; else static_cast<int>(Section)
  uint16_t counts_[4] = {0, 0, 0, 0};
  // Uncompressed suffixes already written -> their offset (< 0x4000), keyed
  // lower-cased and with the octets as they decode from the message.
  struct StringHash {
    using is_transparent = void;  // find() with a string_view, no copy
    size_t operator()(std::string_view s) const { return std::hash<std::string_view>()(s); }
  };
  using TargetMap = std::unordered_map<std::string, uint16_t, StringHash, std::equal_to<>>;
  TargetMap lower_targets_;
  TargetMap exact_targets_;
  struct TargetLogEntry {
    bool exact;
    std::string key;
    size_t offset;
  };
  std::vector<TargetLogEntry> target_log_;  // insertion order, for Rollback
};

}  // namespace meshkv::dns
