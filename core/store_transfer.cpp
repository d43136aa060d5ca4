// The store's tables for zone transfers: TSIG keys and secondaries.
#include "core/store.hpp"
#include "core/store_impl.hpp"

namespace moat {
namespace {

Result<TsigKey> read_key(sqlite3_stmt* s) {
  TsigKey k;
  auto name = Name::parse(column_text(s, 0));
  if (!name)
    return fail("database: corrupt TSIG key name");
  k.name = *name;
  k.algorithm = column_text(s, 1);
  k.secret = column_blob(s, 2);
  k.created = sqlite3_column_int64(s, 3);
  return k;
}

Result<Secondary> read_secondary(sqlite3_stmt* s) {
  Secondary x;
  x.id = sqlite3_column_int64(s, 0);
  x.domain_id = sqlite3_column_int64(s, 1);
  x.address = column_text(s, 2);
  x.port = static_cast<std::uint16_t>(sqlite3_column_int(s, 3));
  if (sqlite3_column_type(s, 4) != SQLITE_NULL) {
    auto name = Name::parse(column_text(s, 4));
    if (!name)
      return fail("database: corrupt secondary row " + std::to_string(x.id));
    x.tsig_key = *name;
  }
  x.created = sqlite3_column_int64(s, 5);
  return x;
}

std::string key_text(const Name& n) { return n.lowercased().to_string(); }

} // namespace

Result<std::vector<TsigKey>> Store::tsig_keys() {
  return impl_->all_rows<TsigKey>(
      "SELECT name, algorithm, secret, created FROM tsig_keys ORDER BY name", read_key);
}

Result<std::optional<TsigKey>> Store::find_tsig_key(const Name& name) {
  auto row = impl_->first_row<Result<TsigKey>>(
      "SELECT name, algorithm, secret, created FROM tsig_keys WHERE name = ?", read_key,
      key_text(name));
  if (!row)
    return std::unexpected(row.error());
  if (!*row)
    return std::optional<TsigKey>();
  if (!**row)
    return std::unexpected((**row).error());
  return std::optional<TsigKey>(std::move(***row));
}

Result<void> Store::insert_tsig_key(const TsigKey& k) {
  auto r = impl_->run("INSERT INTO tsig_keys (name, algorithm, secret, created) VALUES (?,?,?,?)",
                      key_text(k.name), k.algorithm, k.secret, std::int64_t{k.created});
  if (!r)
    return std::unexpected(r.error());
  return {};
}

Result<int> Store::delete_tsig_key(const Name& name) {
  return impl_->run("DELETE FROM tsig_keys WHERE name = ?", key_text(name));
}

Result<std::vector<Secondary>> Store::secondaries(std::int64_t domain_id) {
  return impl_->all_rows<Secondary>(
      "SELECT id, domain_id, address, port, tsig_key, created FROM secondaries "
      "WHERE domain_id = ? ORDER BY id",
      read_secondary, domain_id);
}

Result<std::int64_t> Store::insert_secondary(const Secondary& x) {
  auto s =
      impl_->statement("INSERT INTO secondaries (domain_id, address, port, tsig_key, created) "
                       "VALUES (?,?,?,NULLIF(?, ''),?)",
                       x.domain_id, x.address, std::int64_t{x.port},
                       x.tsig_key ? key_text(*x.tsig_key) : std::string(), std::int64_t{x.created});
  if (!s)
    return std::unexpected(s.error());
  if (sqlite3_step(s->get()) != SQLITE_DONE)
    return std::unexpected(impl_->error("database"));
  return sqlite3_last_insert_rowid(impl_->db.get());
}

Result<int> Store::delete_secondary(std::int64_t domain_id, const std::string& address) {
  return impl_->run("DELETE FROM secondaries WHERE domain_id = ? AND address = ?", domain_id,
                    address);
}

} // namespace moat

namespace moat {

Result<std::vector<Name>> Store::acme_update_keys(std::int64_t domain_id) {
  return impl_->all_rows<Name>(
      "SELECT tsig_key FROM acme_update_keys WHERE domain_id = ? ORDER BY tsig_key",
      [](sqlite3_stmt* s) -> Result<Name> { return Name::parse(column_text(s, 0)); }, domain_id);
}

Result<void> Store::allow_acme_update(std::int64_t domain_id, const Name& key, UnixTime now) {
  auto r = impl_->run("INSERT OR IGNORE INTO acme_update_keys (domain_id, tsig_key, created) "
                      "VALUES (?,?,?)",
                      domain_id, key.lowercased().to_string(), std::int64_t{now});
  return r ? Result<void>{} : std::unexpected(r.error());
}

Result<int> Store::deny_acme_update(std::int64_t domain_id, const Name& key) {
  return impl_->run("DELETE FROM acme_update_keys WHERE domain_id = ? AND tsig_key = ?", domain_id,
                    key.lowercased().to_string());
}

Result<std::vector<std::string>> Store::tsig_key_uses(const Name& key) {
  return impl_->all_rows<std::string>(
      "SELECT 'secondary ' || s.address || ' of ' || d.name FROM secondaries s "
      "JOIN domains d ON d.id = s.domain_id WHERE s.tsig_key = ?1 "
      "UNION ALL SELECT 'ACME updates of ' || d.name FROM acme_update_keys a "
      "JOIN domains d ON d.id = a.domain_id WHERE a.tsig_key = ?1",
      [](sqlite3_stmt* s) -> Result<std::string> { return column_text(s, 0); },
      key.lowercased().to_string());
}

Result<std::vector<AcmeChallenge>> Store::acme_challenges(std::int64_t domain_id) {
  return impl_->all_rows<AcmeChallenge>(
      "SELECT owner, ttl, rdata, created, expires FROM acme_challenges WHERE domain_id = ? "
      "ORDER BY id",
      [](sqlite3_stmt* s) -> Result<AcmeChallenge> {
        auto owner = Name::from_wire(column_blob(s, 0));
        if (!owner)
          return fail("database: corrupt ACME challenge owner");
        return AcmeChallenge{*owner, static_cast<std::uint32_t>(sqlite3_column_int64(s, 1)),
                             column_blob(s, 2), sqlite3_column_int64(s, 3),
                             sqlite3_column_int64(s, 4)};
      },
      domain_id);
}

Result<void> Store::put_acme_challenge(std::int64_t domain_id, const AcmeChallenge& c) {
  auto r =
      impl_->run("INSERT INTO acme_challenges (domain_id, owner, ttl, rdata, created, expires) "
                 "VALUES (?,?,?,?,?,?) ON CONFLICT (domain_id, owner, rdata) DO UPDATE SET "
                 "ttl = excluded.ttl, expires = excluded.expires",
                 domain_id, c.owner, std::int64_t{c.ttl}, c.rdata, std::int64_t{c.created},
                 std::int64_t{c.expires});
  return r ? Result<void>{} : std::unexpected(r.error());
}

Result<int> Store::delete_acme_challenges(std::int64_t domain_id, const Name& owner,
                                          const std::vector<std::uint8_t>* rdata) {
  if (rdata != nullptr)
    return impl_->run("DELETE FROM acme_challenges WHERE domain_id = ? AND owner = ? AND rdata = ?",
                      domain_id, owner, *rdata);
  return impl_->run("DELETE FROM acme_challenges WHERE domain_id = ? AND owner = ?", domain_id,
                    owner);
}

Result<std::optional<UnixTime>> Store::next_acme_expiry() {
  return impl_->first_row<UnixTime>(
      "SELECT MIN(expires) FROM acme_challenges HAVING COUNT(*) > 0",
      [](sqlite3_stmt* s) { return UnixTime{sqlite3_column_int64(s, 0)}; });
}

Result<std::vector<std::int64_t>> Store::expire_acme_challenges(UnixTime now) {
  auto ids = impl_->all_rows<std::int64_t>(
      "SELECT DISTINCT domain_id FROM acme_challenges WHERE expires <= ?",
      [](sqlite3_stmt* s) -> Result<std::int64_t> { return sqlite3_column_int64(s, 0); },
      std::int64_t{now});
  if (!ids || ids->empty())
    return ids;
  auto r = impl_->run("DELETE FROM acme_challenges WHERE expires <= ?", std::int64_t{now});
  if (!r)
    return std::unexpected(r.error());
  return ids;
}

} // namespace moat
