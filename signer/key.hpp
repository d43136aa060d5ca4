#pragma once

#include "core/error.hpp"
#include "core/name.hpp"

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat::signer {

/// DNSSEC algorithms moat signs with (IANA numbers).
enum class Algorithm : std::uint8_t { kRsaSha256 = 8, kEcdsaP256Sha256 = 13, kEd25519 = 15 };

/// "ecdsap256" | "ed25519" | "rsasha256" (also the IANA mnemonics and numbers).
[[nodiscard]] Result<Algorithm> algorithm_from_string(std::string_view text);
[[nodiscard]] std::string algorithm_name(Algorithm a);
[[nodiscard]] bool is_supported_algorithm(std::uint8_t number);

/// DNSKEY flags: 256 for a ZSK, 257 (SEP) for a KSK.
inline constexpr std::uint16_t kZskFlags = 256;
inline constexpr std::uint16_t kKskFlags = 257;

/// A private signing key. Move-only; the private material never leaves except through
/// private_pem(). Thread-safe for concurrent sign() calls.
class SigningKey {
public:
  /// A fresh key (RSA keys are 2048 bits).
  [[nodiscard]] static Result<SigningKey> generate(Algorithm alg, std::uint16_t flags);
  /// Loads a PKCS#8 PEM private key made by private_pem(); checks it fits `alg`.
  [[nodiscard]] static Result<SigningKey> from_pem(std::string_view pem, Algorithm alg,
                                                   std::uint16_t flags);

  SigningKey(SigningKey&&) noexcept;
  SigningKey& operator=(SigningKey&&) noexcept;
  ~SigningKey();

  [[nodiscard]] Algorithm algorithm() const;
  [[nodiscard]] std::uint16_t flags() const;
  [[nodiscard]] bool is_ksk() const { return (flags() & 1) != 0; }
  /// DNSKEY RDATA: flags, protocol 3, algorithm, public key (RFC 4034 §2, RFC 6605, RFC 8080).
  [[nodiscard]] const std::vector<std::uint8_t>& dnskey_rdata() const;
  [[nodiscard]] std::uint16_t key_tag() const;
  /// PKCS#8 PEM of the private key.
  [[nodiscard]] std::string private_pem() const;

  /// Signs `data` and returns the signature in DNSSEC wire format (raw r||s for ECDSA).
  [[nodiscard]] Result<std::vector<std::uint8_t>> sign(std::span<const std::uint8_t> data) const;

private:
  struct Impl;
  explicit SigningKey(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// RFC 4034 Appendix B key tag of a DNSKEY RDATA.
[[nodiscard]] std::uint16_t key_tag(std::span<const std::uint8_t> dnskey_rdata);

/// DS RDATA (RFC 4034 §5.1.4) for `owner`'s DNSKEY, digest type 2 (SHA-256) by default.
[[nodiscard]] std::vector<std::uint8_t> ds_rdata(const Name& owner,
                                                 std::span<const std::uint8_t> dnskey_rdata,
                                                 std::uint8_t digest_type = 2);

} // namespace moat::signer
