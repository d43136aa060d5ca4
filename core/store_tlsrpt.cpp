// The store's table of SMTP TLS reports (RFC 8460).
#include "core/store.hpp"
#include "core/store_impl.hpp"

namespace moat {

Result<std::optional<std::int64_t>> Store::insert_tlsrpt_report(const StoredTlsrptReport& r) {
  auto changed = impl_->run(
      "INSERT INTO tlsrpt_reports (domain_id, organization, report_id, range_start, range_end, "
      "received, source, json) VALUES (?,?,?,?,?,?,?,?) "
      "ON CONFLICT (domain_id, organization, report_id) DO NOTHING",
      r.domain_id, r.organization, r.report_id, std::int64_t{r.range_start},
      std::int64_t{r.range_end}, std::int64_t{r.received}, r.source, r.json);
  if (!changed)
    return std::unexpected(changed.error());
  if (*changed == 0)
    return std::optional<std::int64_t>();
  return std::optional<std::int64_t>(sqlite3_last_insert_rowid(impl_->db.get()));
}

Result<std::vector<StoredTlsrptReport>> Store::tlsrpt_reports(std::int64_t domain_id,
                                                              UnixTime since) {
  return impl_->all_rows<StoredTlsrptReport>(
      "SELECT id, domain_id, organization, report_id, range_start, range_end, received, source, "
      "json FROM tlsrpt_reports WHERE (?1 = 0 OR domain_id = ?1) AND range_end >= ?2 "
      "ORDER BY range_start, id",
      [](sqlite3_stmt* s) -> Result<StoredTlsrptReport> {
        StoredTlsrptReport r;
        r.id = sqlite3_column_int64(s, 0);
        r.domain_id = sqlite3_column_int64(s, 1);
        r.organization = column_text(s, 2);
        r.report_id = column_text(s, 3);
        r.range_start = sqlite3_column_int64(s, 4);
        r.range_end = sqlite3_column_int64(s, 5);
        r.received = sqlite3_column_int64(s, 6);
        r.source = column_text(s, 7);
        r.json = column_text(s, 8);
        return r;
      },
      domain_id, std::int64_t{since});
}

Result<Store::TlsrptVolume> Store::tlsrpt_received_since(std::int64_t domain_id, UnixTime since) {
  auto v = impl_->first_row<TlsrptVolume>(
      "SELECT count(*), coalesce(sum(length(CAST(json AS BLOB))), 0) FROM tlsrpt_reports "
      "WHERE domain_id = ? AND received >= ?",
      [](sqlite3_stmt* s) {
        return TlsrptVolume{sqlite3_column_int64(s, 0), sqlite3_column_int64(s, 1)};
      },
      domain_id, std::int64_t{since});
  if (!v)
    return std::unexpected(v.error());
  return v->value_or(TlsrptVolume{});
}

} // namespace moat
