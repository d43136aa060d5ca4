#pragma once

#include "core/clock.hpp"
#include "core/error.hpp"
#include "core/name.hpp"
#include "core/rr.hpp"

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

/// A domain (zone) and its signing settings.
struct Domain {
  std::int64_t id = 0;
  Name name;                        ///< apex, lower case
  SoaFields soa;
  std::uint32_t serial = 0;         ///< SOA serial of the current desired state
  std::uint8_t algorithm = 13;      ///< DNSSEC algorithm number of new keys
  bool nsec3 = false;               ///< NSEC3 (0 iterations, no salt) instead of NSEC
  std::uint32_t dnskey_ttl = 3600;
  std::int64_t version = 0;         ///< bumped by every change; daemons poll it
  UnixTime created = 0;
};

/// A DNSSEC key as the store keeps it.
struct KeyRecord {
  std::int64_t id = 0;
  std::int64_t domain_id = 0;
  std::string role;                 ///< "ksk" or "zsk"
  std::uint8_t algorithm = 0;
  std::uint16_t key_tag = 0;
  std::vector<std::uint8_t> dnskey_rdata;
  std::string private_pem;          ///< PKCS#8 PEM; never logged
  std::string state;                ///< "active" (issue 4 adds the rollover states)
  UnixTime created = 0;
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
  [[nodiscard]] Result<std::vector<Domain>> list_domains();
  [[nodiscard]] Result<std::int64_t> insert_domain(const Domain& d);
  [[nodiscard]] Result<void> update_domain(const Domain& d);
  [[nodiscard]] Result<void> delete_domain(std::int64_t id);
  /// Marks a change: serial = max(serial + 1, now) in serial arithmetic, version + 1.
  [[nodiscard]] Result<void> touch_domain(std::int64_t id, UnixTime now);

  /// (id, version) of every domain: what the server polls to notice changes cheaply.
  struct DomainVersion {
    std::int64_t id;
    std::int64_t version;
  };
  [[nodiscard]] Result<std::vector<DomainVersion>> domain_versions();

  // Records (desired state, without SOA and DNSSEC records).
  [[nodiscard]] Result<std::vector<Rr>> records(std::int64_t domain_id);
  /// Inserts a record; returns false when the identical record already exists. A TTL
  /// different from the RRset's existing TTL updates the whole RRset (one TTL per RRset).
  [[nodiscard]] Result<bool> insert_record(std::int64_t domain_id, const Rr& rr);
  /// Deletes the records at owner/type (only the one with `rdata` when given); returns how
  /// many went.
  [[nodiscard]] Result<int> delete_records(std::int64_t domain_id, const Name& owner,
                                           std::uint16_t type,
                                           const std::vector<std::uint8_t>* rdata);
  [[nodiscard]] Result<void> delete_all_records(std::int64_t domain_id);

  // Keys.
  [[nodiscard]] Result<std::vector<KeyRecord>> keys(std::int64_t domain_id);
  [[nodiscard]] Result<std::int64_t> insert_key(const KeyRecord& k);

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
  std::unique_ptr<Impl> impl_;
};

} // namespace moat
