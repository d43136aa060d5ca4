// Certificate chains checked before deployment: PEM parsing, key match, validity, chain order,
// and the SPKI digests TLSA 3 1 1 / 2 1 1 publish.
#include "core/certificate.hpp"

#include "core/c_handles.hpp"

#include <algorithm>
#include <cctype>
#include <ctime>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <openssl/x509v3.h>

namespace moat {
namespace {

// A fullchain of a dozen certificates is a few tens of KiB; these bounds refuse anything that
// is clearly not a certificate file before OpenSSL parses it.
constexpr std::size_t kMaxChainPem = 1 << 20;
constexpr std::size_t kMaxKeyPem = 64 << 10;
constexpr std::size_t kMaxChainLength = 10;

struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
using GeneralNames = std::unique_ptr<GENERAL_NAMES, GeneralNamesFree>;

// Never prompt for a passphrase: moat runs unattended, an encrypted key is an error.
int no_passphrase(char*, int, int, void*) { return -1; }

std::size_t count_pem_blocks(std::string_view pem) {
  std::size_t n = 0;
  for (auto pos = pem.find("-----BEGIN "); pos != std::string_view::npos;
       pos = pem.find("-----BEGIN ", pos + 1))
    ++n;
  return n;
}

Result<std::vector<ossl::X509Ptr>> read_chain(std::string_view pem) {
  if (pem.size() > kMaxChainPem)
    return fail("certificate file is larger than 1 MiB");
  ossl::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio)
    return fail("out of memory reading the certificate file");
  std::vector<ossl::X509Ptr> chain;
  const std::size_t blocks = count_pem_blocks(pem);
  if (blocks == 0)
    return fail("no PEM certificate found in the certificate file");
  if (blocks > kMaxChainLength)
    return fail("certificate chain is longer than 10 certificates");
  ERR_clear_error();
  for (;;) {
    ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
    if (!cert)
      break;
    chain.push_back(std::move(cert));
  }
  ERR_clear_error();
  // PEM_read_bio_X509 silently skips blocks of other kinds and stops at a damaged one; either
  // way fewer certificates than blocks came out.
  if (chain.size() != blocks)
    return fail("certificate file: PEM block " + std::to_string(chain.size() + 1) +
                " is damaged or is not a certificate");
  // A file cut short inside a BEGIN line would otherwise pass as a shorter chain.
  const auto last_end = pem.rfind("-----END ");
  const auto last_begin = pem.rfind("-----BEGIN ");
  const auto end_line = pem.find('\n', last_end);
  const auto rest = end_line == std::string_view::npos ? std::string_view::npos
                                                       : pem.find_first_not_of(" \t\r\n", end_line);
  if (last_end == std::string_view::npos || last_begin > last_end || rest != std::string_view::npos)
    return fail("certificate file is damaged: cut short, or data after its last PEM block");
  return chain;
}

Result<ossl::Pkey> read_key(std::string_view pem) {
  if (pem.size() > kMaxKeyPem)
    return fail("private key file is larger than 64 KiB");
  ossl::Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio)
    return fail("out of memory reading the private key");
  ERR_clear_error();
  ossl::Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  ERR_clear_error();
  if (!key)
    return fail("private key file: no unencrypted PEM private key found");
  return key;
}

Result<UnixTime> asn1_time(const ASN1_TIME* t) {
  std::tm tm{};
  if (t == nullptr || ASN1_TIME_to_tm(t, &tm) != 1)
    return fail("certificate has a bad validity date");
  return static_cast<UnixTime>(timegm(&tm));
}

std::vector<std::uint8_t> spki_sha256(X509* cert) {
  unsigned char* der = nullptr;
  const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
  std::vector<std::uint8_t> digest;
  if (len > 0) {
    digest.resize(SHA256_DIGEST_LENGTH);
    SHA256(der, static_cast<std::size_t>(len), digest.data());
  }
  OPENSSL_free(der);
  return digest;
}

std::string subject_line(X509* cert) {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  if (!bio)
    return {};
  X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253);
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

std::string lower_no_dot(std::string text) {
  std::ranges::transform(text, text.begin(),
                         [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (!text.empty() && text.back() == '.')
    text.pop_back();
  return text;
}

Result<std::vector<std::string>> dns_names(X509* cert) {
  GeneralNames names(
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  std::vector<std::string> out;
  if (!names)
    return out;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* gn = sk_GENERAL_NAME_value(names.get(), i);
    if (gn->type != GEN_DNS)
      continue;
    const ASN1_IA5STRING* s = gn->d.dNSName;
    std::string name(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                     static_cast<std::size_t>(ASN1_STRING_length(s)));
    // An embedded NUL is the classic trick to make "good.test\0.evil" look like good.test.
    if (name.find('\0') != std::string::npos)
      return fail("certificate has a subjectAltName with an embedded NUL");
    out.push_back(lower_no_dot(std::move(name)));
  }
  return out;
}


} // namespace

Result<CertificateInfo> inspect_certificate(std::string_view fullchain_pem,
                                            std::string_view key_pem, UnixTime now) {
  auto chain = read_chain(fullchain_pem);
  if (!chain)
    return std::unexpected(chain.error());
  auto key = read_key(key_pem);
  if (!key)
    return std::unexpected(key.error());
  X509* leaf = chain->front().get();

  if (EVP_PKEY_eq(X509_get0_pubkey(leaf), key->get()) != 1) {
    // Keys of different types leave an error queued; the thread's queue must be left empty for
    // the next OpenSSL caller (SSL_get_error reads it).
    ERR_clear_error();
    return fail("the private key does not match the first certificate in the chain");
  }

  CertificateInfo info;
  auto not_before = asn1_time(X509_get0_notBefore(leaf));
  auto not_after = asn1_time(X509_get0_notAfter(leaf));
  if (!not_before || !not_after)
    return fail("certificate has a bad validity date");
  info.not_before = *not_before;
  info.not_after = *not_after;
  info.subject = subject_line(leaf);
  if (now < info.not_before)
    return fail("certificate " + info.subject + " is not valid yet (notBefore is in the future)");
  if (now > info.not_after)
    return fail("certificate " + info.subject + " has expired");

  for (std::size_t i = 0; i + 1 < chain->size(); ++i) {
    X509* child = (*chain)[i].get();
    X509* parent = (*chain)[i + 1].get();
    if (X509_check_issued(parent, child) != X509_V_OK ||
        X509_verify(child, X509_get0_pubkey(parent)) != 1) {
      ERR_clear_error();
      return fail("certificate chain is out of order: certificate " + std::to_string(i + 2) +
                  " did not issue certificate " + std::to_string(i + 1));
    }
  }
  ERR_clear_error();

  auto names = dns_names(leaf);
  if (!names)
    return std::unexpected(names.error());
  info.dns_names = std::move(*names);
  info.spki_sha256 = spki_sha256(leaf);
  if (chain->size() > 1)
    info.issuer_spki_sha256 = spki_sha256((*chain)[1].get());
  if (info.spki_sha256.empty())
    return fail("cannot encode the certificate's public key");
  info.chain_length = chain->size();
  return info;
}

bool certificate_covers(const CertificateInfo& cert, const Name& host) {
  return std::ranges::any_of(cert.dns_names,
                             [&](const std::string& n) { return host_pattern_matches(n, host); });
}

} // namespace moat
