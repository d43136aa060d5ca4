#pragma once
// RAII owners for the OpenSSL handles moat uses, one stateless deleter each. Included only by
// .cpp files: module headers expose moat's own types, never these.

#include <memory>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ecdsa.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

namespace moat::ossl {

template <class T, void (*Free)(T*)> struct Deleter {
  void operator()(T* p) const { Free(p); }
};

// BIO_free returns int, so it needs a wrapper to fit the deleter's signature.
inline void bio_free(BIO* p) { BIO_free(p); }

using Pkey = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using PkeyCtx = std::unique_ptr<EVP_PKEY_CTX, Deleter<EVP_PKEY_CTX, EVP_PKEY_CTX_free>>;
using MdCtx = std::unique_ptr<EVP_MD_CTX, Deleter<EVP_MD_CTX, EVP_MD_CTX_free>>;
using Bio = std::unique_ptr<BIO, Deleter<BIO, bio_free>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using EcdsaSig = std::unique_ptr<ECDSA_SIG, Deleter<ECDSA_SIG, ECDSA_SIG_free>>;
using X509Ptr = std::unique_ptr<X509, Deleter<X509, X509_free>>;

} // namespace moat::ossl
