// The store's tables for publication reports, MX hosts and certificates.
#include "core/store.hpp"
#include "core/store_impl.hpp"

namespace moat {
namespace {

// RFC 1982: true when a is at or after b.
bool serial_at_or_after(std::uint32_t a, std::uint32_t b) {
  return a == b || static_cast<std::int32_t>(a - b) > 0;
}

std::optional<std::uint32_t> column_optional_serial(sqlite3_stmt* s, int i) {
  if (sqlite3_column_type(s, i) == SQLITE_NULL)
    return std::nullopt;
  return static_cast<std::uint32_t>(sqlite3_column_int64(s, i));
}

constexpr const char* kMxColumns = "SELECT id, domain_id, host, priority, port, addresses, "
                                   "live_dir, on_live, state, wait_serial, created FROM mx_hosts";

Result<MxHost> read_mx(sqlite3_stmt* s) {
  MxHost h;
  h.id = sqlite3_column_int64(s, 0);
  h.domain_id = sqlite3_column_int64(s, 1);
  auto name = Name::parse(column_text(s, 2));
  if (!name)
    return fail("database: corrupt MX host row " + std::to_string(h.id));
  h.host = *name;
  h.priority = static_cast<std::uint16_t>(sqlite3_column_int(s, 3));
  h.port = static_cast<std::uint16_t>(sqlite3_column_int(s, 4));
  h.addresses = split_words(column_text(s, 5));
  h.live_dir = column_text(s, 6);
  h.on_live = column_text(s, 7);
  h.state = column_text(s, 8);
  h.wait_serial = column_optional_serial(s, 9);
  h.created = sqlite3_column_int64(s, 10);
  return h;
}

// -1 stands for NULL in the NULLIF(?, -1) of the statements below. (Written out as int64: with
// `v ? *v : -1` the -1 would be converted to uint32 and never match.)
std::int64_t or_null(const std::optional<std::uint32_t>& v) {
  return v ? std::int64_t{*v} : std::int64_t{-1};
}

} // namespace

Result<void> Store::record_publication(std::int64_t domain_id, std::uint32_t serial, UnixTime at,
                                       std::uint32_t max_ttl) {
  auto r = impl_->run("INSERT OR IGNORE INTO zone_publications (domain_id, serial, at, max_ttl) "
                      "VALUES (?,?,?,?)",
                      domain_id, std::int64_t{serial}, std::int64_t{at}, std::int64_t{max_ttl});
  if (!r)
    return std::unexpected(r.error());
  // One row per serial would grow without end. Waits are hours to days long: rows older than
  // kPublicationHistory go, except the newest, so that published_since() of an old serial
  // still answers (with a later, hence safer, time).
  auto pruned = impl_->run(
      "DELETE FROM zone_publications WHERE domain_id = ? AND at < ? AND rowid <> "
      "(SELECT rowid FROM zone_publications WHERE domain_id = ? ORDER BY at DESC, rowid DESC "
      "LIMIT 1)",
      domain_id, std::int64_t{at - kPublicationHistory}, domain_id);
  if (!pruned)
    return std::unexpected(pruned.error());
  return {};
}

Result<std::uint32_t> Store::max_published_ttl(std::int64_t domain_id) {
  auto s = impl_->statement(
      "SELECT COALESCE(MAX(max_ttl), 0) FROM zone_publications WHERE domain_id = ?", domain_id);
  if (!s)
    return std::unexpected(s.error());
  if (sqlite3_step(s->get()) != SQLITE_ROW)
    return std::unexpected(impl_->error("database"));
  return static_cast<std::uint32_t>(sqlite3_column_int64(s->get(), 0));
}

Result<std::optional<UnixTime>> Store::published_since(std::int64_t domain_id,
                                                       std::uint32_t serial) {
  auto s =
      impl_->statement("SELECT serial, at FROM zone_publications WHERE domain_id = ?", domain_id);
  if (!s)
    return std::unexpected(s.error());
  std::optional<UnixTime> first;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    auto served = static_cast<std::uint32_t>(sqlite3_column_int64(s->get(), 0));
    UnixTime at = sqlite3_column_int64(s->get(), 1);
    if (serial_at_or_after(served, serial) && (!first || at < *first))
      first = at;
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(impl_->error("database"));
  return first;
}

Result<std::optional<Store::Publication>> Store::latest_publication(std::int64_t domain_id) {
  auto s = impl_->statement(
      "SELECT serial, at FROM zone_publications WHERE domain_id = ? ORDER BY at DESC, rowid DESC "
      "LIMIT 1",
      domain_id);
  if (!s)
    return std::unexpected(s.error());
  int rc = sqlite3_step(s->get());
  if (rc == SQLITE_DONE)
    return std::optional<Publication>();
  if (rc != SQLITE_ROW)
    return std::unexpected(impl_->error("database"));
  return std::optional<Publication>(
      Publication{static_cast<std::uint32_t>(sqlite3_column_int64(s->get(), 0)),
                  sqlite3_column_int64(s->get(), 1)});
}

Result<std::vector<MxHost>> Store::mx_hosts(std::int64_t domain_id) {
  const std::string sql = std::string(kMxColumns) + " WHERE domain_id = ? ORDER BY priority, host";
  return impl_->all_rows<MxHost>(sql.c_str(), read_mx, domain_id);
}

Result<std::vector<MxHost>> Store::all_mx_hosts() {
  const std::string sql = std::string(kMxColumns) + " ORDER BY domain_id, priority, host";
  return impl_->all_rows<MxHost>(sql.c_str(), read_mx);
}

Result<std::vector<MxHost>> Store::mx_hosts_named(const Name& host) {
  const std::string sql = std::string(kMxColumns) + " WHERE host = ? ORDER BY domain_id";
  return impl_->all_rows<MxHost>(sql.c_str(), read_mx, host.lowercased().to_string());
}

Result<std::int64_t> Store::insert_mx_host(const MxHost& h) {
  auto r = impl_->run("INSERT INTO mx_hosts (domain_id, host, priority, port, addresses, live_dir, "
                      "on_live, state, wait_serial, created) "
                      "VALUES (?,?,?,?,?,?,?,?,NULLIF(?, -1),?)",
                      h.domain_id, h.host.lowercased().to_string(), std::int64_t{h.priority},
                      std::int64_t{h.port}, join_words(h.addresses), h.live_dir, h.on_live, h.state,
                      or_null(h.wait_serial), std::int64_t{h.created});
  if (!r)
    return std::unexpected(r.error());
  return sqlite3_last_insert_rowid(impl_->db.get());
}

Result<void> Store::update_mx_host(const MxHost& h) {
  auto r = impl_->run("UPDATE mx_hosts SET priority=?, port=?, addresses=?, live_dir=?, on_live=?, "
                      "state=?, wait_serial=NULLIF(?, -1) WHERE id=?",
                      std::int64_t{h.priority}, std::int64_t{h.port}, join_words(h.addresses),
                      h.live_dir, h.on_live, h.state, or_null(h.wait_serial), h.id);
  if (!r)
    return std::unexpected(r.error());
  if (*r == 0)
    return fail("no MX host with id " + std::to_string(h.id));
  return {};
}

Result<void> Store::delete_mx_host(std::int64_t id) {
  auto r = impl_->run("DELETE FROM mx_hosts WHERE id=?", id);
  if (!r)
    return std::unexpected(r.error());
  return {};
}

Result<std::vector<CertificateRecord>> Store::certificates(std::int64_t mx_host_id) {
  auto s = impl_->statement(
      "SELECT id, mx_host_id, state, fullchain_pem, key_pem, spki_sha256, issuer_spki_sha256, "
      "names, not_before, not_after, wait_serial, deployed, live_since FROM certificates "
      "WHERE mx_host_id = ? ORDER BY id",
      mx_host_id);
  if (!s)
    return std::unexpected(s.error());
  std::vector<CertificateRecord> out;
  int rc;
  while ((rc = sqlite3_step(s->get())) == SQLITE_ROW) {
    CertificateRecord c;
    sqlite3_stmt* st = s->get();
    c.id = sqlite3_column_int64(st, 0);
    c.mx_host_id = sqlite3_column_int64(st, 1);
    c.state = column_text(st, 2);
    c.fullchain_pem = column_text(st, 3);
    c.key_pem = column_text(st, 4);
    c.spki_sha256 = column_blob(st, 5);
    c.issuer_spki_sha256 = column_blob(st, 6);
    c.names = column_text(st, 7);
    c.not_before = sqlite3_column_int64(st, 8);
    c.not_after = sqlite3_column_int64(st, 9);
    c.wait_serial = column_optional_serial(st, 10);
    c.deployed = sqlite3_column_int64(st, 11);
    if (sqlite3_column_type(st, 12) != SQLITE_NULL)
      c.live_since = sqlite3_column_int64(st, 12);
    out.push_back(std::move(c));
  }
  if (rc != SQLITE_DONE)
    return std::unexpected(impl_->error("database"));
  return out;
}

Result<std::int64_t> Store::insert_certificate(const CertificateRecord& c) {
  auto r = impl_->run(
      "INSERT INTO certificates (mx_host_id, state, fullchain_pem, key_pem, spki_sha256, "
      "issuer_spki_sha256, names, not_before, not_after, wait_serial, deployed, live_since) "
      "VALUES (?,?,?,?,?,?,?,?,?,NULLIF(?, -1),?,NULLIF(?, -1))",
      c.mx_host_id, c.state, c.fullchain_pem, c.key_pem, c.spki_sha256, c.issuer_spki_sha256,
      c.names, std::int64_t{c.not_before}, std::int64_t{c.not_after}, or_null(c.wait_serial),
      std::int64_t{c.deployed}, std::int64_t{c.live_since.value_or(-1)});
  if (!r)
    return std::unexpected(r.error());
  return sqlite3_last_insert_rowid(impl_->db.get());
}

Result<void> Store::update_certificate(const CertificateRecord& c) {
  auto r =
      impl_->run("UPDATE certificates SET state=?, fullchain_pem=?, key_pem=?, "
                 "spki_sha256=?, issuer_spki_sha256=?, names=?, not_before=?, not_after=?, "
                 "wait_serial=NULLIF(?, -1), deployed=?, live_since=NULLIF(?, -1) WHERE id=?",
                 c.state, c.fullchain_pem, c.key_pem, c.spki_sha256, c.issuer_spki_sha256, c.names,
                 std::int64_t{c.not_before}, std::int64_t{c.not_after}, or_null(c.wait_serial),
                 std::int64_t{c.deployed}, std::int64_t{c.live_since.value_or(-1)}, c.id);
  if (!r)
    return std::unexpected(r.error());
  if (*r == 0)
    return fail("no certificate with id " + std::to_string(c.id));
  return {};
}

Result<void> Store::delete_certificate(std::int64_t id) {
  auto r = impl_->run("DELETE FROM certificates WHERE id=?", id);
  if (!r)
    return std::unexpected(r.error());
  return {};
}

} // namespace moat
