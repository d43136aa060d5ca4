#include "tests/core/test_certs.hpp"

#include "core/c_handles.hpp"

#include <ctime>
#include <memory>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdexcept>

namespace moat::testing_certs {
namespace {

struct GeneralNameFree {
  void operator()(GENERAL_NAME* p) const { GENERAL_NAME_free(p); }
};
struct GeneralNamesFree {
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
};
struct ExtensionFree {
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};

// The helpers never pass: a failure here means the test itself is broken.
void check(bool ok, const char* what) {
  if (ok)
    return;
  ERR_clear_error();
  throw std::runtime_error(std::string("test certificate helper failed to ") + what);
}

int no_passphrase(char*, int, int, void*) { return -1; }

std::string bio_text(BIO* bio) {
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio, &data);
  return len > 0 ? std::string(data, static_cast<std::size_t>(len)) : std::string();
}

ossl::Bio memory_bio() {
  ossl::Bio bio(BIO_new(BIO_s_mem()));
  check(bio != nullptr, "allocate a BIO");
  return bio;
}

ossl::Bio reader(const std::string& text) {
  ossl::Bio bio(BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  check(bio != nullptr, "allocate a BIO");
  return bio;
}

ossl::Pkey parse_key(const TestKey& key) {
  auto bio = reader(key.pem);
  ossl::Pkey pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, no_passphrase, nullptr));
  check(pkey != nullptr, "read back a test key");
  return pkey;
}

ossl::X509Ptr parse_cert(const std::string& pem) {
  auto bio = reader(pem);
  ossl::X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, no_passphrase, nullptr));
  check(cert != nullptr, "read back a test certificate");
  return cert;
}

TestKey describe(EVP_PKEY* pkey) {
  TestKey key;
  auto bio = memory_bio();
  check(PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr) == 1,
        "write a key");
  key.pem = bio_text(bio.get());
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(pkey, &der);
  check(len > 0, "encode a public key");
  key.spki.assign(der, der + len);
  OPENSSL_free(der);
  return key;
}

void add_extension(X509* cert, X509V3_CTX* ctx, int nid, const char* value) {
  std::unique_ptr<X509_EXTENSION, ExtensionFree> ext(X509V3_EXT_conf_nid(nullptr, ctx, nid, value));
  check(ext != nullptr, "build an extension");
  check(X509_add_ext(cert, ext.get(), -1) == 1, "add an extension");
}

void push_name(GENERAL_NAMES* names, int type, const std::string& text) {
  std::unique_ptr<GENERAL_NAME, GeneralNameFree> gn(GENERAL_NAME_new());
  check(gn != nullptr, "allocate a GENERAL_NAME");
  ASN1_IA5STRING* s = ASN1_IA5STRING_new();
  check(s != nullptr, "allocate an IA5String");
  // Set with an explicit length so that an embedded NUL survives into the DER.
  if (ASN1_STRING_set(s, text.data(), static_cast<int>(text.size())) != 1) {
    ASN1_IA5STRING_free(s);
    check(false, "set an IA5String");
  }
  GENERAL_NAME_set0_value(gn.get(), type, s); // gn owns s from here
  check(sk_GENERAL_NAME_push(names, gn.get()) > 0, "push a GENERAL_NAME");
  (void)gn.release(); // the stack owns it now
}

void add_subject_alt_names(X509* cert, const CertSpec& spec) {
  if (spec.dns_names.empty() && spec.emails.empty())
    return;
  std::unique_ptr<GENERAL_NAMES, GeneralNamesFree> names(GENERAL_NAMES_new());
  check(names != nullptr, "allocate GENERAL_NAMES");
  for (const auto& n : spec.dns_names)
    push_name(names.get(), GEN_DNS, n);
  for (const auto& e : spec.emails)
    push_name(names.get(), GEN_EMAIL, e);
  check(X509_add1_ext_i2d(cert, NID_subject_alt_name, names.get(), 0, X509V3_ADD_DEFAULT) == 1,
        "add subjectAltName");
}

// `issuer` null means self-signed.
ossl::X509Ptr build(const CertSpec& spec, EVP_PKEY* subject_key, X509* issuer,
                    EVP_PKEY* issuer_key) {
  static long serial = 1;
  ossl::X509Ptr cert(X509_new());
  check(cert != nullptr, "allocate a certificate");
  X509* c = cert.get();
  check(X509_set_version(c, X509_VERSION_3) == 1, "set the version");
  check(ASN1_INTEGER_set(X509_get_serialNumber(c), serial++) == 1, "set the serial");
  check(X509_NAME_add_entry_by_txt(X509_get_subject_name(c), "CN", MBSTRING_UTF8,
                                   reinterpret_cast<const unsigned char*>(spec.common_name.c_str()),
                                   -1, -1, 0) == 1,
        "set the subject");
  check(X509_set_issuer_name(c, X509_get_subject_name(issuer != nullptr ? issuer : c)) == 1,
        "set the issuer");
  check(ASN1_TIME_set(X509_getm_notBefore(c), static_cast<std::time_t>(spec.not_before)) != nullptr,
        "set notBefore");
  check(ASN1_TIME_set(X509_getm_notAfter(c), static_cast<std::time_t>(spec.not_after)) != nullptr,
        "set notAfter");
  check(X509_set_pubkey(c, subject_key) == 1, "set the public key");

  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer != nullptr ? issuer : c, c, nullptr, nullptr, 0);
  add_extension(c, &ctx, NID_basic_constraints,
                spec.is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
  add_extension(c, &ctx, NID_key_usage,
                spec.is_ca ? "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
  if (spec.key_identifiers) {
    add_extension(c, &ctx, NID_subject_key_identifier, "hash");
    add_extension(c, &ctx, NID_authority_key_identifier, "keyid:always");
  }
  add_subject_alt_names(c, spec);
  check(X509_sign(c, issuer_key, EVP_sha256()) > 0, "sign a certificate");
  return cert;
}

std::string pem_of(X509* cert) {
  auto bio = memory_bio();
  check(PEM_write_bio_X509(bio.get(), cert) == 1, "write a certificate");
  return bio_text(bio.get());
}

} // namespace

TestKey make_ec_key() {
  ossl::Pkey pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", "P-256"));
  check(pkey != nullptr, "generate a P-256 key");
  return describe(pkey.get());
}

TestKey make_ed25519_key() {
  ossl::Pkey pkey(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  check(pkey != nullptr, "generate an Ed25519 key");
  return describe(pkey.get());
}

TestCert make_self_signed(const CertSpec& spec) {
  TestCert out;
  out.key = make_ec_key();
  auto key = parse_key(out.key);
  out.pem = pem_of(build(spec, key.get(), nullptr, key.get()).get());
  return out;
}

TestCert make_issued(const CertSpec& spec, const TestCert& issuer) {
  TestCert out;
  out.key = make_ec_key();
  auto key = parse_key(out.key);
  auto issuer_cert = parse_cert(issuer.pem);
  auto issuer_key = parse_key(issuer.key);
  out.pem = pem_of(build(spec, key.get(), issuer_cert.get(), issuer_key.get()).get());
  return out;
}

std::string encrypt_pkcs8(const TestKey& key, std::string_view passphrase) {
  auto pkey = parse_key(key);
  auto bio = memory_bio();
  check(PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey.get(), EVP_aes_256_cbc(), passphrase.data(),
                                      static_cast<int>(passphrase.size()), nullptr, nullptr) == 1,
        "write an encrypted PKCS#8 key");
  return bio_text(bio.get());
}

std::string encrypt_traditional(const TestKey& key, std::string_view passphrase) {
  auto pkey = parse_key(key);
  auto bio = memory_bio();
  check(PEM_write_bio_PrivateKey_traditional(
            bio.get(), pkey.get(), EVP_aes_128_cbc(),
            reinterpret_cast<const unsigned char*>(passphrase.data()),
            static_cast<int>(passphrase.size()), nullptr, nullptr) == 1,
        "write an encrypted traditional key");
  return bio_text(bio.get());
}

std::vector<std::uint8_t> sha256(std::string_view data) {
  std::vector<std::uint8_t> digest(EVP_MAX_MD_SIZE);
  unsigned int len = 0;
  check(EVP_Digest(data.data(), data.size(), digest.data(), &len, EVP_sha256(), nullptr) == 1,
        "hash");
  digest.resize(len);
  return digest;
}

std::vector<std::uint8_t> sha256(const std::vector<std::uint8_t>& data) {
  return sha256(std::string_view(reinterpret_cast<const char*>(data.data()), data.size()));
}

} // namespace moat::testing_certs
