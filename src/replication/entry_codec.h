// The wire form of entries in replication messages (replication.proto
// KeyEntry, WriteRequest), shared by the coordinator and anti-entropy.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "replication/replication.pb.h"
#include "storage/store.h"

namespace meshkv::replication {

// Payload budget of one replication message: RPC frames are limited to
// 16 MiB; a single entry is at most kMaxValueBytesLimit (8 MiB) plus its key.
// Senders fill messages up to this many entry bytes (always at least one
// entry), so no message can outgrow a frame.
inline constexpr size_t kMessageBudgetBytes = size_t{8} << 20;

// Bytes an entry adds to a message (key, value and header, roughly).
inline size_t EntryBytes(const std::string& key, const Entry& entry) {
  return key.size() + entry.value.size() + 64;
}

// A kReplicaWrite payload.
std::string EncodeWrite(const std::string& ns, const std::vector<KeyEntry>& entries);

// Entries of a request or reply, decoded; kInvalidArgument for a bad key or
// an entry that does not decode.
Result<std::vector<KeyEntry>> DecodeEntries(
    const google::protobuf::RepeatedPtrField<wire::KeyEntry>& in);

}  // namespace meshkv::replication
