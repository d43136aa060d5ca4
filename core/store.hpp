#pragma once

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/name.hpp"
#include "core/rr.hpp"
#include "core/tsig_key.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace moat {

/// SOA fields that the operator sets; the serial is managed by the store.
struct SoaFields {
  Name mname;                       ///< primary nameserver
  Name rname;                       ///< responsible mailbox, as a name (hostmaster.example.test.)
  std::uint32_t refresh = 14400;
  std::uint32_t retry = 3600;
  std::uint32_t expire = 1209600;
  std::uint32_t minimum = 300;      ///< negative-caching TTL (RFC 2308)
  std::uint32_t ttl = 3600;         ///< TTL of the SOA record itself
};

/// An SMTP TLS report as the store keeps it: the JSON as received, and the columns it is
/// selected by.
struct StoredTlsrptReport {
  std::int64_t id = 0;
  std::int64_t domain_id = 0;
  std::string organization;
  std::string report_id;
  UnixTime range_start = 0;
  UnixTime range_end = 0;
  UnixTime received = 0;
  std::string source; ///< "https ADDRESS" or "import"
  std::string json;
};

/// A server that copies a domain's zone from moat by AXFR/IXFR and is sent NOTIFY.
struct Secondary {
  std::int64_t id = 0;
  std::int64_t domain_id = 0;
  std::string address;              ///< IP address literal: transfers are allowed from it
  std::uint16_t port = 53;          ///< where NOTIFY goes
  std::optional<Name> tsig_key;     ///< transfers and NOTIFY are signed with it when set
  std::int64_t created = 0;
};

/// A TXT record at an _acme-challenge name, received by UPDATE (RFC 2136, ACME DNS-01).
struct AcmeChallenge {
  Name owner;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;
  std::int64_t created = 0;
  std::int64_t expires = 0;           ///< removed by moat-dnsd from then on
};

/// A domain (zone) and its signing settings.
struct Domain {
  std::int64_t id = 0;
  Name name;                        ///< apex, lower case
  SoaFields soa;
  std::uint32_t serial = 0;         ///< SOA serial of the current desired state
  std::uint8_t algorithm = 13;      ///< DNSSEC algorithm number of new keys
  bool nsec3 = false;               ///< NSEC3 (0 iterations, no salt) instead of NSEC
  std::uint32_t dnskey_ttl = 3600;
  /// Publish TLSA 2 1 1 (the issuing CA's key) for its MX hosts beside 3 1 1 (RFC 7671 §5.2).
  bool tlsa_issuer = false;
  // Key rollovers and signatures (seconds).
  std::uint32_t zsk_lifetime = 90 * 86400;  ///< a ZSK is rolled after this long active
  std::uint32_t ksk_lifetime = 0;           ///< likewise for the KSK; 0: never automatically
  std::uint32_t sig_validity = 14 * 86400;  ///< lifetime of a new RRSIG
  std::uint32_t sig_refresh = 7 * 86400;    ///< re-sign when less than this is left
  std::uint32_t parent_ds_ttl = 86400;      ///< TTL of the DS in the parent zone
  std::int64_t version = 0;         ///< bumped by every change; daemons poll it
  UnixTime created = 0;
};

/// A DNSSEC key as the store keeps it.
struct KeyRecord {
  std::int64_t id = 0;
  std::int64_t domain_id = 0;
  std::string role;                 ///< "ksk", "zsk" or "csk" (signs as both)
  std::uint8_t algorithm = 0;
  std::uint16_t key_tag = 0;
  std::vector<std::uint8_t> dnskey_rdata;
  std::string private_pem;          ///< PKCS#8 PEM; never logged
  /// "published" (in the DNSKEY RRset, signs nothing yet), "active" (published and signing),
  /// "retired" (published, no longer signing), "removed" (gone); for an algorithm rollover
  /// also "presigning" and "postsigning" (signing while not published, before and after).
  std::string state;
  UnixTime created = 0;
  std::optional<UnixTime> published_at; ///< entered the DNSKEY RRset
  std::optional<UnixTime> active_at;    ///< began to sign
  std::optional<UnixTime> retired_at;   ///< stopped signing (still published)
  std::optional<UnixTime> removed_at;   ///< left the DNSKEY RRset
  /// The domain serial that made the current state visible; the rollover's next wait starts
  /// when moat-dnsd serves it.
  std::optional<std::uint32_t> state_serial;
  /// The key's DS at the parent (KSKs): "" unknown, "submit" (CDS asks for it), "seen" (the
  /// admin confirmed it), "withdrawn" (no longer wanted).
  std::string ds_state;
  std::optional<UnixTime> ds_seen_at;
};

/// An MX host moat manages: its MX record, its TLSA records, where its certificate goes.
struct MxHost {
  std::int64_t id = 0;
  std::int64_t domain_id = 0;
  Name host;
  std::uint16_t priority = 10;
  std::uint16_t port = 25;
  std::vector<std::string> addresses; ///< A/AAAA published for the host when it is in the zone
  std::string live_dir;               ///< where fullchain.pem and privkey.pem are written
  std::string on_live;                ///< command run after a certificate goes live ("" = none)
  /// "adding": TLSA published, MX not yet; "active": both; "removing": MX withdrawn, TLSA kept.
  std::string state;
  std::optional<std::uint32_t> wait_serial; ///< serial the next step waits to see served
  UnixTime created = 0;
};

/// A certificate deployed for one MX host.
struct CertificateRecord {
  std::int64_t id = 0;
  std::int64_t mx_host_id = 0;
  std::string state;                  ///< "staged", "live" or "retired"
  std::string fullchain_pem;
  std::string key_pem;                ///< never logged
  std::vector<std::uint8_t> spki_sha256;
  std::vector<std::uint8_t> issuer_spki_sha256;
  std::string names;                  ///< subjectAltNames, space-separated
  UnixTime not_before = 0;
  UnixTime not_after = 0;
  std::optional<std::uint32_t> wait_serial;
  UnixTime deployed = 0;
  /// When the host was reloaded with it; unset while a live certificate still waits for its
  /// files or its reload (tick retries both until this is set).
  std::optional<UnixTime> live_since;
};

/// The MTA-STS policy the operator set for a domain (RFC 8461 §3.2).
struct StsPolicyRecord {
  std::int64_t domain_id = 0;
  std::string mode = "testing";            ///< "enforce", "testing" or "none"
  std::uint32_t max_age = 604800;
  std::vector<std::string> mx_patterns;    ///< empty: one `mx:` line per MX host of the domain
  bool delete_requested = false;           ///< `moat policy del`: removed once max_age has run out
  std::vector<std::string> https_addresses; ///< A/AAAA published for mta-sts.DOMAIN
  UnixTime updated = 0;
};

/// The policy moat-httpsd reports serving for a domain; its id is what the `_mta-sts` TXT
/// record publishes (RFC 8461 §3.1: the id changes only once the new text is served).
struct StsServed {
  std::int64_t domain_id = 0;
  std::string policy_id;
  std::string policy_text;
  UnixTime since = 0;                      ///< first time this text was served
  std::uint32_t wait_serial = 0;           ///< the zone serial that publishes this id
  /// Until when senders may still cache a policy served before (each replaced text's
  /// max_age counted from its replacement, the latest of all): `policy del` waits for it.
  std::optional<UnixTime> none_until;
};

/// The certificate moat-httpsd presents for `mta-sts.DOMAIN`.
struct WebCertificate {
  std::int64_t domain_id = 0;
  std::string fullchain_pem;
  std::string key_pem; ///< never logged
  UnixTime not_after = 0;
  UnixTime deployed = 0;
};

/// The SQLite database of desired state, one connection per object. Not thread-safe: give each
/// thread its own Store. All methods return errors instead of throwing.
class Store {
public:
  enum class Mode { kCreate, kOpenExisting };

  /// Opens (or with kCreate creates, mode 0600) the database and applies any pending schema
  /// migration. WAL journal, synchronous=FULL, foreign keys on, a busy timeout.
  [[nodiscard]] static Result<Store> open(const std::string& path, Mode mode);

  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  /// The schema version (PRAGMA user_version).
  [[nodiscard]] Result<int> schema_version();

  /// Runs `body` inside BEGIN IMMEDIATE ... COMMIT; rolls back when it fails.
  template <class F> [[nodiscard]] Result<void> transaction(F&& body) {
    if (auto r = exec("BEGIN IMMEDIATE"); !r)
      return r;
    Result<void> r = body();
    if (!r) {
      (void)exec("ROLLBACK");
      return r;
    }
    if (auto c = exec("COMMIT"); !c) {
      (void)exec("ROLLBACK");
      return c;
    }
    return {};
  }

  /// Runs `body` inside a deferred (read) transaction, so that it sees one consistent state.
  template <class F> [[nodiscard]] Result<void> read_transaction(F&& body) {
    if (auto r = exec("BEGIN DEFERRED"); !r)
      return r;
    Result<void> r = body();
    (void)exec(r ? "COMMIT" : "ROLLBACK");
    return r;
  }

  // Domains.
  [[nodiscard]] Result<std::optional<Domain>> find_domain(const Name& name);
  [[nodiscard]] Result<std::optional<Domain>> find_domain_by_id(std::int64_t id);
  [[nodiscard]] Result<std::vector<Domain>> list_domains();
  [[nodiscard]] Result<std::int64_t> insert_domain(const Domain& d);
  [[nodiscard]] Result<void> update_domain(const Domain& d);
  [[nodiscard]] Result<void> delete_domain(std::int64_t id);
  /// Marks a change: serial = max(serial + 1, now) in serial arithmetic, version + 1. Returns
  /// the new serial, the one that will carry the change.
  [[nodiscard]] Result<std::uint32_t> touch_domain(std::int64_t id, UnixTime now);

  /// (id, version) of every domain: what the server polls to notice changes cheaply.
  struct DomainVersion {
    std::int64_t id;
    std::int64_t version;
  };
  [[nodiscard]] Result<std::vector<DomainVersion>> domain_versions();
  /// SQLite's PRAGMA data_version: it changes when another connection (another process too)
  /// commits, and costs no read of the database: what the server asks every few milliseconds.
  [[nodiscard]] Result<std::int64_t> data_version();

  // Records (desired state, without SOA and DNSSEC records).
  [[nodiscard]] Result<std::vector<Rr>> records(std::int64_t domain_id);
  /// The records at one name (any case), by the table's (domain, owner, ...) index.
  [[nodiscard]] Result<std::vector<Rr>> records_at(std::int64_t domain_id, const Name& owner);
  /// Inserts a record; returns false when the identical record already exists. A TTL
  /// different from the RRset's existing TTL updates the whole RRset (one TTL per RRset).
  [[nodiscard]] Result<bool> insert_record(std::int64_t domain_id, const Rr& rr);
  /// Deletes the records at owner/type (only the one with `rdata` when given); returns how
  /// many went.
  [[nodiscard]] Result<int> delete_records(std::int64_t domain_id, const Name& owner,
                                           std::uint16_t type,
                                           const std::vector<std::uint8_t>* rdata);
  [[nodiscard]] Result<void> delete_all_records(std::int64_t domain_id);

  // The change log (written by triggers): names whose records changed, in commit order.
  struct ZoneChange {
    std::int64_t id;
    std::int64_t domain_id;
    Name owner; ///< lower case
  };
  struct ZoneChanges {
    std::vector<ZoneChange> changes;
    bool missed = false; ///< changes after `after` were deleted before this read
  };
  /// The changes after `after`, oldest first, at most `limit` of them.
  [[nodiscard]] Result<ZoneChanges> zone_changes(std::int64_t after, int limit);
  /// The id of the last change logged (0 when none).
  [[nodiscard]] Result<std::int64_t> last_zone_change();
  /// Deletes the changes up to `up_to`, once read.
  [[nodiscard]] Result<void> forget_zone_changes(std::int64_t up_to);

  // Keys.
  [[nodiscard]] Result<std::vector<KeyRecord>> keys(std::int64_t domain_id);
  [[nodiscard]] Result<std::int64_t> insert_key(const KeyRecord& k);
  /// Writes a key's state and state dates (the key material never changes).
  [[nodiscard]] Result<void> update_key_state(const KeyRecord& k);

  // What moat-dnsd reports (written by the daemon only).
  /// How long the reports of served serials are kept (the newest one always is).
  static constexpr UnixTime kPublicationHistory = 60 * 86400;
  /// Records that `serial` of the domain is being served since `at` (first report wins), and
  /// forgets reports older than kPublicationHistory.
  /// `max_ttl` is the longest TTL of that version of the zone.
  [[nodiscard]] Result<void> record_publication(std::int64_t domain_id, std::uint32_t serial,
                                                UnixTime at, std::uint32_t max_ttl = 0);
  /// The longest TTL of any zone version served within kPublicationHistory (0 if none): what
  /// caches may still hold, whatever the zone's TTLs are now.
  [[nodiscard]] Result<std::uint32_t> max_published_ttl(std::int64_t domain_id);
  /// When the first serial at or after `serial` (RFC 1982 order) was served, if any was.
  [[nodiscard]] Result<std::optional<UnixTime>> published_since(std::int64_t domain_id,
                                                                std::uint32_t serial);
  /// The newest serial served and since when, if any.
  struct Publication {
    std::uint32_t serial;
    UnixTime at;
  };
  [[nodiscard]] Result<std::optional<Publication>> latest_publication(std::int64_t domain_id);

  // MX hosts and their certificates.
  [[nodiscard]] Result<std::vector<MxHost>> mx_hosts(std::int64_t domain_id);
  /// Every MX host of every domain.
  [[nodiscard]] Result<std::vector<MxHost>> all_mx_hosts();
  /// Every MX host of every domain whose name is `host`.
  [[nodiscard]] Result<std::vector<MxHost>> mx_hosts_named(const Name& host);
  [[nodiscard]] Result<std::int64_t> insert_mx_host(const MxHost& h);
  [[nodiscard]] Result<void> update_mx_host(const MxHost& h);
  [[nodiscard]] Result<void> delete_mx_host(std::int64_t id);
  [[nodiscard]] Result<std::vector<CertificateRecord>> certificates(std::int64_t mx_host_id);
  [[nodiscard]] Result<std::int64_t> insert_certificate(const CertificateRecord& c);
  [[nodiscard]] Result<void> update_certificate(const CertificateRecord& c);
  [[nodiscard]] Result<void> delete_certificate(std::int64_t id);

  // MTA-STS and TLSRPT.
  [[nodiscard]] Result<std::optional<StsPolicyRecord>> sts_policy(std::int64_t domain_id);
  [[nodiscard]] Result<void> put_sts_policy(const StsPolicyRecord& p);
  [[nodiscard]] Result<void> delete_sts_policy(std::int64_t domain_id);
  [[nodiscard]] Result<std::optional<StsServed>> sts_served(std::int64_t domain_id);
  [[nodiscard]] Result<void> put_sts_served(const StsServed& s);
  [[nodiscard]] Result<void> delete_sts_served(std::int64_t domain_id);
  [[nodiscard]] Result<std::optional<WebCertificate>> web_certificate(std::int64_t domain_id);
  [[nodiscard]] Result<void> put_web_certificate(const WebCertificate& c);
  /// The `rua` of the domain's TLSRPT record (RFC 8460 §3), if set.
  [[nodiscard]] Result<std::optional<std::string>> tlsrpt_rua(std::int64_t domain_id);
  [[nodiscard]] Result<void> put_tlsrpt_rua(std::int64_t domain_id, const std::string& rua);
  [[nodiscard]] Result<void> delete_tlsrpt(std::int64_t domain_id);

  // SMTP TLS reports.
  /// Stores the report; returns its id, or nullopt when the domain already has a report with
  /// this organisation and report id (it is then left as it was).
  [[nodiscard]] Result<std::optional<std::int64_t>>
  insert_tlsrpt_report(const StoredTlsrptReport& r);
  /// The domain's reports (every domain's when `domain_id` is 0) whose date range ends at or
  /// after `since`, oldest first.
  [[nodiscard]] Result<std::vector<StoredTlsrptReport>> tlsrpt_reports(std::int64_t domain_id,
                                                                       UnixTime since);
  /// How many reports the domain received at or after `since`, and their octets of JSON
  /// (what moat-httpsd bounds).
  struct TlsrptVolume {
    std::int64_t reports = 0;
    std::int64_t octets = 0;
  };
  [[nodiscard]] Result<TlsrptVolume> tlsrpt_received_since(std::int64_t domain_id, UnixTime since);

  // TSIG keys and secondaries (zone transfers).
  [[nodiscard]] Result<std::vector<TsigKey>> tsig_keys();
  [[nodiscard]] Result<std::optional<TsigKey>> find_tsig_key(const Name& name);
  [[nodiscard]] Result<void> insert_tsig_key(const TsigKey& k);
  /// Returns how many went (0 or 1). Fails while a secondary still uses the key.
  [[nodiscard]] Result<int> delete_tsig_key(const Name& name);
  [[nodiscard]] Result<std::vector<Secondary>> secondaries(std::int64_t domain_id);
  [[nodiscard]] Result<std::int64_t> insert_secondary(const Secondary& s);
  /// Returns how many went (0 or 1).
  [[nodiscard]] Result<int> delete_secondary(std::int64_t domain_id, const std::string& address);

  // ACME DNS-01 by UPDATE.
  /// The TSIG keys allowed to UPDATE the domain's _acme-challenge TXT records.
  [[nodiscard]] Result<std::vector<Name>> acme_update_keys(std::int64_t domain_id);
  [[nodiscard]] Result<void> allow_acme_update(std::int64_t domain_id, const Name& key,
                                               UnixTime now);
  /// Returns how many went (0 or 1).
  [[nodiscard]] Result<int> deny_acme_update(std::int64_t domain_id, const Name& key);
  /// Every domain a key may update or transfer: what `tsig del` must check first.
  [[nodiscard]] Result<std::vector<std::string>> tsig_key_uses(const Name& key);
  [[nodiscard]] Result<std::vector<AcmeChallenge>> acme_challenges(std::int64_t domain_id);
  /// Adds the record, or renews its TTL and expiry when it is there already.
  [[nodiscard]] Result<void> put_acme_challenge(std::int64_t domain_id, const AcmeChallenge& c);
  /// Deletes the records at `owner` (only the one with `rdata` when given); returns how many.
  [[nodiscard]] Result<int> delete_acme_challenges(std::int64_t domain_id, const Name& owner,
                                                   const std::vector<std::uint8_t>* rdata);
  /// When the first challenge record expires, if there is one (a cheap indexed read).
  [[nodiscard]] Result<std::optional<UnixTime>> next_acme_expiry();
  /// Deletes the records expired at `now`; returns the ids of the domains that lost some.
  [[nodiscard]] Result<std::vector<std::int64_t>> expire_acme_challenges(UnixTime now);

  /// Appends to the audit log.
  [[nodiscard]] Result<void> audit(UnixTime at, std::string_view actor, std::string_view action,
                                   std::string_view detail);
  struct AuditEntry {
    UnixTime at;
    std::string actor, action, detail;
  };
  [[nodiscard]] Result<std::vector<AuditEntry>> audit_log();

  [[nodiscard]] Result<void> exec(const char* sql);

private:
  struct Impl;
  explicit Store(std::unique_ptr<Impl> impl);
  /// The records of a domain, or only those at `owner` when it is given.
  Result<std::vector<Rr>> read_records(std::int64_t domain_id, const Name* owner);
  std::unique_ptr<Impl> impl_;
};

} // namespace moat
