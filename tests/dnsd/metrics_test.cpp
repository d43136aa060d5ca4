// moat-dnsd's counters: each response counted under its question type and RCODE, requests
// outside the fast path by kind, and the text families summing every worker.
#include "dnsd/metrics.hpp"

#include <gtest/gtest.h>
#include <string>
#include <vector>

namespace moat::dnsd {
namespace {

// A message with one question for example.test. of `type`, with `rcode` and `opcode`.
std::vector<std::uint8_t> message(std::uint16_t type, std::uint8_t rcode = 0,
                                  std::uint8_t opcode = 0) {
  std::vector<std::uint8_t> m = {0x12, 0x34, static_cast<std::uint8_t>(0x80 | (opcode << 3)),
                                 rcode, 0, 1, 0, 0, 0, 0, 0, 0};
  for (const char* label : {"example", "test"}) {
    m.push_back(static_cast<std::uint8_t>(std::string(label).size()));
    m.insert(m.end(), label, label + std::string(label).size());
  }
  m.push_back(0);
  m.push_back(static_cast<std::uint8_t>(type >> 8));
  m.push_back(static_cast<std::uint8_t>(type));
  m.push_back(0);
  m.push_back(1);
  return m;
}

std::string lines_with(const std::string& text, const std::string& what) {
  std::string out;
  std::size_t at = 0;
  while (at < text.size()) {
    const std::size_t end = text.find('\n', at);
    const std::string line = text.substr(at, end - at);
    if (line.find(what) != std::string::npos && !line.starts_with("#"))
      out += line + "\n";
    at = end + 1;
  }
  return out;
}

TEST(DnsdMetrics, CountsResponsesByTypeAndRcodeAcrossWorkers) {
  QueryCounters one, two, tcp;
  tcp.shared = true;
  one.count(message(52 /*TLSA*/), false);
  one.count(message(52), true);
  two.count(message(52, 3 /*NXDOMAIN*/), false);
  two.count(message(99 /*SPF: not counted by name*/), true);
  tcp.count(message(15 /*MX*/, 5 /*REFUSED*/), false);
  one.count(std::vector<std::uint8_t>(11, 0), false); // a runt: not counted
  MetricsText out;
  const QueryCounters* workers[] = {&one, &two};
  write_query_metrics(out, workers, tcp);
  const std::string& t = out.text();
  EXPECT_EQ(lines_with(t, "qtype=\"TLSA\""),
            "moat_dnsd_queries_total{transport=\"udp\",qtype=\"TLSA\"} 3\n"
            "moat_dnsd_queries_total{transport=\"tcp\",qtype=\"TLSA\"} 0\n");
  EXPECT_EQ(lines_with(t, "qtype=\"other\""),
            "moat_dnsd_queries_total{transport=\"udp\",qtype=\"other\"} 1\n"
            "moat_dnsd_queries_total{transport=\"tcp\",qtype=\"other\"} 0\n");
  EXPECT_EQ(lines_with(t, "transport=\"tcp\",qtype=\"MX\""),
            "moat_dnsd_queries_total{transport=\"tcp\",qtype=\"MX\"} 1\n");
  EXPECT_EQ(lines_with(t, "rcode=\"NOERROR\""),
            "moat_dnsd_responses_total{transport=\"udp\",rcode=\"NOERROR\"} 3\n"
            "moat_dnsd_responses_total{transport=\"tcp\",rcode=\"NOERROR\"} 0\n");
  EXPECT_EQ(lines_with(t, "udp\",rcode=\"NXDOMAIN\""),
            "moat_dnsd_responses_total{transport=\"udp\",rcode=\"NXDOMAIN\"} 1\n");
  EXPECT_EQ(lines_with(t, "tcp\",rcode=\"REFUSED\""),
            "moat_dnsd_responses_total{transport=\"tcp\",rcode=\"REFUSED\"} 1\n");
  EXPECT_EQ(lines_with(t, "rcode=\"12\""), ""); // unassigned codes only when seen
  EXPECT_EQ(lines_with(t, "cache_hits"), "moat_dnsd_answer_cache_hits_total 2\n");
}

TEST(DnsdMetrics, CountsRequestsByKind) {
  RequestCounters r;
  r.count(message(252 /*AXFR*/), false);
  r.count(message(252), true);
  r.count(message(251 /*IXFR*/), false);
  r.count(message(6 /*SOA*/, 0, 5 /*UPDATE*/), true);
  r.count(message(1), false);
  MetricsText out;
  write_request_metrics(out, r);
  EXPECT_EQ(lines_with(out.text(), "moat_dnsd_requests_total"),
            "moat_dnsd_requests_total{kind=\"axfr\",result=\"served\"} 1\n"
            "moat_dnsd_requests_total{kind=\"axfr\",result=\"refused\"} 1\n"
            "moat_dnsd_requests_total{kind=\"ixfr\",result=\"served\"} 1\n"
            "moat_dnsd_requests_total{kind=\"ixfr\",result=\"refused\"} 0\n"
            "moat_dnsd_requests_total{kind=\"update\",result=\"served\"} 0\n"
            "moat_dnsd_requests_total{kind=\"update\",result=\"refused\"} 1\n"
            "moat_dnsd_requests_total{kind=\"other\",result=\"served\"} 1\n"
            "moat_dnsd_requests_total{kind=\"other\",result=\"refused\"} 0\n");
}

} // namespace
} // namespace moat::dnsd
