#pragma once
// Certificates made at test time with OpenSSL, so no key or certificate is committed and every
// validity window can be placed around the test's own clock. Failures inside the helpers throw
// std::runtime_error: they are broken tests, not outcomes under test.

#include "core/clock.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moat::testing_certs {

/// A key pair in PEM, with the DER SubjectPublicKeyInfo of its public half.
struct TestKey {
  std::string pem;                ///< unencrypted PKCS#8 "PRIVATE KEY"
  std::vector<std::uint8_t> spki; ///< i2d_PUBKEY of the key, the TLSA 3 1 x input
};

/// A new EC P-256 key.
TestKey make_ec_key();
/// A new Ed25519 key (a different key type from the certificates'), for mismatch tests.
TestKey make_ed25519_key();

/// What goes into a certificate.
struct CertSpec {
  std::string common_name;
  /// subjectAltName dNSName entries, byte for byte (may hold a NUL); none means no extension.
  std::vector<std::string> dns_names;
  /// subjectAltName rfc822Name entries, to show that only dNSNames are reported.
  std::vector<std::string> emails;
  UnixTime not_before = 0;
  UnixTime not_after = 0;
  bool is_ca = false;
  /// subjectKeyIdentifier / authorityKeyIdentifier; without them the issuer is found by name
  /// alone, which lets a test build an impostor issuer that only the signature check catches.
  bool key_identifiers = true;
};

/// A certificate in PEM with the key it certifies.
struct TestCert {
  std::string pem;
  TestKey key;
};

/// A self-signed certificate for a new key.
TestCert make_self_signed(const CertSpec& spec);
/// A certificate for a new key, issued and signed by `issuer`.
TestCert make_issued(const CertSpec& spec, const TestCert& issuer);

/// `key` as PKCS#8 "ENCRYPTED PRIVATE KEY" under `passphrase`.
std::string encrypt_pkcs8(const TestKey& key, std::string_view passphrase);
/// `key` in the traditional "EC PRIVATE KEY" form with a "Proc-Type: 4,ENCRYPTED" header.
std::string encrypt_traditional(const TestKey& key, std::string_view passphrase);

/// SHA-256 through the EVP interface, for digests computed independently of the code under test.
std::vector<std::uint8_t> sha256(std::string_view data);
std::vector<std::uint8_t> sha256(const std::vector<std::uint8_t>& data);

} // namespace moat::testing_certs
