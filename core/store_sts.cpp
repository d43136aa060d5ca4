// The store's tables for MTA-STS policies, what moat-httpsd serves, and TLSRPT.
#include "core/store.hpp"
#include "core/store_impl.hpp"

namespace moat {
namespace {

Result<void> done(const Result<int>& r) {
  if (!r)
    return std::unexpected(r.error());
  return {};
}

} // namespace

Result<std::optional<StsPolicyRecord>> Store::sts_policy(std::int64_t domain_id) {
  return impl_->first_row<StsPolicyRecord>(
      "SELECT domain_id, mode, max_age, mx_patterns, delete_requested, updated, "
      "https_addresses FROM sts_policies WHERE domain_id = ?",
      [](sqlite3_stmt* s) {
        StsPolicyRecord p;
        p.domain_id = sqlite3_column_int64(s, 0);
        p.mode = column_text(s, 1);
        p.max_age = static_cast<std::uint32_t>(sqlite3_column_int64(s, 2));
        p.mx_patterns = split_words(column_text(s, 3));
        p.delete_requested = sqlite3_column_int(s, 4) != 0;
        p.updated = sqlite3_column_int64(s, 5);
        p.https_addresses = split_words(column_text(s, 6));
        return p;
      },
      domain_id);
}

Result<void> Store::put_sts_policy(const StsPolicyRecord& p) {
  return done(impl_->run(
      "INSERT INTO sts_policies (domain_id, mode, max_age, mx_patterns, delete_requested, updated, "
      "https_addresses) VALUES (?,?,?,?,?,?,?) ON CONFLICT(domain_id) DO UPDATE SET "
      "mode=excluded.mode, max_age=excluded.max_age, mx_patterns=excluded.mx_patterns, "
      "delete_requested=excluded.delete_requested, updated=excluded.updated, "
      "https_addresses=excluded.https_addresses",
      p.domain_id, p.mode, std::int64_t{p.max_age}, join_words(p.mx_patterns),
      std::int64_t{p.delete_requested ? 1 : 0}, std::int64_t{p.updated},
      join_words(p.https_addresses)));
}

Result<void> Store::delete_sts_policy(std::int64_t domain_id) {
  return done(impl_->run("DELETE FROM sts_policies WHERE domain_id = ?", domain_id));
}

Result<std::optional<StsServed>> Store::sts_served(std::int64_t domain_id) {
  return impl_->first_row<StsServed>(
      "SELECT domain_id, policy_id, policy_text, since, wait_serial, none_until "
      "FROM sts_served WHERE domain_id = ?",
      [](sqlite3_stmt* s) {
        StsServed v;
        v.domain_id = sqlite3_column_int64(s, 0);
        v.policy_id = column_text(s, 1);
        v.policy_text = column_text(s, 2);
        v.since = sqlite3_column_int64(s, 3);
        v.wait_serial = static_cast<std::uint32_t>(sqlite3_column_int64(s, 4));
        if (sqlite3_column_type(s, 5) != SQLITE_NULL)
          v.none_until = sqlite3_column_int64(s, 5);
        return v;
      },
      domain_id);
}

Result<void> Store::put_sts_served(const StsServed& v) {
  return done(impl_->run(
      "INSERT INTO sts_served (domain_id, policy_id, policy_text, since, wait_serial, none_until) "
      "VALUES (?,?,?,?,?,NULLIF(?, -1)) ON CONFLICT(domain_id) DO UPDATE SET "
      "policy_id=excluded.policy_id, policy_text=excluded.policy_text, since=excluded.since, "
      "wait_serial=excluded.wait_serial, none_until=excluded.none_until",
      v.domain_id, v.policy_id, v.policy_text, std::int64_t{v.since}, std::int64_t{v.wait_serial},
      std::int64_t{v.none_until ? *v.none_until : -1}));
}

Result<void> Store::delete_sts_served(std::int64_t domain_id) {
  return done(impl_->run("DELETE FROM sts_served WHERE domain_id = ?", domain_id));
}

Result<std::optional<WebCertificate>> Store::web_certificate(std::int64_t domain_id) {
  return impl_->first_row<WebCertificate>(
      "SELECT domain_id, fullchain_pem, key_pem, not_after, deployed FROM web_certificates "
      "WHERE domain_id = ?",
      [](sqlite3_stmt* s) {
        WebCertificate c;
        c.domain_id = sqlite3_column_int64(s, 0);
        c.fullchain_pem = column_text(s, 1);
        c.key_pem = column_text(s, 2);
        c.not_after = sqlite3_column_int64(s, 3);
        c.deployed = sqlite3_column_int64(s, 4);
        return c;
      },
      domain_id);
}

Result<void> Store::put_web_certificate(const WebCertificate& c) {
  return done(impl_->run(
      "INSERT INTO web_certificates (domain_id, fullchain_pem, key_pem, not_after, deployed) "
      "VALUES (?,?,?,?,?) ON CONFLICT(domain_id) DO UPDATE SET "
      "fullchain_pem=excluded.fullchain_pem, key_pem=excluded.key_pem, "
      "not_after=excluded.not_after, deployed=excluded.deployed",
      c.domain_id, c.fullchain_pem, c.key_pem, std::int64_t{c.not_after},
      std::int64_t{c.deployed}));
}

Result<std::optional<std::string>> Store::tlsrpt_rua(std::int64_t domain_id) {
  return impl_->first_row<std::string>(
      "SELECT rua FROM tlsrpt WHERE domain_id = ?",
      [](sqlite3_stmt* s) { return column_text(s, 0); }, domain_id);
}

Result<void> Store::put_tlsrpt_rua(std::int64_t domain_id, const std::string& rua) {
  return done(impl_->run("INSERT INTO tlsrpt (domain_id, rua) VALUES (?,?) "
                         "ON CONFLICT(domain_id) DO UPDATE SET rua=excluded.rua",
                         domain_id, rua));
}

Result<void> Store::delete_tlsrpt(std::int64_t domain_id) {
  return done(impl_->run("DELETE FROM tlsrpt WHERE domain_id = ?", domain_id));
}

} // namespace moat
