#include "core/tlsrpt_report.hpp"

#include <charconv>
#include <ctime>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>

namespace moat {
namespace {

using nlohmann::json;

// Thrown out of the parser's callback when the text nests deeper than the format ever does:
// nlohmann's parser recurses, and a text of a million '[' would otherwise exhaust the stack.
struct TooDeep {};

// The member `key` of `obj` as a string; empty when absent and not `required`.
Result<std::string> string_at(const json& obj, const char* key, const std::string& where,
                              bool required) {
  auto it = obj.find(key);
  if (it == obj.end()) {
    if (required)
      return fail(where + ": \"" + key + "\" is missing");
    return std::string();
  }
  if (!it->is_string())
    return fail(where + ": \"" + key + "\" is not a string");
  const auto& s = it->get_ref<const std::string&>();
  if (s.size() > kMaxTlsrptString)
    return fail(where + ": \"" + key + "\" is longer than " + std::to_string(kMaxTlsrptString) +
                " octets");
  return s;
}

Result<std::vector<std::string>> strings_at(const json& obj, const char* key,
                                            const std::string& where) {
  std::vector<std::string> out;
  auto it = obj.find(key);
  if (it == obj.end())
    return out;
  if (!it->is_array())
    return fail(where + ": \"" + key + "\" is not an array");
  if (it->size() > kMaxTlsrptPolicies)
    return fail(where + ": \"" + key + "\" has too many entries");
  for (const json& v : *it) {
    if (!v.is_string() || v.get_ref<const std::string&>().size() > kMaxTlsrptString)
      return fail(where + ": \"" + key + "\" holds something other than a string");
    out.push_back(v.get<std::string>());
  }
  return out;
}

Result<std::uint64_t> count_at(const json& obj, const char* key, const std::string& where) {
  auto it = obj.find(key);
  if (it == obj.end())
    return fail(where + ": \"" + key + "\" is missing");
  if (!it->is_number_unsigned())
    return fail(where + ": \"" + key + "\" is not a non-negative integer");
  return it->get<std::uint64_t>();
}

Result<TlsrptFailure> parse_failure(const json& j, const std::string& where) {
  if (!j.is_object())
    return fail(where + " is not an object");
  TlsrptFailure f;
  struct Field {
    const char* key;
    std::string TlsrptFailure::*member;
    bool required;
  };
  for (const Field& field :
       {Field{"result-type", &TlsrptFailure::result_type, true},
        Field{"sending-mta-ip", &TlsrptFailure::sending_mta_ip, false},
        Field{"receiving-mx-hostname", &TlsrptFailure::receiving_mx_hostname, false},
        Field{"receiving-mx-helo", &TlsrptFailure::receiving_mx_helo, false},
        Field{"receiving-ip", &TlsrptFailure::receiving_ip, false},
        Field{"additional-information", &TlsrptFailure::additional_information, false},
        Field{"failure-reason-code", &TlsrptFailure::failure_reason_code, false}}) {
    auto v = string_at(j, field.key, where, field.required);
    if (!v)
      return std::unexpected(v.error());
    f.*field.member = std::move(*v);
  }
  if (f.result_type.empty())
    return fail(where + ": \"result-type\" is empty");
  auto count = count_at(j, "failed-session-count", where);
  if (!count)
    return std::unexpected(count.error());
  f.failed_session_count = *count;
  return f;
}

Result<TlsrptPolicy> parse_policy(const json& j, const std::string& where,
                                  std::size_t& failures_seen) {
  if (!j.is_object())
    return fail(where + " is not an object");
  TlsrptPolicy p;
  auto desc = j.find("policy");
  if (desc == j.end() || !desc->is_object())
    return fail(where + ": \"policy\" is missing or not an object");
  const std::string in = where + " policy";
  auto type = string_at(*desc, "policy-type", in, true);
  if (!type)
    return std::unexpected(type.error());
  if (*type != "sts" && *type != "tlsa" && *type != "no-policy-found")
    return fail(in + ": \"policy-type\" is \"" + *type + "\", not sts, tlsa or no-policy-found");
  p.policy_type = std::move(*type);
  auto domain = string_at(*desc, "policy-domain", in, true);
  if (!domain)
    return std::unexpected(domain.error());
  p.policy_domain = std::move(*domain);
  auto strings = strings_at(*desc, "policy-string", in);
  if (!strings)
    return std::unexpected(strings.error());
  p.policy_strings = std::move(*strings);
  auto mx = strings_at(*desc, "mx-host", in);
  if (!mx)
    return std::unexpected(mx.error());
  p.mx_hosts = std::move(*mx);

  auto summary = j.find("summary");
  if (summary == j.end() || !summary->is_object())
    return fail(where + ": \"summary\" is missing or not an object");
  auto ok = count_at(*summary, "total-successful-session-count", where + " summary");
  if (!ok)
    return std::unexpected(ok.error());
  auto failed = count_at(*summary, "total-failure-session-count", where + " summary");
  if (!failed)
    return std::unexpected(failed.error());
  p.successful_sessions = *ok;
  p.failed_sessions = *failed;

  if (auto details = j.find("failure-details"); details != j.end()) {
    if (!details->is_array())
      return fail(where + ": \"failure-details\" is not an array");
    for (std::size_t i = 0; i < details->size(); ++i) {
      if (++failures_seen > kMaxTlsrptFailures)
        return fail("more than " + std::to_string(kMaxTlsrptFailures) + " failure details");
      auto f = parse_failure((*details)[i], where + " failure-details[" + std::to_string(i) + "]");
      if (!f)
        return std::unexpected(f.error());
      p.failures.push_back(std::move(*f));
    }
  }
  return p;
}

// Two digits at `at` of `s`, or nullopt.
std::optional<int> digits(std::string_view s, std::size_t at, std::size_t n) {
  if (at + n > s.size())
    return std::nullopt;
  int v = 0;
  auto [end, ec] = std::from_chars(s.data() + at, s.data() + at + n, v);
  if (ec != std::errc() || end != s.data() + at + n)
    return std::nullopt;
  return v;
}

} // namespace

Result<UnixTime> parse_rfc3339(std::string_view s) {
  // date-time = YYYY-MM-DD ("T" / "t" / " ") HH:MM:SS [.fraction] ("Z" / "z" / ±HH:MM)
  const auto bad = [&] {
    return fail("\"" + std::string(s.substr(0, 64)) + "\" is not an RFC 3339 date-time");
  };
  auto year = digits(s, 0, 4), month = digits(s, 5, 2), day = digits(s, 8, 2);
  auto hour = digits(s, 11, 2), minute = digits(s, 14, 2), second = digits(s, 17, 2);
  if (s.size() < 20 || !year || !month || !day || !hour || !minute || !second || s[4] != '-' ||
      s[7] != '-' || (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
      s[16] != ':' || *month < 1 || *month > 12 || *day < 1 || *day > 31 || *hour > 23 ||
      *minute > 59 || *second > 60)
    return bad();
  std::size_t at = 19;
  if (s[at] == '.') {
    ++at;
    const std::size_t first = at;
    while (at < s.size() && s[at] >= '0' && s[at] <= '9')
      ++at;
    if (at == first)
      return bad();
  }
  long offset = 0;
  if (at < s.size() && (s[at] == 'Z' || s[at] == 'z')) {
    ++at;
  } else if (at < s.size() && (s[at] == '+' || s[at] == '-')) {
    auto oh = digits(s, at + 1, 2), om = digits(s, at + 4, 2);
    if (!oh || !om || at + 3 >= s.size() || s[at + 3] != ':' || *oh > 23 || *om > 59)
      return bad();
    offset = (s[at] == '+' ? 1 : -1) * (*oh * 3600L + *om * 60L);
    at += 6;
  } else {
    return bad();
  }
  if (at != s.size())
    return bad();
  std::tm tm{};
  tm.tm_year = *year - 1900;
  tm.tm_mon = *month - 1;
  tm.tm_mday = *day;
  tm.tm_hour = *hour;
  tm.tm_min = *minute;
  tm.tm_sec = std::min(*second, 59); // a leap second counts as the one before it
  const std::time_t t = timegm(&tm);
  if (tm.tm_mday != *day) // 31 February and the like, which timegm would carry over
    return bad();
  return static_cast<UnixTime>(t) - offset;
}

Result<TlsrptReport> parse_tlsrpt_report(std::string_view text) {
  json doc;
  try {
    doc = json::parse(text.begin(), text.end(), [](int depth, json::parse_event_t, json&) {
      if (depth > kMaxTlsrptDepth)
        throw TooDeep{};
      return true;
    });
  } catch (const TooDeep&) {
    return fail("the report nests deeper than " + std::to_string(kMaxTlsrptDepth) + " levels");
  } catch (const json::exception& e) {
    return fail(std::string("the report is not JSON: ") + e.what());
  }
  if (!doc.is_object())
    return fail("the report is not a JSON object");
  TlsrptReport r;
  const std::string where = "report";
  for (auto [key, member] : {std::pair{"organization-name", &TlsrptReport::organization_name},
                             std::pair{"contact-info", &TlsrptReport::contact_info},
                             std::pair{"report-id", &TlsrptReport::report_id}}) {
    auto v = string_at(doc, key, where, true);
    if (!v)
      return std::unexpected(v.error());
    r.*member = std::move(*v);
  }
  auto range = doc.find("date-range");
  if (range == doc.end() || !range->is_object())
    return fail("report: \"date-range\" is missing or not an object");
  for (auto [key, member] : {std::pair{"start-datetime", &TlsrptReport::start},
                             std::pair{"end-datetime", &TlsrptReport::end}}) {
    auto v = string_at(*range, key, "report date-range", true);
    if (!v)
      return std::unexpected(v.error());
    auto t = parse_rfc3339(*v);
    if (!t)
      return fail(std::string("report date-range: \"") + key + "\": " + t.error().message);
    r.*member = *t;
  }
  if (r.end < r.start)
    return fail("report date-range: the end is before the start");
  auto policies = doc.find("policies");
  if (policies == doc.end() || !policies->is_array())
    return fail("report: \"policies\" is missing or not an array");
  if (policies->size() > kMaxTlsrptPolicies)
    return fail("report: more than " + std::to_string(kMaxTlsrptPolicies) + " policies");
  std::size_t failures_seen = 0;
  for (std::size_t i = 0; i < policies->size(); ++i) {
    auto p = parse_policy((*policies)[i], "policies[" + std::to_string(i) + "]", failures_seen);
    if (!p)
      return std::unexpected(p.error());
    r.policies.push_back(std::move(*p));
  }
  return r;
}

} // namespace moat
