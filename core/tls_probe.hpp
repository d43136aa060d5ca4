#pragma once
// The TLS half of `moat check`: talks to a domain's servers the way a sending MTA does. An MX
// host gets EHLO and STARTTLS on port 25, and its certificate chain is judged twice: against
// the TLSA records (DANE, RFC 7671/7672) and against the WebPKI (what MTA-STS relies on,
// RFC 8461 §4.2). The MTA-STS policy is fetched exactly as RFC 8461 §3.3 says.

#include "core/clock.hpp"
#include "core/locations.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace moat {

/// One TLSA record's fields (RFC 6698 §2.1).
struct TlsaData {
  std::uint8_t usage = 0;
  std::uint8_t selector = 0;
  std::uint8_t matching_type = 0;
  std::vector<std::uint8_t> data;
};

/// The leaf certificate a server presented, and the chain's length.
struct PresentedChain {
  std::string subject;
  std::vector<std::string> dns_names; ///< subjectAltName dNSNames, lower case
  UnixTime not_before = 0;
  UnixTime not_after = 0;
  std::size_t length = 0;
};

struct TlsVerdict {
  bool ok = false;
  std::string detail; ///< what matched, or why not
};

struct SmtpTlsProbe {
  std::string failure; ///< empty when the TLS handshake after STARTTLS completed
  std::string banner;  ///< the server's 220 greeting line
  bool starttls_offered = false;
  std::string protocol; ///< "TLSv1.3"
  std::string cipher;
  PresentedChain chain;
  /// DANE: set when at least one TLSA record is usable for SMTP (DANE-TA(2) or DANE-EE(3);
  /// RFC 7672 §3.1.3 makes PKIX-TA(0) and PKIX-EE(1) unusable).
  std::optional<TlsVerdict> dane;
  TlsVerdict pkix; ///< the chain to a trusted CA, valid now, naming the MX host
};

/// Connects to `where`, reads the greeting, says EHLO, asks for STARTTLS and shakes hands with
/// SNI `mx_host` (no trailing dot); then says QUIT. `ca_file` replaces the system's CAs when
/// not empty. Each step must finish within `timeout`.
[[nodiscard]] SmtpTlsProbe probe_smtp_starttls(const std::string& mx_host,
                                               const ListenAddress& where,
                                               const std::vector<TlsaData>& tlsa,
                                               const std::string& ca_file, UnixTime now,
                                               std::chrono::milliseconds timeout);

struct PolicyFetch {
  std::string failure; ///< empty when an HTTP answer was read
  TlsVerdict pkix;     ///< the web server's certificate (a sender stops when it fails)
  int status = 0;
  std::string content_type; ///< the media type, lower case, without parameters
  std::string location;     ///< of a redirect, to say where it pointed
  std::string body;
};

/// Largest policy file moat check reads (RFC 8461 §3.3 lets senders bound it; 64 KiB is
/// what Postfix's mta-sts resolvers use).
inline constexpr std::size_t kMaxPolicyBytes = 64 * 1024;

/// GET https://`web_host`/.well-known/mta-sts.txt from `where`, following no redirect, bounded
/// in size and time.
[[nodiscard]] PolicyFetch fetch_sts_policy(const std::string& web_host, const ListenAddress& where,
                                           const std::string& ca_file, UnixTime now,
                                           std::chrono::milliseconds timeout);

} // namespace moat
