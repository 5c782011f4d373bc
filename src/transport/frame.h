// Peer RPC frame codec: pure functions and an incremental decoder, no I/O,
// so it can be unit-tested and fuzzed on its own (tests/fuzz/fuzz_peer_frame).
//
// Wire: a 4-byte big-endian length N, then N bytes of a serialized
// `meshkv.peer.Frame` (peer.proto). A frame is valid when N <= the limit, the
// bytes parse, protocol_version == kProtocolVersion, request_id != 0,
// type != 0, and error_code is a known ErrorCode (responses) or 0 (requests).
// Whether a type is served is the RPC layer's decision, not the codec's.
//
// Thread-safety: FrameDecoder is a plain value, used by one thread at a time.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"

namespace meshkv::transport {

inline constexpr uint32_t kProtocolVersion = 1;
inline constexpr size_t kFrameHeaderBytes = 4;

struct Frame {
  uint64_t request_id = 0;
  uint32_t type = 0;
  bool is_response = false;
  uint32_t deadline_ms = 0;  // requests: 0 = none
  std::string payload;
  ErrorCode error_code = ErrorCode::kOk;  // responses
  std::string error_message;

  friend bool operator==(const Frame&, const Frame&) = default;
};

// Why a byte stream was refused; also the `reason` label of
// meshkv_rpc_frames_rejected_total.
enum class FrameError {
  kOversized,  // length prefix above the limit
  kMalformed,  // not a Frame, or fields out of range
  kVersion,    // unknown protocol_version
};
std::string_view FrameErrorName(FrameError error);

// Length prefix + serialized frame. kResourceExhausted when the result would
// exceed `max_frame_bytes` (the receiver would refuse it).
Result<std::string> EncodeFrame(const Frame& frame, uint32_t max_frame_bytes);

// Reassembles frames from arbitrary chunks of a byte stream.
class FrameDecoder {
 public:
  explicit FrameDecoder(uint32_t max_frame_bytes) : max_frame_bytes_(max_frame_bytes) {}

  // Appends received bytes. Ignored after an error.
  void Append(std::string_view bytes);

  // The next complete frame, std::nullopt if more bytes are needed, or an
  // error (kInvalidArgument saying why; error() tells which kind). After an
  // error the decoder stays failed: the connection must be closed.
  Result<std::optional<Frame>> Next();

  std::optional<FrameError> error() const { return error_; }
  // Bytes received but not yet returned as frames.
  size_t buffered_bytes() const { return buffer_.size() - offset_; }

 private:
  Status Fail(FrameError error, std::string message);

  uint32_t max_frame_bytes_;
  std::string buffer_;
  size_t offset_ = 0;  // start of the unconsumed bytes in buffer_
  std::optional<FrameError> error_;
  std::string error_message_;
};

}  // namespace meshkv::transport
