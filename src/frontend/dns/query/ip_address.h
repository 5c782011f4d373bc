// IpAddress: an IPv4 or IPv6 address as plain bytes, so the query engine can
// check access lists and publish address records without depending on Asio.
// A value type, safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace meshkv::dns {

class IpAddress {
 public:
  // 0.0.0.0
  IpAddress() = default;
  static IpAddress V4(const std::array<uint8_t, 4>& bytes);
  // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes the IPv4 address,
  // so an allow list entry "127.0.0.1" matches a dual-stack socket's peer.
  static IpAddress V6(const std::array<uint8_t, 16>& bytes);
  // "192.0.2.1" or "2001:db8::1" (inet_pton forms); nullopt otherwise.
  static std::optional<IpAddress> Parse(std::string_view text);

  bool is_v6() const { return v6_; }
  // 4 bytes for IPv4, 16 for IPv6: the rdata of an A or AAAA record.
  std::string_view bytes() const;
  // 0.0.0.0 or :: (a wildcard listen address, not one a client can reach).
  bool IsUnspecified() const;
  std::string ToString() const;

  friend bool operator==(const IpAddress&, const IpAddress&) = default;

 private:
  bool v6_ = false;
  std::array<uint8_t, 16> bytes_{};  // IPv4 uses the first 4
};

}  // namespace meshkv::dns
