#include "transport/frame.h"

#include "transport/peer.pb.h"

namespace meshkv::transport {
namespace {

constexpr uint32_t kMaxErrorCode = static_cast<uint32_t>(ErrorCode::kInternal);

uint32_t ReadBigEndian32(const char* p) {
  auto byte = [&](int i) { return static_cast<uint32_t>(static_cast<unsigned char>(p[i])); };
  return byte(0) << 24 | byte(1) << 16 | byte(2) << 8 | byte(3);
}

}  // namespace

std::string_view FrameErrorName(FrameError error) {
  switch (error) {
    case FrameError::kOversized:
      return "oversized";
    case FrameError::kMalformed:
      return "malformed";
    case FrameError::kVersion:
      return "version";
  }
  return "unknown";
}

Result<std::string> EncodeFrame(const Frame& frame, uint32_t max_frame_bytes) {
  peer::Frame message;
  message.set_protocol_version(kProtocolVersion);
  message.set_request_id(frame.request_id);
  message.set_type(frame.type);
  message.set_is_response(frame.is_response);
  message.set_deadline_ms(frame.deadline_ms);
  message.set_payload(frame.payload);
  message.set_error_code(static_cast<uint32_t>(frame.error_code));
  message.set_error_message(frame.error_message);
  size_t size = message.ByteSizeLong();
  if (size > max_frame_bytes) {
    return ResourceExhausted("frame of " + std::to_string(size) + " bytes is above the limit of " +
                             std::to_string(max_frame_bytes) + " bytes (rpc max_frame_bytes)");
  }
  std::string out(kFrameHeaderBytes + size, '\0');
  out[0] = static_cast<char>(size >> 24);
  out[1] = static_cast<char>(size >> 16);
  out[2] = static_cast<char>(size >> 8);
  out[3] = static_cast<char>(size);
  if (!message.SerializeToArray(out.data() + kFrameHeaderBytes, static_cast<int>(size))) {
    return Internal("cannot serialize a peer frame");
  }
  return out;
}

void FrameDecoder::Append(std::string_view bytes) {
  if (error_) return;
  // Drop consumed bytes before growing, so the buffer stays near one frame.
  if (offset_ > 0 && (offset_ == buffer_.size() || offset_ >= buffer_.size() / 2)) {
    buffer_.erase(0, offset_);
    offset_ = 0;
  }
  buffer_.append(bytes);
}

Status FrameDecoder::Fail(FrameError error, std::string message) {
  error_ = error;
  error_message_ = std::move(message);
  buffer_.clear();
  buffer_.shrink_to_fit();
  offset_ = 0;
  return InvalidArgument(error_message_);
}

Result<std::optional<Frame>> FrameDecoder::Next() {
  if (error_) return InvalidArgument(error_message_);
  size_t available = buffer_.size() - offset_;
  if (available < kFrameHeaderBytes) return std::optional<Frame>();
  uint32_t length = ReadBigEndian32(buffer_.data() + offset_);
  // Checked before any of the body is waited for or buffered.
  if (length > max_frame_bytes_) {
    return Fail(FrameError::kOversized, "frame length " + std::to_string(length) +
                                            " is above the limit of " +
                                            std::to_string(max_frame_bytes_) + " bytes");
  }
  if (available - kFrameHeaderBytes < length) return std::optional<Frame>();
  const char* body = buffer_.data() + offset_ + kFrameHeaderBytes;
  peer::Frame message;
  if (!message.ParseFromArray(body, static_cast<int>(length))) {
    return Fail(FrameError::kMalformed,
                "frame of " + std::to_string(length) + " bytes is not a meshkv.peer.Frame");
  }
  offset_ += kFrameHeaderBytes + length;
  if (message.protocol_version() != kProtocolVersion) {
    return Fail(FrameError::kVersion, "protocol version " +
                                          std::to_string(message.protocol_version()) +
                                          " is not supported (this node speaks " +
                                          std::to_string(kProtocolVersion) + ")");
  }
  if (message.request_id() == 0) return Fail(FrameError::kMalformed, "frame has request id 0");
  if (message.type() == 0) return Fail(FrameError::kMalformed, "frame has message type 0");
  if (message.error_code() > kMaxErrorCode ||
      (!message.is_response() && message.error_code() != 0)) {
    return Fail(FrameError::kMalformed,
                "frame has error code " + std::to_string(message.error_code()));
  }
  Frame frame;
  frame.request_id = message.request_id();
  frame.type = message.type();
  frame.is_response = message.is_response();
  frame.deadline_ms = message.deadline_ms();
  frame.payload = std::move(*message.mutable_payload());
  frame.error_code = static_cast<ErrorCode>(message.error_code());
  frame.error_message = std::move(*message.mutable_error_message());
  return std::optional<Frame>(std::move(frame));
}

}  // namespace meshkv::transport
