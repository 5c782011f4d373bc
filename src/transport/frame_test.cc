#include "transport/frame.h"

#include <gtest/gtest.h>

#include <random>

#include "transport/peer.pb.h"

namespace meshkv::transport {
namespace {

constexpr uint32_t kLimit = 1 << 16;

Frame Request(uint64_t id, std::string payload) {
  Frame frame;
  frame.request_id = id;
  frame.type = 2;
  frame.deadline_ms = 250;
  frame.payload = std::move(payload);
  return frame;
}

std::string Encode(const Frame& frame) {
  Result<std::string> bytes = EncodeFrame(frame, kLimit);
  EXPECT_TRUE(bytes.ok()) << bytes.status().ToString();
  return bytes.ok() ? *bytes : std::string();
}

std::string Prefixed(const std::string& body) {
  uint32_t n = static_cast<uint32_t>(body.size());
  std::string out = {static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
  return out + body;
}

TEST(FrameTest, RoundTripRequestAndResponse) {
  Frame request = Request(7, std::string("\0binary\xff", 8));
  Frame response;
  response.request_id = 7;
  response.type = 2;
  response.is_response = true;
  response.error_code = ErrorCode::kNotFound;
  response.error_message = "no such key \xff";

  FrameDecoder decoder(kLimit);
  decoder.Append(Encode(request) + Encode(response));
  Result<std::optional<Frame>> first = decoder.Next();
  ASSERT_TRUE(first.ok() && first->has_value());
  EXPECT_EQ(**first, request);
  Result<std::optional<Frame>> second = decoder.Next();
  ASSERT_TRUE(second.ok() && second->has_value());
  EXPECT_EQ(**second, response);
  Result<std::optional<Frame>> third = decoder.Next();
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->has_value());
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
}

TEST(FrameTest, ByteAtATime) {
  std::string stream;
  for (uint64_t id = 1; id <= 20; ++id) stream += Encode(Request(id, std::string(id * 13, 'x')));
  FrameDecoder decoder(kLimit);
  uint64_t next_id = 1;
  for (char c : stream) {
    decoder.Append(std::string_view(&c, 1));
    while (true) {
      Result<std::optional<Frame>> frame = decoder.Next();
      ASSERT_TRUE(frame.ok()) << frame.status().ToString();
      if (!frame->has_value()) break;
      EXPECT_EQ((*frame)->request_id, next_id);
      EXPECT_EQ((*frame)->payload.size(), next_id * 13);
      ++next_id;
    }
  }
  EXPECT_EQ(next_id, 21u);
}

TEST(FrameTest, OversizedRefusedFromThePrefixAlone) {
  FrameDecoder decoder(kLimit);
  decoder.Append(std::string("\x00\x01\x00\x01", 4));  // kLimit + 1, no body yet
  Result<std::optional<Frame>> frame = decoder.Next();
  ASSERT_FALSE(frame.ok());
  EXPECT_EQ(decoder.error(), FrameError::kOversized);
  EXPECT_NE(frame.status().message().find("above the limit"), std::string::npos);
  // Stays failed, buffers nothing more.
  decoder.Append(std::string(1000, 'x'));
  EXPECT_EQ(decoder.buffered_bytes(), 0u);
  EXPECT_FALSE(decoder.Next().ok());
}

TEST(FrameTest, EncoderRefusesOversized) {
  Result<std::string> bytes = EncodeFrame(Request(1, std::string(kLimit, 'x')), kLimit);
  ASSERT_FALSE(bytes.ok());
  EXPECT_EQ(bytes.status().code(), ErrorCode::kResourceExhausted);
}

TEST(FrameTest, GarbageIsMalformed) {
  FrameDecoder decoder(kLimit);
  decoder.Append(Prefixed("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff"));
  EXPECT_FALSE(decoder.Next().ok());
  EXPECT_EQ(decoder.error(), FrameError::kMalformed);
}

TEST(FrameTest, FieldChecks) {
  auto decode = [](const peer::Frame& message) {
    FrameDecoder decoder(kLimit);
    decoder.Append(Prefixed(message.SerializeAsString()));
    Result<std::optional<Frame>> frame = decoder.Next();
    return std::make_pair(frame.ok(), decoder.error());
  };
  peer::Frame good;
  good.set_protocol_version(kProtocolVersion);
  good.set_request_id(1);
  good.set_type(1);
  EXPECT_EQ(decode(good), std::make_pair(true, std::optional<FrameError>()));

  peer::Frame version = good;
  version.set_protocol_version(2);
  EXPECT_EQ(decode(version).second, FrameError::kVersion);
  peer::Frame no_version = good;
  no_version.clear_protocol_version();
  EXPECT_EQ(decode(no_version).second, FrameError::kVersion);
  peer::Frame no_id = good;
  no_id.set_request_id(0);
  EXPECT_EQ(decode(no_id).second, FrameError::kMalformed);
  peer::Frame no_type = good;
  no_type.set_type(0);
  EXPECT_EQ(decode(no_type).second, FrameError::kMalformed);
  peer::Frame request_with_error = good;
  request_with_error.set_error_code(3);
  EXPECT_EQ(decode(request_with_error).second, FrameError::kMalformed);
  peer::Frame bad_code = good;
  bad_code.set_is_response(true);
  bad_code.set_error_code(999);
  EXPECT_EQ(decode(bad_code).second, FrameError::kMalformed);
  // Unknown types are the RPC layer's call, not the codec's.
  peer::Frame unknown_type = good;
  unknown_type.set_type(99);
  EXPECT_TRUE(decode(unknown_type).first);
}

TEST(FrameTest, RandomChunkings) {
  std::mt19937 rng(1);
  std::vector<Frame> frames;
  std::string stream;
  for (uint64_t id = 1; id <= 50; ++id) {
    Frame frame = Request(id, std::string(rng() % 3000, static_cast<char>(id)));
    frame.is_response = id % 2 == 0;
    if (frame.is_response) frame.error_code = static_cast<ErrorCode>(id % 11);
    stream += Encode(frame);
    frames.push_back(frame);
  }
  FrameDecoder decoder(kLimit);
  size_t position = 0, index = 0;
  while (position < stream.size()) {
    size_t chunk = std::min<size_t>(rng() % 5000 + 1, stream.size() - position);
    decoder.Append(std::string_view(stream).substr(position, chunk));
    position += chunk;
    while (true) {
      Result<std::optional<Frame>> frame = decoder.Next();
      ASSERT_TRUE(frame.ok());
      if (!frame->has_value()) break;
      ASSERT_LT(index, frames.size());
      EXPECT_EQ(**frame, frames[index++]);
    }
  }
  EXPECT_EQ(index, frames.size());
}

}  // namespace
}  // namespace meshkv::transport
