#include "core/tlsrpt_summary.hpp"

#include "core/tlsrpt_report.hpp"

#include <algorithm>
#include <map>
#include <tuple>

namespace moat {

Result<std::vector<TlsrptSummaryRow>> summarise_tlsrpt(Store& store, std::int64_t domain_id,
                                                       UnixTime since) {
  auto stored = store.tlsrpt_reports(domain_id, since);
  if (!stored)
    return std::unexpected(stored.error());
  std::map<std::int64_t, std::string> domain_names;
  using Key = std::tuple<std::string, std::string, std::string>; // domain, org, policy type
  std::map<Key, TlsrptSummaryRow> rows;
  using FailureKey = std::tuple<std::string, std::string, std::string>; // type, mx, ip
  std::map<Key, std::map<FailureKey, std::uint64_t>> failures;
  std::map<Key, std::int64_t> last_report; // the stored id last counted in each row

  for (const auto& s : *stored) {
    auto name = domain_names.find(s.domain_id);
    if (name == domain_names.end()) {
      auto d = store.find_domain_by_id(s.domain_id);
      if (!d)
        return std::unexpected(d.error());
      name = domain_names.emplace(s.domain_id, *d ? (*d)->name.to_string() : "?").first;
    }
    auto report = parse_tlsrpt_report(s.json);
    if (!report)
      return fail("stored report " + std::to_string(s.id) + " from " + s.organization + ": " +
                  report.error().message);
    for (const auto& p : report->policies) {
      Key key{name->second, report->organization_name, p.policy_type};
      auto [it, fresh] = rows.try_emplace(key);
      TlsrptSummaryRow& row = it->second;
      if (fresh) {
        row.domain = name->second;
        row.organization = report->organization_name;
        row.policy_type = p.policy_type;
        row.first_start = report->start;
      }
      // A DANE reporter may send one tlsa policy per MX host: the report counts once per row.
      if (last_report[key] != s.id) {
        last_report[key] = s.id;
        ++row.reports;
      }
      row.successful += p.successful_sessions;
      row.failed += p.failed_sessions;
      row.first_start = std::min(row.first_start, report->start);
      row.last_end = std::max(row.last_end, report->end);
      for (const auto& f : p.failures)
        failures[key][FailureKey{f.result_type, f.receiving_mx_hostname, f.receiving_ip}] +=
            f.failed_session_count;
    }
  }

  std::vector<TlsrptSummaryRow> out;
  for (auto& [key, row] : rows) {
    for (const auto& [fk, sessions] : failures[key])
      row.failures.push_back({std::get<0>(fk), std::get<1>(fk), std::get<2>(fk), sessions});
    std::stable_sort(row.failures.begin(), row.failures.end(),
                     [](const auto& a, const auto& b) { return a.sessions > b.sessions; });
    out.push_back(std::move(row));
  }
  return out;
}

} // namespace moat
