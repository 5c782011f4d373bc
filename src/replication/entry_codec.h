// The wire form of entries in replication messages (replication.proto
// KeyEntry, WriteRequest), shared by the coordinator and anti-entropy.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "replication/replication.pb.h"
#include "storage/store.h"

namespace meshkv::replication {

// A kReplicaWrite payload.
std::string EncodeWrite(const std::string& ns, const std::vector<KeyEntry>& entries);

// Entries of a request or reply, decoded; kInvalidArgument for a bad key or
// an entry that does not decode.
Result<std::vector<KeyEntry>> DecodeEntries(
    const google::protobuf::RepeatedPtrField<wire::KeyEntry>& in);

}  // namespace meshkv::replication
