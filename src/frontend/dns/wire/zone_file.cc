#include "frontend/dns/wire/zone_file.h"

#include <algorithm>

#include "frontend/dns/wire/rdata.h"
#include "frontend/dns/wire/types.h"
#include "frontend/dns/wire/wire_internal.h"

namespace meshkv::dns {
namespace {

// RFC 2181 8: a TTL is an unsigned 31-bit number of seconds.
constexpr uint32_t kMaxTtl = 2147483647;

using internal::EqualIgnoreCase;

// Text from the file quoted for a message: printable ASCII kept, the rest as
// \DDD, cut after 64 bytes.
std::string Quote(std::string_view text) {
  return internal::Quote(text, 64);
}

// A name in presentation format is absolute when it ends in a dot that is
// not escaped (an even number of backslashes before it).
bool EndsWithUnescapedDot(std::string_view text) {
  if (text.empty() || text.back() != '.') return false;
  size_t backslashes = 0;
  for (size_t i = text.size() - 1; i-- > 0 && text[i] == '\\';) ++backslashes;
  return backslashes % 2 == 0;
}

// ---- Lexer ------------------------------------------------------------------

struct Token {
  std::string_view raw;  // quotes removed, escapes kept as written
  bool quoted = false;
  size_t line = 0;
};

// One directive or record: every token up to the end of the line that closes
// its parentheses (RFC 1035 5.1).
struct Entry {
  std::vector<Token> tokens;
  size_t line = 0;             // its first line
  bool owner_omitted = false;  // the first line starts with a space or tab
};

class Lexer {
 public:
  Lexer(std::string_view text, const ZoneParseOptions& options) : text_(text), options_(options) {}

  // The next entry with at least one token; nullopt at the end of the input.
  Result<std::optional<Entry>> Next() {
    while (pos_ < text_.size()) {
      Entry entry;
      entry.line = line_;
      entry.owner_omitted = text_[pos_] == ' ' || text_[pos_] == '\t';
      const size_t start = pos_;
      bool open = false;
      size_t open_line = 0;
      bool done = false;
      while (!done) {
        if (pos_ - start > options_.max_entry_bytes) {
          return Error(entry.line, "entry longer than " + std::to_string(options_.max_entry_bytes) +
                                       " bytes (is a ')' or '\"' missing?)");
        }
        if (pos_ >= text_.size()) {
          if (open) return Error(open_line, "'(' is never closed");
          break;
        }
        const char c = text_[pos_];
        switch (c) {
          case '\n':
            ++line_;
            ++pos_;
            done = !open;
            break;
          case ' ':
          case '\t':
          case '\r':
            ++pos_;
            break;
          case ';':
            while (pos_ < text_.size() && text_[pos_] != '\n') ++pos_;
            break;
          case '(':
            if (open) return Error(line_, "'(' inside parentheses (they do not nest)");
            open = true;
            open_line = line_;
            ++pos_;
            break;
          case ')':
            if (!open) return Error(line_, "')' without a '(' before it");
            open = false;
            ++pos_;
            break;
          case '"': {
            const size_t begin = ++pos_;
            while (true) {
              if (pos_ >= text_.size() || text_[pos_] == '\n') {
                return Error(line_, "quoted string not closed on its line");
              }
              if (text_[pos_] == '"') break;
              if (text_[pos_] == '\\')
                MESHKV_RETURN_IF_ERROR(SkipEscape());
              else
                ++pos_;
            }
            entry.tokens.push_back({text_.substr(begin, pos_ - begin), true, line_});
            ++pos_;
            break;
          }
          default: {
            const size_t begin = pos_;
            while (pos_ < text_.size()) {
              const char d = text_[pos_];
              if (d == ' ' || d == '\t' || d == '\r' || d == '\n' || d == '(' || d == ')' ||
                  d == ';') {
                break;
              }
              if (d == '\\')
                MESHKV_RETURN_IF_ERROR(SkipEscape());
              else
                ++pos_;
            }
            entry.tokens.push_back({text_.substr(begin, pos_ - begin), false, line_});
            break;
          }
        }
      }
      if (!entry.tokens.empty()) return std::optional<Entry>(std::move(entry));
    }
    return std::optional<Entry>();
  }

  Status Error(size_t line, std::string_view message) const {
    return InvalidArgument(options_.file_name + ":" + std::to_string(line) + ": " +
                           std::string(message));
  }

 private:
  // At a backslash: steps over it and the character it escapes (a \DDD
  // escape's digits are ordinary token characters).
  Status SkipEscape() {
    if (pos_ + 1 >= text_.size() || text_[pos_ + 1] == '\n' || text_[pos_ + 1] == '\r') {
      return Error(line_, "backslash at the end of a line");
    }
    pos_ += 2;
    return Status::Ok();
  }

  std::string_view text_;
  const ZoneParseOptions& options_;
  size_t pos_ = 0;
  size_t line_ = 1;
};

// ---- Parser -----------------------------------------------------------------

// Types that never appear in zone data: reserved 0, OPT, and the query and
// meta types 128..255 (RFC 6895 3.1: TKEY, TSIG, IXFR, AXFR, ANY, ...).
bool IsDataType(uint16_t type) {
  return type != 0 && type != RrType::kOpt && (type < 128 || type > 255);
}

class Parser {
 public:
  Parser(std::string_view text, const ZoneParseOptions& options)
      : lexer_(text, options), options_(options), origin_(options.origin) {}

  Result<std::vector<ZoneRecord>> Run() {
    while (true) {
      auto entry = lexer_.Next();
      if (!entry.ok()) return entry.status();
      if (!entry->has_value()) break;
      const Entry& e = **entry;
      const Token& first = e.tokens[0];
      if (!e.owner_omitted && !first.quoted && first.raw.starts_with('$')) {
        MESHKV_RETURN_IF_ERROR(Directive(e));
      } else {
        MESHKV_RETURN_IF_ERROR(Record(e));
      }
    }
    return std::move(records_);
  }

 private:
  Status Error(size_t line, std::string_view message) const { return lexer_.Error(line, message); }

  // A domain name token: relative to the current origin, or absolute when
  // there is none yet.
  Result<Name> DomainName(const Token& token, std::string_view what) const {
    if (token.quoted) return Error(token.line, std::string(what) + " must not be quoted");
    if (!origin_ && (token.raw == "@" || !EndsWithUnescapedDot(token.raw))) {
      return Error(token.line, std::string(what) + " " + Quote(token.raw) +
                                   " is relative but there is no origin yet: write it with a "
                                   "trailing dot, or set $ORIGIN (or the import origin) first");
    }
    auto name = origin_ ? Name::FromText(token.raw, *origin_) : Name::FromText(token.raw);
    if (!name.ok()) return Error(token.line, std::string(what) + ": " + name.status().message());
    return name;
  }

  Status Directive(const Entry& entry) {
    const Token& directive = entry.tokens[0];
    const size_t args = entry.tokens.size() - 1;
    if (EqualIgnoreCase(directive.raw, "$ORIGIN")) {
      if (args != 1) return Error(entry.line, "$ORIGIN takes one domain name");
      auto origin = DomainName(entry.tokens[1], "$ORIGIN");
      if (!origin.ok()) return origin.status();
      origin_ = std::move(*origin);
      return Status::Ok();
    }
    if (EqualIgnoreCase(directive.raw, "$TTL")) {
      if (args != 1) return Error(entry.line, "$TTL takes one TTL, e.g. $TTL 3600 or $TTL 1h");
      if (entry.tokens[1].quoted) return Error(entry.line, "$TTL must not be quoted");
      auto ttl = ParseTtl(entry.tokens[1].raw);
      if (!ttl.ok()) return Error(entry.line, "$TTL: " + ttl.status().message());
      default_ttl_ = *ttl;
      return Status::Ok();
    }
    if (EqualIgnoreCase(directive.raw, "$INCLUDE")) {
      return Error(entry.line,
                   "$INCLUDE is not supported (a zone is read from one file; concatenate the "
                   "files instead)");
    }
    return Error(entry.line,
                 "unknown directive " + Quote(directive.raw) + " (supported: $ORIGIN, $TTL)");
  }

  Status Record(const Entry& entry) {
    const std::vector<Token>& tokens = entry.tokens;
    size_t index = 0;
    Name owner;
    if (entry.owner_omitted) {
      if (!previous_owner_) {
        return Error(entry.line,
                     "no owner name: the first record must start with its owner in column 1 "
                     "(a line that starts with a space or tab repeats the previous owner)");
      }
      owner = *previous_owner_;
    } else {
      auto name = DomainName(tokens[index++], "owner");
      if (!name.ok()) return name.status();
      owner = std::move(*name);
    }

    // [<TTL>] [<class>] or [<class>] [<TTL>] (RFC 1035 5.1).
    std::optional<uint32_t> ttl;
    bool have_class = false;
    while (index < tokens.size() && !tokens[index].quoted) {
      const Token& token = tokens[index];
      if (!ttl && token.raw[0] >= '0' && token.raw[0] <= '9') {
        auto parsed = ParseTtl(token.raw);
        if (!parsed.ok())
          return Error(token.line, "TTL " + Quote(token.raw) + ": " + parsed.status().message());
        ttl = *parsed;
        ++index;
        continue;
      }
      if (!have_class) {
        if (std::optional<uint16_t> klass = ClassFromText(token.raw)) {
          if (*klass != RrClass::kIn) {
            return Error(token.line, "class " + ClassToText(*klass) +
                                         " is not supported; only IN records can be loaded");
          }
          have_class = true;
          ++index;
          continue;
        }
      }
      break;
    }
    if (index >= tokens.size()) return Error(entry.line, "record has no type");
    const Token& type_token = tokens[index++];
    std::optional<uint16_t> type;
    if (!type_token.quoted) type = TypeFromText(type_token.raw);
    if (!type) {
      return Error(type_token.line,
                   "unknown type " + Quote(type_token.raw) +
                       " (use a mnemonic like A or MX, or TYPE<n> with \\# rdata)");
    }
    if (!IsDataType(*type)) {
      return Error(type_token.line,
                   TypeToText(*type) + " is a query or meta type, not data (RFC 6895 3.1)");
    }

    std::string rdata_text;
    for (; index < tokens.size(); ++index) {
      if (!rdata_text.empty()) rdata_text += ' ';
      if (tokens[index].quoted) {
        rdata_text += '"';
        rdata_text += tokens[index].raw;
        rdata_text += '"';
      } else {
        rdata_text += tokens[index].raw;
      }
    }
    auto rdata = Rdata(*type, rdata_text, entry.line);
    if (!rdata.ok()) return rdata.status();

    if (ttl) {
      last_explicit_ttl_ = ttl;
    } else if (default_ttl_) {
      ttl = default_ttl_;
    } else if (last_explicit_ttl_) {
      ttl = last_explicit_ttl_;
    } else if (*type == RrType::kSoa) {
      ttl = std::min(ParseSoa(*rdata)->minimum, kMaxTtl);
    } else {
      return Error(entry.line, "no TTL for this record: give one, or put a $TTL line before it");
    }

    if (records_.size() >= options_.max_records) {
      return Error(entry.line, "more than " + std::to_string(options_.max_records) + " records");
    }
    previous_owner_ = owner;
    records_.push_back(ZoneRecord{std::move(owner), *type, *ttl, std::move(*rdata), entry.line});
    return Status::Ok();
  }

  Result<std::string> Rdata(uint16_t type, const std::string& text, size_t line) const {
    const std::string prefix = "bad " + TypeToText(type) + " rdata: ";
    if (origin_) {
      auto rdata = RdataFromText(type, text, &*origin_);
      if (!rdata.ok()) return Error(line, prefix + rdata.status().message());
      return rdata;
    }
    // No origin: every embedded name must be absolute. Read without an
    // origin (relative names would silently become absolute) and against a
    // probe origin; the two differ exactly when some name is relative or "@".
    auto rdata = RdataFromText(type, text, nullptr);
    if (!rdata.ok()) return Error(line, prefix + rdata.status().message());
    static const Name probe = *Name::FromText("origin-probe.meshkv.invalid.");
    auto probed = RdataFromText(type, text, &probe);
    if (!probed.ok() || *probed != *rdata) {
      return Error(line, prefix +
                             "a domain name in it is relative (or \"@\") but there is no origin "
                             "yet: write it with a trailing dot, or set $ORIGIN first");
    }
    return rdata;
  }

  Lexer lexer_;
  const ZoneParseOptions& options_;
  std::optional<Name> origin_;
  std::optional<uint32_t> default_ttl_;        // $TTL
  std::optional<uint32_t> last_explicit_ttl_;  // RFC 1035 5.1
  std::optional<Name> previous_owner_;
  std::vector<ZoneRecord> records_;
};

// The owner as written in a zone file with `origin` in effect: relative when
// it is inside the origin and its last labels are spelled exactly as the
// origin (so reading it back keeps the owner's case), else absolute.
std::string OwnerText(const Name& owner, const Name* origin) {
  if (origin == nullptr || !owner.IsSubdomainOf(*origin) ||
      !std::string_view(owner.wire()).ends_with(origin->wire())) {
    return owner.ToText();
  }
  const size_t relative_labels = owner.label_count() - origin->label_count();
  if (relative_labels == 0) return "@";
  std::vector<std::string> labels;
  for (size_t i = 0; i < relative_labels; ++i) labels.emplace_back(owner.label(i));
  std::string text = Name::FromLabels(labels)->ToText();
  text.pop_back();  // the trailing dot: relative
  return text;
}

}  // namespace

Result<std::vector<ZoneRecord>> ParseZoneFile(std::string_view text,
                                              const ZoneParseOptions& options) {
  if (text.size() > options.max_file_bytes) {
    return InvalidArgument(options.file_name + ": " + std::to_string(text.size()) +
                           " bytes, more than the limit of " +
                           std::to_string(options.max_file_bytes));
  }
  return Parser(text, options).Run();
}

Result<uint32_t> ParseTtl(std::string_view text) {
  const internal::DurationResult parsed = internal::ParseDuration(text, kMaxTtl);
  if (!parsed.error) return parsed.seconds;
  switch (*parsed.error) {
    case internal::DurationError::kEmpty:
      return InvalidArgument("empty TTL");
    case internal::DurationError::kNumberAboveMax:
    case internal::DurationError::kTotalAboveMax:
      return InvalidArgument("TTL above 2147483647 seconds (RFC 2181 8)");
    case internal::DurationError::kBadCharacter:
      return InvalidArgument("expected seconds or a time like 1h30m (units w d h m s)");
    case internal::DurationError::kUnitWithoutNumber:
      return InvalidArgument("a unit without a number before it");
    case internal::DurationError::kNumberAfterUnit:
      return InvalidArgument("a number without a unit after a unit");
  }
  return InvalidArgument("invalid TTL");  // not reached: the switch covers every error
}

Result<std::string> RecordToText(const ZoneRecord& record, const Name* origin) {
  auto rdata = RdataToText(record.type, record.rdata);
  if (!rdata.ok()) {
    return InvalidArgument(record.owner.ToText() + " " + TypeToText(record.type) + ": " +
                           rdata.status().message());
  }
  return OwnerText(record.owner, origin) + "\t" + std::to_string(record.ttl) + "\tIN\t" +
         TypeToText(record.type) + "\t" + *rdata;
}

Result<std::string> WriteZoneFile(const Name& origin, std::vector<ZoneRecord> records) {
  const CanonicalLess less;
  std::stable_sort(records.begin(), records.end(), [&](const ZoneRecord& a, const ZoneRecord& b) {
    const bool a_soa = a.type == RrType::kSoa;
    const bool b_soa = b.type == RrType::kSoa;
    if (a_soa != b_soa) return a_soa;
    if (less(a.owner, b.owner)) return true;
    if (less(b.owner, a.owner)) return false;
    if (a.type != b.type) return a.type < b.type;
    return a.rdata < b.rdata;
  });
  std::string out = "; zone " + origin.ToText() + ", " + std::to_string(records.size()) +
                    " records\n$ORIGIN " + origin.ToText() + "\n";
  for (const ZoneRecord& record : records) {
    auto line = RecordToText(record, &origin);
    if (!line.ok()) return line.status();
    out += *line;
    out += '\n';
  }
  return out;
}

}  // namespace meshkv::dns
