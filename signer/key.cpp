// DNSSEC keys on OpenSSL 3: generation, DNSKEY encoding, signatures in DNSSEC wire format.
#include "signer/key.hpp"

#include "core/c_handles.hpp"

#include <algorithm>
#include <cctype>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

namespace moat::signer {
namespace {

using ossl::Bio;
using ossl::Bn;
using ossl::EcdsaSig;
using ossl::MdCtx;
using ossl::Pkey;
using ossl::PkeyCtx;

std::string openssl_error(std::string_view what) { return std::string(what) + " failed (OpenSSL)"; }

int expected_type(Algorithm a) {
  switch (a) {
  case Algorithm::kRsaSha256:
    return EVP_PKEY_RSA;
  case Algorithm::kEcdsaP256Sha256:
    return EVP_PKEY_EC;
  case Algorithm::kEd25519:
    return EVP_PKEY_ED25519;
  }
  return EVP_PKEY_NONE;
}

// The public key as the DNSKEY RDATA carries it.
Result<std::vector<std::uint8_t>> public_key_field(EVP_PKEY* key, Algorithm alg) {
  std::vector<std::uint8_t> out;
  switch (alg) {
  case Algorithm::kEcdsaP256Sha256: {
    // RFC 6605 §4: the uncompressed point without its 0x04 prefix, X || Y.
    std::uint8_t buf[65];
    std::size_t len = 0;
    if (EVP_PKEY_get_octet_string_param(key, OSSL_PKEY_PARAM_PUB_KEY, buf, sizeof buf, &len) != 1)
      return fail(openssl_error("reading the ECDSA public key"));
    if (len != 65 || buf[0] != 0x04)
      return fail("ECDSA public key is not an uncompressed P-256 point");
    out.assign(buf + 1, buf + 65);
    return out;
  }
  case Algorithm::kEd25519: {
    std::uint8_t buf[32];
    std::size_t len = sizeof buf;
    if (EVP_PKEY_get_raw_public_key(key, buf, &len) != 1 || len != 32)
      return fail(openssl_error("reading the Ed25519 public key"));
    out.assign(buf, buf + 32);
    return out;
  }
  case Algorithm::kRsaSha256: {
    // RFC 3110 §2: exponent length (1 octet, or 0 then 2 octets), exponent, modulus.
    BIGNUM* n_raw = nullptr;
    BIGNUM* e_raw = nullptr;
    if (EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_N, &n_raw) != 1 ||
        EVP_PKEY_get_bn_param(key, OSSL_PKEY_PARAM_RSA_E, &e_raw) != 1) {
      BN_free(n_raw);
      BN_free(e_raw);
      return fail(openssl_error("reading the RSA public key"));
    }
    Bn n(n_raw), e(e_raw);
    std::vector<std::uint8_t> eb(static_cast<std::size_t>(BN_num_bytes(e.get())));
    std::vector<std::uint8_t> nb(static_cast<std::size_t>(BN_num_bytes(n.get())));
    BN_bn2bin(e.get(), eb.data());
    BN_bn2bin(n.get(), nb.data());
    if (eb.size() < 256) {
      out.push_back(static_cast<std::uint8_t>(eb.size()));
    } else {
      out.push_back(0);
      out.push_back(static_cast<std::uint8_t>(eb.size() >> 8));
      out.push_back(static_cast<std::uint8_t>(eb.size()));
    }
    out.insert(out.end(), eb.begin(), eb.end());
    out.insert(out.end(), nb.begin(), nb.end());
    return out;
  }
  }
  return fail("unsupported algorithm");
}

} // namespace

struct SigningKey::Impl {
  Pkey key;
  Algorithm algorithm;
  std::uint16_t flags;
  std::vector<std::uint8_t> dnskey;
  std::uint16_t tag = 0;

  // Derives the DNSKEY RDATA and key tag once, at load time.
  static Result<std::unique_ptr<Impl>> create(Pkey key, Algorithm alg, std::uint16_t flags) {
    auto pub = public_key_field(key.get(), alg);
    if (!pub)
      return std::unexpected(pub.error());
    auto impl = std::make_unique<Impl>();
    impl->key = std::move(key);
    impl->algorithm = alg;
    impl->flags = flags;
    impl->dnskey.resize(4 + pub->size());
    impl->dnskey[0] = static_cast<std::uint8_t>(flags >> 8);
    impl->dnskey[1] = static_cast<std::uint8_t>(flags);
    impl->dnskey[2] = 3; // protocol, always 3 (RFC 4034 §2.1.2)
    impl->dnskey[3] = static_cast<std::uint8_t>(alg);
    std::ranges::copy(*pub, impl->dnskey.begin() + 4);
    impl->tag = signer::key_tag(impl->dnskey);
    return impl;
  }
};

Result<Algorithm> algorithm_from_string(std::string_view text) {
  std::string t(text);
  std::ranges::transform(t, t.begin(), [](unsigned char c) { return std::tolower(c); });
  if (t == "ecdsap256" || t == "ecdsap256sha256" || t == "ecdsa" || t == "13")
    return Algorithm::kEcdsaP256Sha256;
  if (t == "ed25519" || t == "15")
    return Algorithm::kEd25519;
  if (t == "rsasha256" || t == "rsa" || t == "8")
    return Algorithm::kRsaSha256;
  return fail("unknown DNSSEC algorithm '" + std::string(text) +
              "' (use ecdsap256, ed25519 or rsasha256)");
}

std::string algorithm_name(Algorithm a) {
  switch (a) {
  case Algorithm::kRsaSha256:
    return "rsasha256";
  case Algorithm::kEcdsaP256Sha256:
    return "ecdsap256";
  case Algorithm::kEd25519:
    return "ed25519";
  }
  return "unknown";
}

bool is_supported_algorithm(std::uint8_t number) {
  return number == 8 || number == 13 || number == 15;
}

SigningKey::SigningKey(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
SigningKey::SigningKey(SigningKey&&) noexcept = default;
SigningKey& SigningKey::operator=(SigningKey&&) noexcept = default;
SigningKey::~SigningKey() = default;

Result<SigningKey> SigningKey::generate(Algorithm alg, std::uint16_t flags) {
  EVP_PKEY* raw = nullptr;
  switch (alg) {
  case Algorithm::kEcdsaP256Sha256:
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256");
    break;
  case Algorithm::kEd25519:
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519");
    break;
  case Algorithm::kRsaSha256:
    raw = EVP_PKEY_Q_keygen(nullptr, nullptr, "RSA", static_cast<std::size_t>(2048));
    break;
  }
  if (raw == nullptr)
    return fail(openssl_error("generating a " + algorithm_name(alg) + " key"));
  auto impl = Impl::create(Pkey(raw), alg, flags);
  if (!impl)
    return std::unexpected(impl.error());
  return SigningKey(std::move(*impl));
}

Result<SigningKey> SigningKey::from_pem(std::string_view pem, Algorithm alg, std::uint16_t flags) {
  Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio)
    return fail(openssl_error("BIO_new_mem_buf"));
  Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key)
    return fail("not a readable PEM private key");
  if (EVP_PKEY_get_base_id(key.get()) != expected_type(alg))
    return fail("the private key is not a " + algorithm_name(alg) + " key");
  if (alg == Algorithm::kEcdsaP256Sha256) {
    char group[32] = {};
    std::size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key.get(), OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof group,
                                       &len) != 1 ||
        std::string_view(group) != "prime256v1")
      return fail("the ECDSA key is not on curve P-256");
  }
  auto impl = Impl::create(std::move(key), alg, flags);
  if (!impl)
    return std::unexpected(impl.error());
  return SigningKey(std::move(*impl));
}

Algorithm SigningKey::algorithm() const { return impl_->algorithm; }
std::uint16_t SigningKey::flags() const { return impl_->flags; }
const std::vector<std::uint8_t>& SigningKey::dnskey_rdata() const { return impl_->dnskey; }
std::uint16_t SigningKey::key_tag() const { return impl_->tag; }

std::string SigningKey::private_pem() const {
  Bio bio(BIO_new(BIO_s_mem()));
  if (!bio || PEM_write_bio_PrivateKey(bio.get(), impl_->key.get(), nullptr, nullptr, 0, nullptr,
                                       nullptr) != 1)
    return {};
  char* data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  std::string out(data, static_cast<std::size_t>(len));
  OPENSSL_cleanse(data, static_cast<std::size_t>(len));
  return out;
}

Result<std::vector<std::uint8_t>> SigningKey::sign(std::span<const std::uint8_t> data) const {
  MdCtx ctx(EVP_MD_CTX_new());
  if (!ctx)
    return fail(openssl_error("EVP_MD_CTX_new"));
  // Ed25519 signs the message itself (no digest); the others hash with SHA-256.
  const EVP_MD* md = impl_->algorithm == Algorithm::kEd25519 ? nullptr : EVP_sha256();
  if (EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, impl_->key.get()) != 1)
    return fail(openssl_error("EVP_DigestSignInit"));
  std::size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data.data(), data.size()) != 1)
    return fail(openssl_error("EVP_DigestSign"));
  std::vector<std::uint8_t> sig(len);
  if (EVP_DigestSign(ctx.get(), sig.data(), &len, data.data(), data.size()) != 1)
    return fail(openssl_error("EVP_DigestSign"));
  sig.resize(len);
  if (impl_->algorithm != Algorithm::kEcdsaP256Sha256)
    return sig;
  // RFC 6605 §4: ECDSA signatures are r || s, each 32 octets, not DER.
  const unsigned char* p = sig.data();
  EcdsaSig parsed(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(sig.size())));
  if (!parsed)
    return fail(openssl_error("decoding the ECDSA signature"));
  std::vector<std::uint8_t> raw(64);
  const BIGNUM* r = ECDSA_SIG_get0_r(parsed.get());
  const BIGNUM* s = ECDSA_SIG_get0_s(parsed.get());
  if (BN_bn2binpad(r, raw.data(), 32) != 32 || BN_bn2binpad(s, raw.data() + 32, 32) != 32)
    return fail(openssl_error("encoding the ECDSA signature"));
  return raw;
}

std::uint16_t key_tag(std::span<const std::uint8_t> rdata) {
  // RFC 4034 Appendix B.
  std::uint32_t ac = 0;
  for (std::size_t i = 0; i < rdata.size(); ++i)
    ac += (i & 1) ? rdata[i] : static_cast<std::uint32_t>(rdata[i]) << 8;
  ac += (ac >> 16) & 0xffff;
  return static_cast<std::uint16_t>(ac & 0xffff);
}

std::vector<std::uint8_t> ds_rdata(const Name& owner, std::span<const std::uint8_t> dnskey_rdata,
                                   std::uint8_t digest_type) {
  const EVP_MD* md = digest_type == 4 ? EVP_sha384() : EVP_sha256();
  std::vector<std::uint8_t> input = owner.lowercased().wire();
  input.insert(input.end(), dnskey_rdata.begin(), dnskey_rdata.end());
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), digest, &len, md, nullptr);
  std::uint16_t tag = key_tag(dnskey_rdata);
  std::vector<std::uint8_t> out{static_cast<std::uint8_t>(tag >> 8), static_cast<std::uint8_t>(tag),
                                dnskey_rdata.size() > 3 ? dnskey_rdata[3] : std::uint8_t{0},
                                digest_type == 4 ? std::uint8_t{4} : std::uint8_t{2}};
  out.insert(out.end(), digest, digest + len);
  return out;
}

} // namespace moat::signer
