#include "dnsd/metrics.hpp"

#include <string>

namespace moat::dnsd {
namespace {

constexpr const char* kTypeNames[] = {"A",    "NS",  "CNAME",  "SOA",        "PTR",  "MX",
                                      "TXT",  "AAAA", "SRV",   "DS",         "DNSKEY",
                                      "NSEC3PARAM", "TLSA", "HTTPS", "CAA",   "ANY", "other"};
static_assert(std::size(kTypeNames) == kCountedTypes.size() + 1);

constexpr const char* kRcodeNames[] = {"NOERROR", "FORMERR", "SERVFAIL", "NXDOMAIN",
                                       "NOTIMP",  "REFUSED", "YXDOMAIN", "YXRRSET",
                                       "NXRRSET", "NOTAUTH", "NOTZONE",  "11",
                                       "12",      "13",      "14",       "15"};

std::size_t type_index(std::uint16_t type) {
  for (std::size_t i = 0; i < kCountedTypes.size(); ++i)
    if (kCountedTypes[i] == type)
      return i;
  return kCountedTypes.size();
}

/// The question's type, or 0 when the message has no (readable) question. Question names are
/// never compressed in what moat reads here.
std::uint16_t question_type(std::span<const std::uint8_t> m) {
  if (m.size() < 12 || ((m[4] << 8) | m[5]) == 0)
    return 0;
  std::size_t at = 12;
  while (at < m.size() && m[at] != 0) {
    if ((m[at] & 0xc0) != 0)
      return 0;
    at += m[at] + 1;
  }
  if (at + 2 >= m.size())
    return 0;
  return static_cast<std::uint16_t>((m[at + 1] << 8) | m[at + 2]);
}

void add(std::atomic<std::uint64_t>& c, bool shared) {
  if (shared)
    c.fetch_add(1, std::memory_order_relaxed);
  else
    bump(c);
}

std::uint64_t get(const std::atomic<std::uint64_t>& c) { return c.load(std::memory_order_relaxed); }

} // namespace

void QueryCounters::count(std::span<const std::uint8_t> response, bool cache_hit) {
  if (response.size() < 12)
    return;
  add(by_type[type_index(question_type(response))], shared);
  add(by_rcode[response[3] & 0x0f], shared);
  if (cache_hit)
    add(cache_hits, shared);
}

void RequestCounters::count(std::span<const std::uint8_t> request, bool was_refused) {
  if (request.size() < 12)
    return;
  const int opcode = (request[2] >> 3) & 0x0f;
  const std::uint16_t type = question_type(request);
  const Kind kind = opcode == 5       ? kUpdate
                    : type == 252     ? kAxfr
                    : type == 251     ? kIxfr
                                      : kOther;
  (was_refused ? refused : served)[kind].fetch_add(1, std::memory_order_relaxed);
}

void write_query_metrics(MetricsText& out, std::span<const QueryCounters* const> udp,
                         const QueryCounters& tcp) {
  auto sum = [&](auto member) {
    std::uint64_t n = 0;
    for (const QueryCounters* c : udp)
      n += get(member(*c));
    return n;
  };
  out.family("moat_dnsd_queries_total", "counter", "Queries answered, by transport and type");
  for (std::size_t i = 0; i < std::size(kTypeNames); ++i) {
    out.sample("moat_dnsd_queries_total", {{"transport", "udp"}, {"qtype", kTypeNames[i]}},
               static_cast<double>(sum([i](const QueryCounters& c) -> const auto& {
                 return c.by_type[i];
               })));
    out.sample("moat_dnsd_queries_total", {{"transport", "tcp"}, {"qtype", kTypeNames[i]}},
               static_cast<double>(get(tcp.by_type[i])));
  }
  out.family("moat_dnsd_responses_total", "counter",
             "Answers to queries (before rate limiting), by transport and header RCODE; "
             "transfers, UPDATEs and signed requests are in moat_dnsd_requests_total");
  for (std::size_t i = 0; i < 16; ++i) {
    const std::uint64_t u = sum([i](const QueryCounters& c) -> const auto& { return c.by_rcode[i]; });
    const std::uint64_t t = get(tcp.by_rcode[i]);
    if (i > 10 && u == 0 && t == 0)
      continue; // unassigned codes: only when seen
    out.sample("moat_dnsd_responses_total", {{"transport", "udp"}, {"rcode", kRcodeNames[i]}},
               static_cast<double>(u));
    out.sample("moat_dnsd_responses_total", {{"transport", "tcp"}, {"rcode", kRcodeNames[i]}},
               static_cast<double>(t));
  }
  out.family("moat_dnsd_answer_cache_hits_total", "counter",
             "UDP answers replayed from a worker's answer cache instead of built");
  out.sample("moat_dnsd_answer_cache_hits_total",
             static_cast<double>(sum([](const QueryCounters& c) -> const auto& { return c.cache_hits; })));
}

void write_request_metrics(MetricsText& out, const RequestCounters& requests) {
  static constexpr const char* kKinds[] = {"axfr", "ixfr", "update", "other"};
  out.family("moat_dnsd_requests_total", "counter",
             "Transfers, UPDATEs and TSIG-signed requests, by kind and result");
  for (std::size_t k = 0; k < RequestCounters::kKinds; ++k) {
    out.sample("moat_dnsd_requests_total", {{"kind", kKinds[k]}, {"result", "served"}},
               static_cast<double>(get(requests.served[k])));
    out.sample("moat_dnsd_requests_total", {{"kind", kKinds[k]}, {"result", "refused"}},
               static_cast<double>(get(requests.refused[k])));
  }
}

void write_load_metrics(MetricsText& out, const LoadCounters& loads) {
  out.family("moat_dnsd_zone_loads_total", "counter",
             "Zone (re)loads: patched (changed names only), whole, or failed");
  out.sample("moat_dnsd_zone_loads_total", {{"result", "patched"}}, static_cast<double>(get(loads.patched)));
  out.sample("moat_dnsd_zone_loads_total", {{"result", "whole"}}, static_cast<double>(get(loads.whole)));
  out.sample("moat_dnsd_zone_loads_total", {{"result", "failed"}}, static_cast<double>(get(loads.failed)));
  out.family("moat_dnsd_signatures_total", "counter",
             "RRSIGs put in served zones: made anew, or re-used from the previous build");
  out.sample("moat_dnsd_signatures_total", {{"work", "made"}}, static_cast<double>(get(loads.signatures_made)));
  out.sample("moat_dnsd_signatures_total", {{"work", "reused"}},
             static_cast<double>(get(loads.signatures_reused)));
}

} // namespace moat::dnsd
