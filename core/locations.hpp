#pragma once
// Where moat's programs listen and where they find their database.

#include "core/error.hpp"

#include <cstdint>
#include <string>
#include <sys/socket.h>
#include <string_view>
#include <vector>

namespace moat {

/// Where a daemon listens: a numeric address and a port.
struct ListenAddress {
  std::string host; ///< numeric IPv4 or IPv6 address, without brackets
  std::uint16_t port = 0;
  bool ipv6 = false;
  /// "ADDR:PORT" or "[ADDR6]:PORT".
  [[nodiscard]] std::string to_string() const;
};

/// The socket address of `a`, for bind() and connect(), and its length; 0 when the host is not
/// a numeric address of its family.
[[nodiscard]] socklen_t socket_address(const ListenAddress& a, sockaddr_storage& out);

/// "ADDR:PORT" or "[ADDR6]:PORT": a numeric address (an IPv6 one in brackets, since "::1:53"
/// is ambiguous) and a port from 1 to 65535.
[[nodiscard]] Result<ListenAddress> parse_listen_address(std::string_view text);

/// A peer's address as an operator types it: ADDR, ADDR:PORT, ADDR6 or [ADDR6]:PORT, the port
/// `default_port` when not given. The host comes back in canonical form (inet_ntop), so that
/// two spellings of one address compare equal.
[[nodiscard]] Result<ListenAddress> parse_peer_address(std::string_view text,
                                                       std::uint16_t default_port);

/// Every one of `texts`, or of `defaults` when `texts` is empty.
[[nodiscard]] Result<std::vector<ListenAddress>>
parse_listen_addresses(const std::vector<std::string>& texts,
                       const std::vector<std::string>& defaults);

/// The database the programs use unless told otherwise: $MOAT_DB, else /var/lib/moat/moat.db.
[[nodiscard]] std::string default_database_path();

} // namespace moat
