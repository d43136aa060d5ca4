#include "core/certificate.hpp"
#include "tests/core/test_certs.hpp"

#include <cstdint>
#include <gtest/gtest.h>
#include <openssl/err.h>
#include <string>
#include <string_view>
#include <vector>

namespace moat {
namespace {

using testing_certs::CertSpec;
using testing_certs::TestCert;

// 2026-01-01T00:00:00Z; every validity window below is placed around it.
constexpr UnixTime kNow = 1767225600;
constexpr UnixTime kDay = 86400;

// Passes when `message` contains `what`; the failure shows both.
testing::AssertionResult mentions(const std::string& message, std::string_view what) {
  if (message.find(what) != std::string::npos)
    return testing::AssertionSuccess();
  return testing::AssertionFailure()
         << "message '" << message << "' does not mention '" << what << "'";
}

Name name(std::string_view text) {
  auto n = Name::parse(text);
  EXPECT_TRUE(n) << text << ": " << n.error().message;
  return n ? *n : Name();
}

// A root, an intermediate it issued, a leaf the intermediate issued, and an unrelated root.
// Key generation is cheap but not free, so the set is built once for the whole file.
struct Pki {
  TestCert root;
  TestCert intermediate;
  TestCert leaf;
  TestCert other_root;
};

const Pki& pki() {
  static const Pki p = [] {
    Pki out;
    out.root = testing_certs::make_self_signed({.common_name = "Moat Test Root",
                                                .not_before = kNow - 365 * kDay,
                                                .not_after = kNow + 3650 * kDay,
                                                .is_ca = true});
    out.intermediate = testing_certs::make_issued({.common_name = "Moat Test Intermediate",
                                                   .not_before = kNow - 100 * kDay,
                                                   .not_after = kNow + 1000 * kDay,
                                                   .is_ca = true},
                                                  out.root);
    out.leaf = testing_certs::make_issued({.common_name = "mx.example.test",
                                           .dns_names = {"MX.Example.TEST", "mail.example.test."},
                                           .not_before = kNow - 10 * kDay,
                                           .not_after = kNow + 80 * kDay},
                                          out.intermediate);
    out.other_root = testing_certs::make_self_signed({.common_name = "Unrelated Root",
                                                      .not_before = kNow - 365 * kDay,
                                                      .not_after = kNow + 3650 * kDay,
                                                      .is_ca = true});
    return out;
  }();
  return p;
}

// A leaf for `names` valid in [not_before, not_after], issued by the shared intermediate.
TestCert leaf_with(std::vector<std::string> names, UnixTime not_before = kNow - kDay,
                   UnixTime not_after = kNow + 30 * kDay) {
  return testing_certs::make_issued({.common_name = "leaf.example.test",
                                     .dns_names = std::move(names),
                                     .not_before = not_before,
                                     .not_after = not_after},
                                    pki().intermediate);
}

std::string full_chain() { return pki().leaf.pem + pki().intermediate.pem + pki().root.pem; }

// The error message of a call expected to fail, or a test failure if it succeeded.
std::string refusal(std::string_view chain, std::string_view key, UnixTime now = kNow) {
  auto info = inspect_certificate(chain, key, now);
  EXPECT_FALSE(info) << "inspect_certificate accepted what it should refuse";
  return info ? std::string() : info.error().message;
}

TEST(InspectCertificate, DescribesChainOfLeafIntermediateAndRoot) {
  auto info = inspect_certificate(full_chain(), pki().leaf.key.pem, kNow);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->spki_sha256, testing_certs::sha256(pki().leaf.key.spki));
  EXPECT_EQ(info->issuer_spki_sha256, testing_certs::sha256(pki().intermediate.key.spki));
  EXPECT_EQ(info->spki_sha256.size(), 32u);
  EXPECT_EQ(info->chain_length, 3u);
  EXPECT_EQ(info->dns_names, (std::vector<std::string>{"mx.example.test", "mail.example.test"}));
  EXPECT_EQ(info->not_before, kNow - 10 * kDay);
  EXPECT_EQ(info->not_after, kNow + 80 * kDay);
  EXPECT_TRUE(mentions(info->subject, "CN=mx.example.test"));
}

TEST(InspectCertificate, AcceptsChainWithoutTheRoot) {
  auto info =
      inspect_certificate(pki().leaf.pem + pki().intermediate.pem, pki().leaf.key.pem, kNow);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->chain_length, 2u);
  EXPECT_EQ(info->issuer_spki_sha256, testing_certs::sha256(pki().intermediate.key.spki));
}

TEST(InspectCertificate, LeavesIssuerDigestEmptyForLeafOnlyChain) {
  auto info = inspect_certificate(pki().leaf.pem, pki().leaf.key.pem, kNow);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->chain_length, 1u);
  EXPECT_EQ(info->spki_sha256, testing_certs::sha256(pki().leaf.key.spki));
  EXPECT_TRUE(info->issuer_spki_sha256.empty());
}

TEST(InspectCertificate, ReportsOnlyDnsNamesFromSubjectAltName) {
  auto leaf = testing_certs::make_issued({.common_name = "cn.example.test",
                                          .dns_names = {"a.example.test"},
                                          .emails = {"postmaster@example.test"},
                                          .not_before = kNow - kDay,
                                          .not_after = kNow + kDay},
                                         pki().intermediate);
  auto info = inspect_certificate(leaf.pem, leaf.key.pem, kNow);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_EQ(info->dns_names, std::vector<std::string>{"a.example.test"});
}

TEST(InspectCertificate, DoesNotTakeCommonNameAsDnsName) {
  auto leaf = leaf_with({});
  auto info = inspect_certificate(leaf.pem, leaf.key.pem, kNow);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_TRUE(info->dns_names.empty());
}

TEST(InspectCertificate, RefusesKeyThatDoesNotMatchLeaf) {
  auto other = testing_certs::make_ec_key();
  EXPECT_TRUE(mentions(refusal(full_chain(), other.pem), "does not match"));
}

TEST(InspectCertificate, RefusesKeyOfAnotherType) {
  auto other = testing_certs::make_ed25519_key();
  EXPECT_TRUE(mentions(refusal(full_chain(), other.pem), "does not match"));
}

TEST(InspectCertificate, RefusesKeyOfTheIntermediateInsteadOfTheLeaf) {
  EXPECT_TRUE(mentions(refusal(full_chain(), pki().intermediate.key.pem), "does not match"));
}

TEST(InspectCertificate, RefusesExpiredLeaf) {
  auto leaf = leaf_with({"mx.example.test"}, kNow - 90 * kDay, kNow - kDay);
  EXPECT_TRUE(mentions(refusal(leaf.pem + pki().intermediate.pem, leaf.key.pem), "expired"));
}

TEST(InspectCertificate, RefusesLeafNotYetValid) {
  auto leaf = leaf_with({"mx.example.test"}, kNow + kDay, kNow + 90 * kDay);
  EXPECT_TRUE(mentions(refusal(leaf.pem + pki().intermediate.pem, leaf.key.pem), "not valid yet"));
}

TEST(InspectCertificate, AcceptsFirstAndLastSecondOfValidityOnly) {
  const UnixTime from = kNow - kDay, until = kNow + kDay;
  auto leaf = leaf_with({"mx.example.test"}, from, until);
  EXPECT_TRUE(inspect_certificate(leaf.pem, leaf.key.pem, from));
  EXPECT_TRUE(inspect_certificate(leaf.pem, leaf.key.pem, until));
  EXPECT_TRUE(mentions(refusal(leaf.pem, leaf.key.pem, from - 1), "not valid yet"));
  EXPECT_TRUE(mentions(refusal(leaf.pem, leaf.key.pem, until + 1), "expired"));
}

TEST(InspectCertificate, RefusesChainWithIntermediateAndRootSwapped) {
  const auto chain = pki().leaf.pem + pki().root.pem + pki().intermediate.pem;
  EXPECT_TRUE(mentions(refusal(chain, pki().leaf.key.pem), "out of order"));
}

TEST(InspectCertificate, RefusesUnrelatedCertificateAfterLeaf) {
  const auto chain = pki().leaf.pem + pki().other_root.pem;
  EXPECT_TRUE(mentions(refusal(chain, pki().leaf.key.pem), "out of order"));
}

TEST(InspectCertificate, RefusesUnrelatedCertificateAfterIntermediate) {
  const auto chain = pki().leaf.pem + pki().intermediate.pem + pki().other_root.pem;
  EXPECT_TRUE(mentions(refusal(chain, pki().leaf.key.pem), "certificate 3 did not issue"));
}

// A leaf without key identifiers, and a self-signed impostor bearing the name of its issuer:
// only the name ties a leaf to its issuer then, so only the signature check can tell them apart.
struct Impostor {
  TestCert leaf;
  TestCert issuer;
};

Impostor impostor() {
  return {testing_certs::make_issued({.common_name = "mx.example.test",
                                      .dns_names = {"mx.example.test"},
                                      .not_before = kNow - kDay,
                                      .not_after = kNow + kDay,
                                      .key_identifiers = false},
                                     pki().intermediate),
          testing_certs::make_self_signed({.common_name = "Moat Test Intermediate",
                                           .not_before = kNow - kDay,
                                           .not_after = kNow + kDay,
                                           .is_ca = true,
                                           .key_identifiers = false})};
}

TEST(InspectCertificate, RefusesIssuerWithRightNameButWrongKey) {
  const auto [leaf, issuer] = impostor();
  ASSERT_TRUE(inspect_certificate(leaf.pem + pki().intermediate.pem, leaf.key.pem, kNow));
  EXPECT_TRUE(mentions(refusal(leaf.pem + issuer.pem, leaf.key.pem), "out of order"));
}

TEST(InspectCertificate, RefusesChainCutInTheMiddleOfACertificate) {
  const auto intact = pki().leaf.pem + pki().intermediate.pem;
  const auto cut = intact.substr(0, pki().leaf.pem.size() + pki().intermediate.pem.size() / 2);
  EXPECT_TRUE(mentions(refusal(cut, pki().leaf.key.pem), "damaged"));
}

TEST(InspectCertificate, RefusesLeafCutInTheMiddle) {
  const auto cut = pki().leaf.pem.substr(0, pki().leaf.pem.size() / 2);
  EXPECT_TRUE(mentions(refusal(cut, pki().leaf.key.pem), "damaged"));
}

TEST(InspectCertificate, RefusesChainWhoseLastEndLineIsCut) {
  auto chain = pki().leaf.pem + pki().intermediate.pem;
  chain.resize(chain.size() - 10); // "-----END CERTIF"
  EXPECT_TRUE(mentions(refusal(chain, pki().leaf.key.pem), "damaged"));
}

TEST(InspectCertificate, RefusesChainCutInsideTheNextBeginLine) {
  // Cut after a complete leaf, in the middle of the intermediate's BEGIN line: the count of
  // "-----BEGIN " does not see the damaged block, the check of what follows the last END does.
  const auto chain = pki().leaf.pem + "-----BEG";
  EXPECT_TRUE(mentions(refusal(chain, pki().leaf.key.pem), "damaged"));
}

TEST(InspectCertificate, RefusesPrivateKeyInsideTheFullchain) {
  const auto& p = pki();
  EXPECT_TRUE(mentions(refusal(p.leaf.pem + p.leaf.key.pem + p.intermediate.pem, p.leaf.key.pem),
                       "not a certificate"));
  EXPECT_TRUE(mentions(refusal(p.leaf.pem + p.intermediate.pem + p.leaf.key.pem, p.leaf.key.pem),
                       "not a certificate"));
}

TEST(InspectCertificate, RefusesEmptyChain) {
  EXPECT_TRUE(mentions(refusal("", pki().leaf.key.pem), "no PEM certificate"));
}

TEST(InspectCertificate, RefusesEmptyKey) {
  EXPECT_TRUE(mentions(refusal(full_chain(), ""), "private key"));
}

TEST(InspectCertificate, RefusesEncryptedPkcs8KeyWithoutPrompting) {
  const auto key = testing_certs::encrypt_pkcs8(pki().leaf.key, "secret passphrase");
  ASSERT_TRUE(mentions(key, "ENCRYPTED PRIVATE KEY"));
  EXPECT_TRUE(mentions(refusal(full_chain(), key), "private key"));
}

TEST(InspectCertificate, RefusesEncryptedTraditionalKeyWithoutPrompting) {
  const auto key = testing_certs::encrypt_traditional(pki().leaf.key, "secret passphrase");
  ASSERT_TRUE(mentions(key, "Proc-Type: 4,ENCRYPTED"));
  EXPECT_TRUE(mentions(refusal(full_chain(), key), "private key"));
}

TEST(InspectCertificate, RefusesGarbage) {
  EXPECT_FALSE(inspect_certificate("this is not a certificate\n", pki().leaf.key.pem, kNow));
  EXPECT_TRUE(mentions(refusal("-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n"
                               "-----END CERTIFICATE-----\n",
                               pki().leaf.key.pem),
                       "damaged"));
  EXPECT_TRUE(mentions(refusal(full_chain(), "-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n"
                                             "-----END PRIVATE KEY-----\n"),
                       "private key"));
  EXPECT_TRUE(mentions(refusal(full_chain(), pki().leaf.pem), "private key"));
}

TEST(InspectCertificate, RefusesSubjectAltNameWithEmbeddedNul) {
  auto leaf = leaf_with({"mx.example.test", std::string("good.example.test\0.evil.test", 28)});
  EXPECT_TRUE(mentions(refusal(leaf.pem, leaf.key.pem), "NUL"));
}

TEST(InspectCertificate, RefusesChainLongerThanTenCertificates) {
  std::string chain;
  for (int i = 0; i < 11; ++i)
    chain += pki().leaf.pem;
  EXPECT_TRUE(mentions(refusal(chain, pki().leaf.key.pem), "longer than 10"));
}

TEST(InspectCertificate, LeavesNoOpenSslErrorBehindWhenItRefuses) {
  // OpenSSL's error queue is per thread and must be empty before TLS I/O (SSL_get_error reads
  // it); an entry left here would be misread by the next OpenSSL caller on this thread.
  ERR_clear_error();
  const auto& p = pki();
  EXPECT_FALSE(inspect_certificate(p.leaf.pem + p.root.pem, p.leaf.key.pem, kNow));
  EXPECT_EQ(ERR_peek_error(), 0u);
  EXPECT_FALSE(inspect_certificate(p.leaf.pem.substr(0, 300), p.leaf.key.pem, kNow));
  EXPECT_EQ(ERR_peek_error(), 0u);
  EXPECT_FALSE(inspect_certificate(full_chain(), testing_certs::make_ed25519_key().pem, kNow));
  EXPECT_EQ(ERR_peek_error(), 0u);
  const auto [leaf, issuer] = impostor();
  EXPECT_FALSE(inspect_certificate(leaf.pem + issuer.pem, leaf.key.pem, kNow));
  EXPECT_EQ(ERR_peek_error(), 0u);
  ERR_clear_error();
}

TEST(InspectCertificate, DescribesWildcardCertificateThatCoversItsHosts) {
  auto leaf = leaf_with({"*.Example.TEST"});
  auto info = inspect_certificate(leaf.pem, leaf.key.pem, kNow);
  ASSERT_TRUE(info) << info.error().message;
  EXPECT_TRUE(certificate_covers(*info, name("mx.example.test.")));
  EXPECT_FALSE(certificate_covers(*info, name("example.test.")));
}

bool covers(std::vector<std::string> dns_names, std::string_view host) {
  CertificateInfo info;
  info.dns_names = std::move(dns_names);
  return certificate_covers(info, name(host));
}

TEST(CertificateCovers, MatchesExactNameIgnoringCase) {
  EXPECT_TRUE(covers({"mx.example.test"}, "mx.example.test."));
  EXPECT_TRUE(covers({"mx.example.test"}, "MX.Example.TEST."));
  EXPECT_TRUE(covers({"other.example.test", "mx.example.test"}, "mx.example.test."));
}

TEST(CertificateCovers, MatchesHostWrittenWithOrWithoutTrailingDot) {
  EXPECT_TRUE(covers({"mx.example.test"}, "mx.example.test"));
  EXPECT_TRUE(covers({"mx.example.test"}, "mx.example.test."));
}

TEST(CertificateCovers, RefusesOtherNames) {
  EXPECT_FALSE(covers({}, "mx.example.test."));
  EXPECT_FALSE(covers({"mx.example.test"}, "mx2.example.test."));
  EXPECT_FALSE(covers({"example.test"}, "mx.example.test."));
  EXPECT_FALSE(covers({"mx.example.test"}, "example.test."));
  EXPECT_FALSE(covers({"x.example.test"}, "mx.example.test."));
  EXPECT_FALSE(covers({"mx.example.test"}, "."));
}

TEST(CertificateCovers, WildcardCoversExactlyOneLeftMostLabel) {
  EXPECT_TRUE(covers({"*.example.test"}, "mx.example.test."));
  EXPECT_TRUE(covers({"*.example.test"}, "MX.EXAMPLE.TEST."));
  EXPECT_FALSE(covers({"*.example.test"}, "example.test."));
  EXPECT_FALSE(covers({"*.example.test"}, "a.b.example.test."));
  EXPECT_FALSE(covers({"*.example.test"}, "mx.other.test."));
  EXPECT_FALSE(covers({"*.example.test"}, "mx.anexample.test."));
}

TEST(CertificateCovers, WildcardOverATopLevelDomainCoversNothing) {
  EXPECT_FALSE(covers({"*.test"}, "example.test."));
  EXPECT_FALSE(covers({"*.test"}, "test."));
  EXPECT_FALSE(covers({"*"}, "test."));
  EXPECT_FALSE(covers({"*."}, "test."));
}

TEST(CertificateCovers, PartialOrInnerWildcardsCoverNothing) {
  EXPECT_FALSE(covers({"m*.example.test"}, "mx.example.test."));
  EXPECT_FALSE(covers({"m*.example.test"}, "m.example.test."));
  EXPECT_FALSE(covers({"*x.example.test"}, "mx.example.test."));
  EXPECT_FALSE(covers({"mx*.example.test"}, "mx.example.test."));
  EXPECT_FALSE(covers({"mx.*.test"}, "mx.example.test."));
  EXPECT_FALSE(covers({"**.example.test"}, "mx.example.test."));
}

TEST(CertificateCovers, WildcardDoesNotTreatEscapedDotAsLabelBoundary) {
  // "mx\.evil" is one label holding a dot, so this host has three labels and a wildcard over
  // the four-label "evil.example.test" must not match it.
  EXPECT_FALSE(covers({"*.evil.example.test"}, "mx\\.evil.example.test."));
}

} // namespace
} // namespace moat
