#include "core/locations.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <charconv>
#include <cstdlib>

namespace moat {

socklen_t socket_address(const ListenAddress& a, sockaddr_storage& out) {
  out = {};
  if (a.ipv6) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&out);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(a.port);
    return inet_pton(AF_INET6, a.host.c_str(), &s6->sin6_addr) == 1 ? sizeof(sockaddr_in6) : 0;
  }
  auto* s4 = reinterpret_cast<sockaddr_in*>(&out);
  s4->sin_family = AF_INET;
  s4->sin_port = htons(a.port);
  return inet_pton(AF_INET, a.host.c_str(), &s4->sin_addr) == 1 ? sizeof(sockaddr_in) : 0;
}

std::string ListenAddress::to_string() const {
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<ListenAddress> parse_listen_address(std::string_view text) {
  const auto bad = [&](const char* what) {
    return fail(std::string(what) + " in listen address '" + std::string(text) +
                "' (ADDR:PORT or [ADDR6]:PORT)");
  };
  ListenAddress a;
  std::string_view port;
  if (text.starts_with("[")) {
    const auto close = text.find("]:");
    if (close == std::string_view::npos)
      return bad("no ]:PORT");
    a.host = std::string(text.substr(1, close - 1));
    a.ipv6 = true;
    port = text.substr(close + 2);
  } else {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos)
      return bad("no port");
    a.host = std::string(text.substr(0, colon));
    port = text.substr(colon + 1);
  }
  unsigned v = 0;
  auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), v);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || v == 0 || v > 65535)
    return bad("bad port");
  a.port = static_cast<std::uint16_t>(v);
  in6_addr v6;
  in_addr v4;
  if (a.ipv6 ? inet_pton(AF_INET6, a.host.c_str(), &v6) != 1
             : inet_pton(AF_INET, a.host.c_str(), &v4) != 1)
    return bad("bad address");
  return a;
}

Result<ListenAddress> parse_peer_address(std::string_view text, std::uint16_t default_port) {
  std::string with_port(text);
  const bool bare_v6 = !text.starts_with("[") && text.find(':') != text.rfind(':');
  if (bare_v6)
    with_port = "[" + with_port + "]:" + std::to_string(default_port);
  else if (!text.starts_with("[") && text.find(':') == std::string_view::npos)
    with_port += ":" + std::to_string(default_port);
  auto a = parse_listen_address(with_port);
  if (!a)
    return fail("bad address '" + std::string(text) + "' (ADDR, ADDR:PORT, ADDR6 or [ADDR6]:PORT)");
  char buf[INET6_ADDRSTRLEN] = {};
  in6_addr v6;
  in_addr v4;
  if (a->ipv6) {
    inet_pton(AF_INET6, a->host.c_str(), &v6);
    inet_ntop(AF_INET6, &v6, buf, sizeof buf);
  } else {
    inet_pton(AF_INET, a->host.c_str(), &v4);
    inet_ntop(AF_INET, &v4, buf, sizeof buf);
  }
  a->host = buf;
  return a;
}

Result<std::vector<ListenAddress>>
parse_listen_addresses(const std::vector<std::string>& texts,
                       const std::vector<std::string>& defaults) {
  std::vector<ListenAddress> out;
  for (const std::string& t : texts.empty() ? defaults : texts) {
    auto a = parse_listen_address(t);
    if (!a)
      return std::unexpected(a.error());
    out.push_back(std::move(*a));
  }
  return out;
}

std::string default_database_path() {
  const char* env = std::getenv("MOAT_DB");
  return env != nullptr && *env != '\0' ? env : "/var/lib/moat/moat.db";
}

} // namespace moat
