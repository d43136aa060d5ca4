#pragma once

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/name.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moat {

/// What moat needs to know about a certificate chain it is asked to deploy.
struct CertificateInfo {
  std::vector<std::uint8_t> spki_sha256;        ///< SHA-256 of the leaf's SubjectPublicKeyInfo (TLSA 3 1 1)
  std::vector<std::uint8_t> issuer_spki_sha256; ///< of the certificate that issued the leaf (TLSA 2 1 1); empty when the chain holds only the leaf
  std::vector<std::string> dns_names;           ///< subjectAltName dNSName entries, lower case, no trailing dot
  UnixTime not_before = 0;
  UnixTime not_after = 0;
  std::string subject;                          ///< one-line subject, for display
  std::size_t chain_length = 0;                 ///< certificates in the chain, leaf included
};

/// Checks a chain and its key before anything is deployed, and describes it. Fails, with one
/// line saying what is wrong, when: a PEM block is truncated or not a certificate; there is no
/// certificate; the key does not parse or does not match the leaf; the leaf is not valid at
/// `now` (not yet valid, or expired); the chain is out of order (each certificate must be
/// issued by the next one: issuer name equals the next subject and the signature verifies).
[[nodiscard]] Result<CertificateInfo> inspect_certificate(std::string_view fullchain_pem,
                                                          std::string_view key_pem, UnixTime now);

/// True when the certificate is valid for `host` by the rules of RFC 6125 §6.4: a dNSName
/// equal to the host (case-insensitive), or a wildcard "*.rest" whose "rest" equals the host
/// without its first label (the wildcard only as the whole left-most label, never matching
/// more than one label, never for a host with fewer labels than the pattern).
[[nodiscard]] bool certificate_covers(const CertificateInfo& cert, const Name& host);

} // namespace moat
