#include "core/store.hpp"

#include "core/store_impl.hpp"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sqlite3.h>
#include <sys/stat.h>
#include <unistd.h>

namespace moat {

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

Result<Store> Store::open(const std::string& path, Mode mode) {
  struct stat st {};
  bool exists = ::stat(path.c_str(), &st) == 0;
  if (!exists && mode == Mode::kOpenExisting)
    return fail("no database at " + path + " (run 'moat init' first, or pass --db)");
  if (!exists) {
    // Create it 0600 ourselves: it will hold private keys.
    int fd = ::open(path.c_str(), O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (fd < 0)
      return fail("cannot create database " + path + ": " + std::strerror(errno));
    ::close(fd);
  }
  sqlite3* raw = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &raw, SQLITE_OPEN_READWRITE | SQLITE_OPEN_FULLMUTEX, nullptr);
  auto impl = std::make_unique<Impl>();
  impl->db.reset(raw);
  if (rc != SQLITE_OK)
    return fail("cannot open database " + path + ": " +
                (raw ? sqlite3_errmsg(raw) : std::string("out of memory")));
  sqlite3_busy_timeout(raw, 5000);
  Store store(std::move(impl));
  for (const char* pragma : {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=FULL",
                             "PRAGMA foreign_keys=ON", "PRAGMA secure_delete=ON"}) {
    if (auto r = store.exec(pragma); !r)
      return fail("cannot open database " + path + ": " + r.error().message);
  }
  auto version = store.schema_version();
  if (!version)
    return fail("cannot read database " + path + ": " + version.error().message);
  if (*version > kSchemaVersion)
    return fail("database " + path + " has schema " + std::to_string(*version) +
                ", newer than this moat (" + std::to_string(kSchemaVersion) + ")");
  for (int v = *version; v < kSchemaVersion; ++v) {
    auto r = store.transaction([&]() -> Result<void> {
      if (auto e = store.exec(kMigrations[v]); !e)
        return e;
      return store.exec(("PRAGMA user_version=" + std::to_string(v + 1)).c_str());
    });
    if (!r)
      return fail("cannot migrate database " + path + " to schema " + std::to_string(v + 1) + ": " +
                  r.error().message);
  }
  return store;
}

Result<void> Store::exec(const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(impl_->db.get(), sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : "unknown error";
    sqlite3_free(msg);
    return fail("database: " + m);
  }
  return {};
}

Result<int> Store::schema_version() {
  auto s = impl_->prepare("PRAGMA user_version");
  if (!s)
    return std::unexpected(s.error());
  if (sqlite3_step(s->get()) != SQLITE_ROW)
    return std::unexpected(impl_->error("database"));
  return sqlite3_column_int(s->get(), 0);
}

Result<std::int64_t> Store::data_version() {
  auto s = impl_->prepare("PRAGMA data_version");
  if (!s)
    return std::unexpected(s.error());
  if (sqlite3_step(s->get()) != SQLITE_ROW)
    return std::unexpected(impl_->error("database"));
  return sqlite3_column_int64(s->get(), 0);
}

namespace {

constexpr const char* kDomainColumns =
    "SELECT id, name, soa_mname, soa_rname, soa_refresh, soa_retry, soa_expire, soa_minimum, "
    "soa_ttl, serial, algorithm, nsec3, dnskey_ttl, version, created, tlsa_issuer, zsk_lifetime, "
    "ksk_lifetime, sig_validity, sig_refresh, parent_ds_ttl FROM domains";

Result<Domain> read_domain(sqlite3_stmt* s) {
  Domain d;
  d.id = sqlite3_column_int64(s, 0);
  auto name = Name::parse(column_text(s, 1));
  auto mname = Name::parse(column_text(s, 2));
  auto rname = Name::parse(column_text(s, 3));
  if (!name || !mname || !rname)
    return fail("database: corrupt domain row " + std::to_string(d.id));
  d.name = *name;
  d.soa.mname = *mname;
  d.soa.rname = *rname;
  d.soa.refresh = static_cast<std::uint32_t>(sqlite3_column_int64(s, 4));
  d.soa.retry = static_cast<std::uint32_t>(sqlite3_column_int64(s, 5));
  d.soa.expire = static_cast<std::uint32_t>(sqlite3_column_int64(s, 6));
  d.soa.minimum = static_cast<std::uint32_t>(sqlite3_column_int64(s, 7));
  d.soa.ttl = static_cast<std::uint32_t>(sqlite3_column_int64(s, 8));
  d.serial = static_cast<std::uint32_t>(sqlite3_column_int64(s, 9));
  d.algorithm = static_cast<std::uint8_t>(sqlite3_column_int(s, 10));
  d.nsec3 = sqlite3_column_int(s, 11) != 0;
  d.dnskey_ttl = static_cast<std::uint32_t>(sqlite3_column_int64(s, 12));
  d.version = sqlite3_column_int64(s, 13);
  d.created = sqlite3_column_int64(s, 14);
  d.tlsa_issuer = sqlite3_column_int(s, 15) != 0;
  d.zsk_lifetime = static_cast<std::uint32_t>(sqlite3_column_int64(s, 16));
  d.ksk_lifetime = static_cast<std::uint32_t>(sqlite3_column_int64(s, 17));
  d.sig_validity = static_cast<std::uint32_t>(sqlite3_column_int64(s, 18));
  d.sig_refresh = static_cast<std::uint32_t>(sqlite3_column_int64(s, 19));
  d.parent_ds_ttl = static_cast<std::uint32_t>(sqlite3_column_int64(s, 20));
  return d;
}

} // namespace

namespace {

// One domain row selected by `where` (a column compared with the one argument), if any.
// (A template on the Impl type, which is private to Store and cannot be named here.)
template <class Impl, class Arg>
Result<std::optional<Domain>> one_domain(Impl& impl, const char* where, const Arg& arg) {
  std::string sql = std::string(kDomainColumns) + " WHERE " + where + " = ?";
  auto s = impl.statement(sql.c_str(), arg);
  if (!s)
    return std::unexpected(s.error());
  int rc = sqlite3_step(s->get());
  if (rc == SQLITE_DONE)
    return std::optional<Domain>();
  if (rc != SQLITE_ROW)
    return std::unexpected(impl.error("database"));
  auto d = read_domain(s->get());
  if (!d)
    return std::unexpected(d.error());
  return std::optional<Domain>(std::move(*d));
}

} // namespace

Result<std::optional<Domain>> Store::find_domain(const Name& name) {
  return one_domain(*impl_, "name", name.lowercased().to_string());
}

Result<std::optional<Domain>> Store::find_domain_by_id(std::int64_t id) {
  return one_domain(*impl_, "id", id);
}

Result<std::vector<Domain>> Store::list_domains() {
  std::string sql = std::string(kDomainColumns) + " ORDER BY name";
  auto s = impl_->prepare(sql.c_str());
  if (!s)
    return std::unexpected(s.error());
  std::vector<Domain> out;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    auto d = read_domain(s->get());
    if (!d)
      return std::unexpected(d.error());
    out.push_back(std::move(*d));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(impl_->error("database"));
  return out;
}

Result<std::int64_t> Store::insert_domain(const Domain& d) {
  auto existing = find_domain(d.name);
  if (!existing)
    return std::unexpected(existing.error());
  if (*existing)
    return fail("domain " + d.name.to_string() + " already exists");
  auto r = impl_->run(
      "INSERT INTO domains (name, soa_mname, soa_rname, soa_refresh, soa_retry, soa_expire, "
      "soa_minimum, soa_ttl, serial, algorithm, nsec3, dnskey_ttl, version, created, "
      "tlsa_issuer, zsk_lifetime, ksk_lifetime, sig_validity, sig_refresh, parent_ds_ttl) "
      "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
      d.name.lowercased().to_string(), d.soa.mname.lowercased().to_string(),
      d.soa.rname.lowercased().to_string(), std::int64_t{d.soa.refresh}, std::int64_t{d.soa.retry},
      std::int64_t{d.soa.expire}, std::int64_t{d.soa.minimum}, std::int64_t{d.soa.ttl},
      std::int64_t{d.serial}, std::int64_t{d.algorithm}, std::int64_t{d.nsec3 ? 1 : 0},
      std::int64_t{d.dnskey_ttl}, std::int64_t{d.version > 0 ? d.version : 1},
      std::int64_t{d.created}, std::int64_t{d.tlsa_issuer ? 1 : 0},
      std::int64_t{d.zsk_lifetime}, std::int64_t{d.ksk_lifetime}, std::int64_t{d.sig_validity},
      std::int64_t{d.sig_refresh}, std::int64_t{d.parent_ds_ttl});
  if (!r)
    return std::unexpected(r.error());
  return sqlite3_last_insert_rowid(impl_->db.get());
}

Result<void> Store::update_domain(const Domain& d) {
  auto r =
      impl_->run("UPDATE domains SET soa_mname=?, soa_rname=?, soa_refresh=?, soa_retry=?, "
                 "soa_expire=?, soa_minimum=?, soa_ttl=?, serial=?, algorithm=?, nsec3=?, "
                 "dnskey_ttl=?, tlsa_issuer=?, zsk_lifetime=?, ksk_lifetime=?, sig_validity=?, "
                 "sig_refresh=?, parent_ds_ttl=? WHERE id=?",
                 d.soa.mname.lowercased().to_string(), d.soa.rname.lowercased().to_string(),
                 std::int64_t{d.soa.refresh}, std::int64_t{d.soa.retry}, std::int64_t{d.soa.expire},
                 std::int64_t{d.soa.minimum}, std::int64_t{d.soa.ttl}, std::int64_t{d.serial},
                 std::int64_t{d.algorithm}, std::int64_t{d.nsec3 ? 1 : 0},
                 std::int64_t{d.dnskey_ttl}, std::int64_t{d.tlsa_issuer ? 1 : 0},
                 std::int64_t{d.zsk_lifetime}, std::int64_t{d.ksk_lifetime},
                 std::int64_t{d.sig_validity}, std::int64_t{d.sig_refresh},
                 std::int64_t{d.parent_ds_ttl}, d.id);
  if (!r)
    return std::unexpected(r.error());
  if (*r == 0)
    return fail("no domain with id " + std::to_string(d.id));
  return {};
}

Result<void> Store::delete_domain(std::int64_t id) {
  auto r = impl_->run("DELETE FROM domains WHERE id=?", id);
  if (!r)
    return std::unexpected(r.error());
  if (*r == 0)
    return fail("no domain with id " + std::to_string(id));
  return {};
}

Result<std::uint32_t> Store::touch_domain(std::int64_t id, UnixTime now) {
  // RFC 1982 serial arithmetic: the new serial must be "greater" than the old one. Use the
  // current time when it is ahead of serial + 1 (Knot's "unixtime" policy), else serial + 1.
  auto r = impl_->first_row<std::uint32_t>(
      "UPDATE domains SET version = version + 1, serial = CASE "
      "WHEN ((? - (serial + 1)) & 4294967295) BETWEEN 1 AND 2147483647 THEN (? & 4294967295) "
      "ELSE ((serial + 1) & 4294967295) END WHERE id = ? RETURNING serial",
      [](sqlite3_stmt* s) { return static_cast<std::uint32_t>(sqlite3_column_int64(s, 0)); },
      std::int64_t{now}, std::int64_t{now}, id);
  if (!r)
    return std::unexpected(r.error());
  if (!*r)
    return fail("no domain with id " + std::to_string(id));
  return **r;
}

Result<std::vector<Store::DomainVersion>> Store::domain_versions() {
  auto s = impl_->prepare("SELECT id, version FROM domains ORDER BY id");
  if (!s)
    return std::unexpected(s.error());
  std::vector<DomainVersion> out;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW)
    out.push_back({sqlite3_column_int64(s->get(), 0), sqlite3_column_int64(s->get(), 1)});
  if (rc != SQLITE_DONE)
    return std::unexpected(impl_->error("database"));
  return out;
}

Result<std::vector<Rr>> Store::records(std::int64_t domain_id) {
  return read_records(domain_id, nullptr);
}

Result<std::vector<Rr>> Store::records_at(std::int64_t domain_id, const Name& owner) {
  return read_records(domain_id, &owner);
}

Result<std::vector<Rr>> Store::read_records(std::int64_t domain_id, const Name* owner) {
  constexpr const char* kAll = "SELECT owner, type, ttl, rdata FROM records WHERE domain_id = ?";
  constexpr const char* kAt =
      "SELECT owner, type, ttl, rdata FROM records WHERE domain_id = ? AND owner = ?";
  auto s = owner != nullptr ? impl_->statement(kAt, domain_id, owner->lowercased())
                            : impl_->statement(kAll, domain_id);
  if (!s)
    return std::unexpected(s.error());
  std::vector<Rr> out;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    auto owner = Name::from_wire(column_blob(s->get(), 0));
    if (!owner)
      return fail("database: corrupt record owner in domain " + std::to_string(domain_id));
    out.push_back(Rr{std::move(*owner), static_cast<std::uint16_t>(sqlite3_column_int(s->get(), 1)),
                     static_cast<std::uint32_t>(sqlite3_column_int64(s->get(), 2)),
                     column_blob(s->get(), 3)});
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(impl_->error("database"));
  return out;
}

Result<bool> Store::insert_record(std::int64_t domain_id, const Rr& rr) {
  // One TTL per RRset (RFC 2181 §5.2): the newest TTL applies to every member.
  auto u = impl_->run("UPDATE records SET ttl = ? WHERE domain_id = ? AND owner = ? AND type = ?",
                      std::int64_t{rr.ttl}, domain_id, rr.owner, std::int64_t{rr.type});
  if (!u)
    return std::unexpected(u.error());
  auto r = impl_->run("INSERT OR IGNORE INTO records (domain_id, owner, type, ttl, rdata) "
                      "VALUES (?,?,?,?,?)",
                      domain_id, rr.owner, std::int64_t{rr.type}, std::int64_t{rr.ttl}, rr.rdata);
  if (!r)
    return std::unexpected(r.error());
  return *r > 0;
}

Result<int> Store::delete_records(std::int64_t domain_id, const Name& owner, std::uint16_t type,
                                  const std::vector<std::uint8_t>* rdata) {
  if (rdata != nullptr)
    return impl_->run(
        "DELETE FROM records WHERE domain_id = ? AND owner = ? AND type = ? AND rdata = ?",
        domain_id, owner, std::int64_t{type}, *rdata);
  return impl_->run("DELETE FROM records WHERE domain_id = ? AND owner = ? AND type = ?", domain_id,
                    owner, std::int64_t{type});
}

Result<void> Store::delete_all_records(std::int64_t domain_id) {
  auto r = impl_->run("DELETE FROM records WHERE domain_id = ?", domain_id);
  if (!r)
    return std::unexpected(r.error());
  return {};
}

Result<Store::ZoneChanges> Store::zone_changes(std::int64_t after, int limit) {
  ZoneChanges out;
  auto forgotten = impl_->first_row<std::int64_t>(
      "SELECT up_to FROM zone_changes_forgotten", [](sqlite3_stmt* s) { return sqlite3_column_int64(s, 0); });
  if (!forgotten)
    return std::unexpected(forgotten.error());
  out.missed = after < forgotten->value_or(0);
  auto changes = impl_->all_rows<ZoneChange>(
      "SELECT id, domain_id, owner FROM zone_changes WHERE id > ? ORDER BY id LIMIT ?",
      [](sqlite3_stmt* s) -> Result<ZoneChange> {
        auto owner = Name::from_wire(column_blob(s, 2));
        if (!owner)
          return fail("database: corrupt owner in the change log");
        return ZoneChange{sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1),
                          owner->lowercased()};
      },
      after, std::int64_t{limit});
  if (!changes)
    return std::unexpected(changes.error());
  out.changes = std::move(*changes);
  return out;
}

Result<std::int64_t> Store::last_zone_change() {
  auto row = impl_->first_row<std::int64_t>(
      // Past the deleted part too: an empty log does not start again from 0.
      "SELECT MAX((SELECT COALESCE(MAX(id), 0) FROM zone_changes), "
      "(SELECT up_to FROM zone_changes_forgotten))",
      [](sqlite3_stmt* s) { return sqlite3_column_int64(s, 0); });
  if (!row)
    return std::unexpected(row.error());
  return row->value_or(0);
}

Result<void> Store::forget_zone_changes(std::int64_t up_to) {
  return transaction([&]() -> Result<void> {
    if (auto r = impl_->run("DELETE FROM zone_changes WHERE id <= ?", up_to); !r)
      return std::unexpected(r.error());
    auto r = impl_->run("UPDATE zone_changes_forgotten SET up_to = MAX(up_to, ?)", up_to);
    return r ? Result<void>{} : std::unexpected(r.error());
  });
}

namespace {

std::optional<UnixTime> column_optional_time(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL)
    return std::nullopt;
  return sqlite3_column_int64(s, i);
}

std::int64_t time_or_null(const std::optional<UnixTime>& t) { return t ? *t : -1; }
std::int64_t serial_or_null(const std::optional<std::uint32_t>& s) {
  return s ? std::int64_t{*s} : -1;
}

Result<KeyRecord> read_key(sqlite3_stmt* s) {
  KeyRecord k;
  k.id = sqlite3_column_int64(s, 0);
  k.domain_id = sqlite3_column_int64(s, 1);
  k.role = column_text(s, 2);
  k.algorithm = static_cast<std::uint8_t>(sqlite3_column_int(s, 3));
  k.key_tag = static_cast<std::uint16_t>(sqlite3_column_int(s, 4));
  k.dnskey_rdata = column_blob(s, 5);
  k.private_pem = column_text(s, 6);
  k.state = column_text(s, 7);
  k.created = sqlite3_column_int64(s, 8);
  k.published_at = column_optional_time(s, 9);
  k.active_at = column_optional_time(s, 10);
  k.retired_at = column_optional_time(s, 11);
  k.removed_at = column_optional_time(s, 12);
  if (auto serial = column_optional_time(s, 13))
    k.state_serial = static_cast<std::uint32_t>(*serial);
  k.ds_state = column_text(s, 14);
  k.ds_seen_at = column_optional_time(s, 15);
  return k;
}

} // namespace

Result<std::vector<KeyRecord>> Store::keys(std::int64_t domain_id) {
  return impl_->all_rows<KeyRecord>(
      "SELECT id, domain_id, role, algorithm, key_tag, dnskey_rdata, private_pem, state, created, "
      "published_at, active_at, retired_at, removed_at, state_serial, ds_state, ds_seen_at "
      "FROM keys WHERE domain_id = ? ORDER BY id",
      read_key, domain_id);
}

Result<std::int64_t> Store::insert_key(const KeyRecord& k) {
  auto r = impl_->run(
      "INSERT INTO keys (domain_id, role, algorithm, key_tag, dnskey_rdata, private_pem, state, "
      "created, published_at, active_at, retired_at, removed_at, state_serial, ds_state, "
      "ds_seen_at) VALUES (?,?,?,?,?,?,?,?,NULLIF(?, -1),NULLIF(?, -1),NULLIF(?, -1),"
      "NULLIF(?, -1),NULLIF(?, -1),?,NULLIF(?, -1))",
      k.domain_id, k.role, std::int64_t{k.algorithm}, std::int64_t{k.key_tag}, k.dnskey_rdata,
      k.private_pem, k.state, std::int64_t{k.created}, time_or_null(k.published_at),
      time_or_null(k.active_at), time_or_null(k.retired_at), time_or_null(k.removed_at),
      serial_or_null(k.state_serial), k.ds_state, time_or_null(k.ds_seen_at));
  if (!r)
    return std::unexpected(r.error());
  return sqlite3_last_insert_rowid(impl_->db.get());
}

Result<void> Store::update_key_state(const KeyRecord& k) {
  auto r =
      impl_->run("UPDATE keys SET state=?, published_at=NULLIF(?, -1), active_at=NULLIF(?, -1), "
                 "retired_at=NULLIF(?, -1), removed_at=NULLIF(?, -1), state_serial=NULLIF(?, -1), "
                 "ds_state=?, ds_seen_at=NULLIF(?, -1) WHERE id=?",
                 k.state, time_or_null(k.published_at), time_or_null(k.active_at),
                 time_or_null(k.retired_at), time_or_null(k.removed_at),
                 serial_or_null(k.state_serial), k.ds_state, time_or_null(k.ds_seen_at), k.id);
  if (!r)
    return std::unexpected(r.error());
  if (*r == 0)
    return fail("no key with id " + std::to_string(k.id));
  return {};
}

Result<void> Store::audit(UnixTime at, std::string_view actor, std::string_view action,
                          std::string_view detail) {
  auto r = impl_->run("INSERT INTO audit (at, actor, action, detail) VALUES (?,?,?,?)",
                      std::int64_t{at}, actor, action, detail);
  if (!r)
    return std::unexpected(r.error());
  return {};
}

Result<std::vector<Store::AuditEntry>> Store::audit_log() {
  auto s = impl_->prepare("SELECT at, actor, action, detail FROM audit ORDER BY id");
  if (!s)
    return std::unexpected(s.error());
  std::vector<AuditEntry> out;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW)
    out.push_back({sqlite3_column_int64(s->get(), 0), column_text(s->get(), 1),
                   column_text(s->get(), 2), column_text(s->get(), 3)});
  if (rc != SQLITE_DONE)
    return std::unexpected(impl_->error("database"));
  return out;
}

} // namespace moat
