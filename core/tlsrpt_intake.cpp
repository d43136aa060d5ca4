#include "core/tlsrpt_intake.hpp"

#include "core/gzip.hpp"

#include <optional>

namespace moat {
namespace {

std::unexpected<TlsrptIntakeError> refuse(TlsrptRefusal why, std::string message) {
  return std::unexpected(TlsrptIntakeError{why, std::move(message)});
}

/// The moat domain at or above `name` (the nearest one), if any.
Result<std::optional<Domain>> domain_of(Store& store, const Name& name) {
  for (Name n = name.lowercased();; n = n.parent()) {
    auto d = store.find_domain(n);
    if (!d || *d || n.is_root())
      return d;
  }
}

/// The domain every policy of the report is about. RFC 8460 §4.4: a report covers one policy
/// domain; a DANE policy may name an MX host under it, hence "at or under".
std::expected<Domain, TlsrptIntakeError> attribute(Store& store, const TlsrptReport& report,
                                                   std::int64_t for_domain) {
  if (report.policies.empty())
    return refuse(TlsrptRefusal::kMalformed, "the report has no policy, so no policy domain");
  std::optional<Domain> found;
  for (const auto& p : report.policies) {
    auto name = Name::parse(p.policy_domain);
    if (!name)
      return refuse(TlsrptRefusal::kMalformed,
                    "policy-domain \"" + p.policy_domain + "\": " + name.error().message);
    auto d = domain_of(store, *name);
    if (!d)
      return refuse(TlsrptRefusal::kStore, d.error().message);
    if (!*d || (for_domain != 0 && (*d)->id != for_domain))
      return refuse(TlsrptRefusal::kNotOurs,
                    "the report is about " + name->to_string() + ", not a domain served here");
    if (found && found->id != (*d)->id)
      return refuse(TlsrptRefusal::kMalformed, "the report is about both " +
                                                   found->name.to_string() + " and " +
                                                   (*d)->name.to_string());
    found = std::move(*d);
  }
  return *found;
}

} // namespace

std::expected<DecodedTlsrpt, TlsrptIntakeError> decode_tlsrpt(std::string_view body) {
  if (body.size() > kMaxTlsrptBody)
    return refuse(TlsrptRefusal::kTooLarge,
                  "the report is larger than " + std::to_string(kMaxTlsrptBody) + " octets");
  DecodedTlsrpt out;
  if (looks_gzipped(body)) {
    auto inflated = gunzip(body, kMaxTlsrptJson);
    if (!inflated)
      return refuse(inflated.error().message.find("more than") != std::string::npos
                        ? TlsrptRefusal::kTooLarge
                        : TlsrptRefusal::kMalformed,
                    inflated.error().message);
    out.json = std::move(*inflated);
  } else {
    out.json.assign(body);
  }
  auto report = parse_tlsrpt_report(out.json);
  if (!report)
    return refuse(TlsrptRefusal::kMalformed, report.error().message);
  out.report = std::move(*report);
  return out;
}

std::expected<TlsrptIntake, TlsrptIntakeError> store_tlsrpt(Store& store, DecodedTlsrpt decoded,
                                                           const TlsrptSubmission& submission,
                                                           UnixTime now) {
  auto domain = attribute(store, decoded.report, submission.for_domain);
  if (!domain)
    return std::unexpected(domain.error());
  if (submission.max_per_day > 0 || submission.max_octets_per_day > 0) {
    auto v = store.tlsrpt_received_since(domain->id, now - 86400);
    if (!v)
      return refuse(TlsrptRefusal::kStore, v.error().message);
    if (submission.max_per_day > 0 && v->reports >= submission.max_per_day)
      return refuse(TlsrptRefusal::kTooMany, domain->name.to_string() + " has received " +
                                                 std::to_string(v->reports) +
                                                 " reports in the last 24 hours");
    if (submission.max_octets_per_day > 0 &&
        v->octets + static_cast<std::int64_t>(decoded.json.size()) > submission.max_octets_per_day)
      return refuse(TlsrptRefusal::kTooMany,
                    domain->name.to_string() + " has received " + std::to_string(v->octets) +
                        " octets of reports in the last 24 hours");
  }
  StoredTlsrptReport row;
  row.domain_id = domain->id;
  row.organization = decoded.report.organization_name;
  row.report_id = decoded.report.report_id;
  row.range_start = decoded.report.start;
  row.range_end = decoded.report.end;
  row.received = now;
  row.source = submission.source;
  row.json = std::move(decoded.json);
  auto id = store.insert_tlsrpt_report(row);
  if (!id)
    return refuse(TlsrptRefusal::kStore, id.error().message);
  TlsrptIntake out;
  out.stored = id->has_value();
  out.domain = std::move(*domain);
  out.report = std::move(decoded.report);
  return out;
}

std::expected<TlsrptIntake, TlsrptIntakeError>
take_tlsrpt_report(Store& store, const TlsrptSubmission& submission, UnixTime now) {
  auto decoded = decode_tlsrpt(submission.body);
  if (!decoded)
    return std::unexpected(decoded.error());
  std::optional<std::expected<TlsrptIntake, TlsrptIntakeError>> out;
  auto committed = store.transaction([&]() -> Result<void> {
    out = store_tlsrpt(store, std::move(*decoded), submission, now);
    if (!*out)
      return fail(out->error().message); // rolls back
    return {};
  });
  if (out && !*out)
    return *out;
  if (!committed)
    return refuse(TlsrptRefusal::kStore, committed.error().message);
  return *out;
}

} // namespace moat
