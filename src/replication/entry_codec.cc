#include "replication/entry_codec.h"

namespace meshkv::replication {

std::string EncodeWrite(const std::string& ns, const std::vector<KeyEntry>& entries) {
  wire::WriteRequest request;
  request.set_ns(ns);
  for (const KeyEntry& e : entries) {
    wire::KeyEntry* out = request.add_entries();
    out->set_key(e.key);
    out->set_entry(EncodeEntry(e.entry));
  }
  return request.SerializeAsString();
}

Result<std::vector<KeyEntry>> DecodeEntries(
    const google::protobuf::RepeatedPtrField<wire::KeyEntry>& in) {
  std::vector<KeyEntry> out;
  out.reserve(in.size());
  for (const wire::KeyEntry& e : in) {
    MESHKV_RETURN_IF_ERROR(ValidateKey(e.key()));
    auto entry = DecodeEntry(e.entry());
    if (!entry.ok()) {
      return InvalidArgument("entry of a key does not decode: " + entry.status().message());
    }
    out.push_back(KeyEntry{e.key(), std::move(*entry)});
  }
  return out;
}

}  // namespace meshkv::replication
