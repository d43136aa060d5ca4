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
