// Fuzzes the peer RPC frame decoder (src/transport/frame.h) with arbitrary
// bytes fed in arbitrary chunks. Properties beyond no-crash:
// - the decoder never buffers more than one frame plus a chunk;
// - once it fails it stays failed and the failure has a reason;
// - every decoded frame re-encodes and decodes back to itself;
// - the same bytes in one chunk give the same frames as in many chunks.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "transport/frame.h"

using meshkv::Result;
using meshkv::transport::EncodeFrame;
using meshkv::transport::Frame;
using meshkv::transport::FrameDecoder;

namespace {

constexpr uint32_t kLimit = 4096;

struct Outcome {
  std::vector<Frame> frames;
  bool failed = false;
};

// Decodes `stream`, cutting it where `cuts` say (one byte per cut).
Outcome Decode(std::string_view stream, std::string_view cuts) {
  Outcome outcome;
  FrameDecoder decoder(kLimit);
  size_t position = 0, cut = 0;
  while (position < stream.size() && !outcome.failed) {
    size_t chunk = cuts.empty() ? stream.size()
                                : 1 + static_cast<unsigned char>(cuts[cut++ % cuts.size()]) % 64;
    chunk = std::min(chunk, stream.size() - position);
    decoder.Append(stream.substr(position, chunk));
    position += chunk;
    FUZZ_CHECK(decoder.buffered_bytes() <= kLimit + 4 + 64 || cuts.empty());
    while (true) {
      Result<std::optional<Frame>> next = decoder.Next();
      if (!next.ok()) {
        FUZZ_CHECK(decoder.error().has_value());
        FUZZ_CHECK(!next.status().message().empty());
        FUZZ_CHECK(!decoder.Next().ok());  // stays failed
        outcome.failed = true;
        break;
      }
      if (!next->has_value()) break;
      outcome.frames.push_back(std::move(**next));
    }
  }
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input(reinterpret_cast<const char*>(data), size);
  // The first byte says how many bytes of cut sizes follow; the rest is the stream.
  size_t cut_bytes = size > 0 ? std::min<size_t>(data[0] % 32, size - 1) : 0;
  std::string_view cuts = size > 0 ? input.substr(1, cut_bytes) : std::string_view();
  std::string_view stream = size > 0 ? input.substr(1 + cut_bytes) : input;

  Outcome whole = Decode(stream, {});
  Outcome chunked = Decode(stream, cuts);
  FUZZ_CHECK(whole.failed == chunked.failed);
  FUZZ_CHECK(whole.frames == chunked.frames);

  for (const Frame& frame : whole.frames) {
    Result<std::string> bytes = EncodeFrame(frame, kLimit);
    FUZZ_CHECK(bytes.ok());
    FrameDecoder again(kLimit);
    again.Append(*bytes);
    Result<std::optional<Frame>> decoded = again.Next();
    FUZZ_CHECK(decoded.ok() && decoded->has_value());
    FUZZ_CHECK(**decoded == frame);
  }
  return 0;
}
