#pragma once
// The fixture shared by the rotation and MTA-STS policy tests: a real temporary store holding
// the domain example.test., moat-dnsd's acknowledgements simulated with
// Store::record_publication, and a fake of the file and reload effects. Time is only ever the
// UnixTime passed in: nothing sleeps. Failures inside the helpers throw std::runtime_error: they
// are broken tests, not outcomes under test.

#include "core/clock.hpp"
#include "core/derived_records.hpp"
#include "core/rotation.hpp"
#include "core/rr.hpp"
#include "core/store.hpp"
#include "tests/core/test_certs.hpp"
#include "tests/support/temp_dir.hpp"

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <gtest/gtest.h>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moat::testing_rotation {

/// 2026-01-01T00:00:00Z; every certificate's validity window is placed around it.
inline constexpr UnixTime kT0 = 1767225600;
inline constexpr UnixTime kDay = 86400;
/// How long a staged certificate waits after its TLSA is first served (RFC 7671 §8.1).
inline constexpr UnixTime kTlsaWait = 2 * static_cast<UnixTime>(kTlsaTtl);

/// Passes when `message` contains `what`; the failure shows both.
testing::AssertionResult mentions(const std::string& message, std::string_view what);
/// Passes when one of `lines` contains `what`; the failure shows them all.
testing::AssertionResult any_mentions(const std::vector<std::string>& lines, std::string_view what);

/// A name that must parse.
Name name(std::string_view text);

// ---- certificates ----------------------------------------------------------------------------

/// A self-signed certificate (PEM) and its key.
struct Cert {
  std::string chain;
  testing_certs::TestKey key;
};

/// A certificate for a key we already have: a renewal that keeps its key (certbot --reuse-key).
Cert cert_for_key(const testing_certs::TestKey& key, std::vector<std::string> names,
                  UnixTime not_before = kT0 - 10 * kDay, UnixTime not_after = kT0 + 90 * kDay);
/// A certificate for a new EC P-256 key.
Cert new_cert(std::vector<std::string> names, UnixTime not_before = kT0 - 10 * kDay,
              UnixTime not_after = kT0 + 90 * kDay);

// ---- expected records ------------------------------------------------------------------------

/// The `3 1 1` TLSA record of `key` for `host`.
Rr tlsa(std::string_view host, const testing_certs::TestKey& key, std::uint16_t port = 25);
Rr mx(std::string_view apex, std::uint16_t priority, std::string_view host);
Rr a_record(std::string_view host, std::vector<std::uint8_t> address);
bool contains(const std::vector<Rr>& rrs, const Rr& rr);
std::size_t count_type(const std::vector<Rr>& rrs, std::uint16_t type);

// ---- the fake effects ------------------------------------------------------------------------

/// Records every install and reload, keeps "the files" per live directory in memory, and fails
/// on request: a failure here is a crash or an error between two steps of a rotation.
class FakeEffects final : public RotationEffects {
public:
  struct Call {
    std::string what; ///< "install" or "reload"
    std::string host;
    std::string chain; ///< install: what was written; reload: what the files held then
  };

  Result<void> install(const MxHost& host, const CertificateRecord& cert) override;
  bool installed(const MxHost& host, const CertificateRecord& cert) override;
  Result<void> reload(const MxHost& host) override;

  int count(std::string_view what) const;

  std::vector<Call> calls;
  std::map<std::string, std::pair<std::string, std::string>> files; ///< live_dir → (chain, key)
  bool fail_install = false;
  bool fail_reload = false;
  std::function<void()> during_reload; ///< runs inside reload(), to look at the store then
};

// ---- the fixture -----------------------------------------------------------------------------

/// A temporary store with the domain example.test. (SOA minimum 300, SOA TTL 3600, serial 1).
class RotationFixture : public testing::Test {
protected:
  void SetUp() override;
  void TearDown() override;

  Store& store() { return *store_; }

  std::int64_t add_domain(std::string_view apex, std::uint32_t soa_minimum = 300,
                          std::uint32_t soa_ttl = 3600);
  Domain domain(std::string_view apex = "example.test.");
  std::uint32_t serial(std::string_view apex = "example.test.") { return domain(apex).serial; }

  /// What moat-dnsd does once it serves the current serial of `apex`; returns that serial.
  std::uint32_t serve(UnixTime at, std::string_view apex = "example.test.");

  std::vector<Rr> derived(std::string_view apex = "example.test.");

  MxHost add(std::string_view host, UnixTime at, std::vector<std::string> addresses = {},
             std::string_view apex = "example.test.");
  std::optional<MxHost> host_row(std::string_view host, std::int64_t domain_id = 0);
  std::vector<CertificateRecord> certs_of(std::string_view host);
  std::optional<CertificateRecord> cert_in_state(std::string_view host, std::string_view state);

  std::vector<DeployResult> deploy(const Cert& cert, std::vector<std::string_view> hosts,
                                   UnixTime at);
  std::vector<std::string> tick_at(UnixTime at);
  std::vector<PendingStep> pending(UnixTime at);

  /// Adds `host` at `at`, deploys `cert` for it and lets everything be served until the host is
  /// in the MX RRset with `cert` live. Returns the time of the tick that got it there; the
  /// effects' call log is cleared. Needs the policy side of rule 3 to allow the host (no
  /// MTA-STS policy, or a served one that lists it).
  UnixTime make_active(std::string_view host, const Cert& cert, UnixTime at);

  /// Everything a failed operation must leave as it was: the domains' serials and versions,
  /// the derived records, the MTA-STS policy, what moat-httpsd was recorded serving, the TLSRPT
  /// rua, the MX hosts, the certificates and the audit log.
  std::string state_dump();

  testing_support::TempDir dir_{"moat-rotation"};
  std::optional<Store> store_;
  std::int64_t domain_id_ = 0;
  FakeEffects effects_;
};

} // namespace moat::testing_rotation
