#pragma once

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/store.hpp"

#include <optional>
#include <string>
#include <vector>

namespace moat {

/// The side effects of a rotation step outside the database, behind an interface so that tests
/// can make any of them fail (a crash between two steps) and check that `tick` recovers.
class RotationEffects {
public:
  virtual ~RotationEffects() = default;
  /// Writes fullchain.pem and privkey.pem (0600) of `cert` into the host's live directory.
  [[nodiscard]] virtual Result<void> install(const MxHost& host, const CertificateRecord& cert) = 0;
  /// True when the live directory already holds exactly `cert`.
  [[nodiscard]] virtual bool installed(const MxHost& host, const CertificateRecord& cert) = 0;
  /// Runs the host's --on-live command (e.g. `systemctl reload postfix`).
  [[nodiscard]] virtual Result<void> reload(const MxHost& host) = 0;
};

/// The real effects: atomic files in MxHost::live_dir, the command run without a shell.
class FileRotationEffects final : public RotationEffects {
public:
  Result<void> install(const MxHost& host, const CertificateRecord& cert) override;
  bool installed(const MxHost& host, const CertificateRecord& cert) override;
  Result<void> reload(const MxHost& host) override;
};

/// What an MX host asks for when it is added.
struct MxHostRequest {
  Name host;
  std::uint16_t priority = 10;
  std::uint16_t port = 25;
  std::vector<std::string> addresses;
  std::string live_dir; ///< "" = <state dir>/live/HOST
  std::string on_live;
};

/// Adds an MX host to `domain` (state "adding": its A/AAAA and TLSA are published first; the
/// MX record follows in `tick` once they have been served for their TTL, RFC 7672 §2.2).
/// The host must lie inside a domain moat serves, so that its TLSA can be published.
[[nodiscard]] Result<MxHost> add_mx_host(Store& store, const Name& domain, MxHostRequest request,
                                         const std::string& state_dir, UnixTime now,
                                         std::string_view actor);

/// Withdraws the MX record of a host first; `tick` removes its TLSA after the MX TTL.
[[nodiscard]] Result<MxHost> remove_mx_host(Store& store, const Name& domain, const Name& host,
                                            UnixTime now, std::string_view actor);

/// The outcome of a deployment for one host.
struct DeployResult {
  Name host;
  bool live_now = false;   ///< same key as the live certificate: installed at once
  std::optional<std::uint32_t> wait_serial; ///< staged: the serial that publishes its TLSA
  bool web = false; ///< the mta-sts name: presented by moat-httpsd from its next poll
};

/// Deploys a certificate to `hosts` (empty = every managed host it covers). Checks first: the
/// chain and key (core/certificate.hpp), validity now, that each host is a managed MX host and
/// is covered. Same key as the live certificate: stored and installed at once. New key: staged,
/// its TLSA published beside the old, and `tick` installs it after two TLSA TTLs (RFC 7671
/// §8.1). Nothing changes when any check fails.
[[nodiscard]] Result<std::vector<DeployResult>> deploy_certificate(
    Store& store, std::string_view fullchain_pem, std::string_view key_pem,
    const std::vector<Name>& hosts, UnixTime now, std::string_view actor,
    RotationEffects& effects);

/// `moat domain set --tlsa-issuer on|off`: TLSA 2 1 1 for the issuing CA of each MX host beside
/// 3 1 1. Refused (nothing changed) while a live or staged certificate lacks its issuer in the
/// chain it was deployed with. Adding or withdrawing 2 1 1 is safe at once: 3 1 1 stays.
[[nodiscard]] Result<void> set_tlsa_issuer(Store& store, const Name& domain, bool on, UnixTime now,
                                           std::string_view actor);

/// One pending step, for `moat status` and for what `tick` reports.
struct PendingStep {
  std::string domain;
  std::string host;
  std::string what;       ///< e.g. "certificate 3 goes live"
  std::string waits_for;  ///< e.g. "moat-dnsd to serve serial 1795889400"
  std::optional<UnixTime> not_before; ///< earliest time it can happen, when known
};

/// Performs every step whose condition holds now; idempotent. Returns what it did (one line
/// each); errors of one host do not stop the others and are returned as lines starting with
/// "error: ". Only observed publication (moat-dnsd's reports) moves a step forward.
[[nodiscard]] Result<std::vector<std::string>> tick(Store& store, UnixTime now,
                                                    std::string_view actor,
                                                    RotationEffects& effects);

/// Every step still to come, with what it waits for.
[[nodiscard]] Result<std::vector<PendingStep>> pending_steps(Store& store, UnixTime now);

} // namespace moat
