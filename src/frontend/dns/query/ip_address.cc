#include "frontend/dns/query/ip_address.h"

#include <arpa/inet.h>

#include <algorithm>

namespace meshkv::dns {

IpAddress IpAddress::V4(const std::array<uint8_t, 4>& bytes) {
  IpAddress address;
  std::copy(bytes.begin(), bytes.end(), address.bytes_.begin());
  return address;
}

IpAddress IpAddress::V6(const std::array<uint8_t, 16>& bytes) {
  static constexpr uint8_t kMappedPrefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (std::equal(std::begin(kMappedPrefix), std::end(kMappedPrefix), bytes.begin())) {
    return V4({bytes[12], bytes[13], bytes[14], bytes[15]});
  }
  IpAddress address;
  address.v6_ = true;
  address.bytes_ = bytes;
  return address;
}

std::optional<IpAddress> IpAddress::Parse(std::string_view text) {
  std::string copy(text);  // inet_pton needs a terminated string
  std::array<uint8_t, 4> v4;
  if (inet_pton(AF_INET, copy.c_str(), v4.data()) == 1) return V4(v4);
  std::array<uint8_t, 16> v6;
  if (inet_pton(AF_INET6, copy.c_str(), v6.data()) == 1) return V6(v6);
  return std::nullopt;
}

std::string_view IpAddress::bytes() const {
  return {reinterpret_cast<const char*>(bytes_.data()), v6_ ? size_t{16} : size_t{4}};
}

bool IpAddress::IsUnspecified() const {
  return std::all_of(bytes_.begin(), bytes_.end(), [](uint8_t b) { return b == 0; });
}

std::string IpAddress::ToString() const {
  char text[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6_ ? AF_INET6 : AF_INET, bytes_.data(), text, sizeof(text));
  return text;
}

}  // namespace meshkv::dns
