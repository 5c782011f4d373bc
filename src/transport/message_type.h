// The peer RPC message types (transport/rpc.h), apart from the RPC code so
// that layers which only name a message type (replication) do not depend on
// Asio or OpenSSL.
#pragma once

#include <cstdint>

namespace meshkv::transport {

// Message types; the numbers are part of the wire protocol (peer.proto).
enum class MessageType : uint32_t {
  kPing = 1,           // empty payload, empty reply: link check
  kPushPull = 2,       // membership full state exchange
  kKeyring = 4,        // keyring rotation fan-out
  kReplicaWrite = 10,  // replication: merge entries (replication.proto)
  kReplicaRead = 11,   // replication: raw entries of keys
  kReplicaScan = 12,   // replication: a page of raw entries
  kOwnership = 13,     // replication: ownership state exchange
  kAeSummary = 14,     // anti-entropy: one hash over the shared partitions
  kAeLeaves = 15,      // anti-entropy: leaf hashes of partitions
  kAeKeys = 16,        // anti-entropy: (key, digest) lists of leaves
  kReplicaWriteBatch = 17,  // replication: coalesced writes, one result each
};

}  // namespace meshkv::transport
