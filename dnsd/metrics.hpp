#pragma once
// moat-dnsd's counters for Prometheus: queries by type and rcode, answer-cache hits, RRL,
// transfers and UPDATEs, zone loads and signing work. The query path pays one relaxed load and
// store per counter: each answering thread owns its counters (no locked instruction, no shared
// cache line); the metrics thread reads them all.

#include "core/metrics_text.hpp"

#include <array>
#include <atomic>
#include <cstdint>
#include <span>

namespace moat::dnsd {

/// Adds `n` to a counter only one thread writes.
inline void bump(std::atomic<std::uint64_t>& c, std::uint64_t n = 1) {
  c.store(c.load(std::memory_order_relaxed) + n, std::memory_order_relaxed);
}

/// The query types counted by name; the rest are "other".
inline constexpr std::array<std::uint16_t, 16> kCountedTypes = {
    1 /*A*/,   2 /*NS*/,      5 /*CNAME*/, 6 /*SOA*/,    12 /*PTR*/,   15 /*MX*/,
    16 /*TXT*/, 28 /*AAAA*/,  33 /*SRV*/,  43 /*DS*/,    48 /*DNSKEY*/, 51 /*NSEC3PARAM*/,
    52 /*TLSA*/, 65 /*HTTPS*/, 257 /*CAA*/, 255 /*ANY*/};

/// The answers of one thread (or, with `shared`, of many: then counted with atomic adds).
struct QueryCounters {
  alignas(64) std::array<std::atomic<std::uint64_t>, kCountedTypes.size() + 1> by_type{};
  std::array<std::atomic<std::uint64_t>, 16> by_rcode{};
  std::atomic<std::uint64_t> cache_hits{0};
  bool shared = false;

  /// Counts one response moat wrote (its question and header are well formed).
  void count(std::span<const std::uint8_t> response, bool cache_hit);
};

/// Requests served outside the fast path, by kind and result.
struct RequestCounters {
  enum Kind { kAxfr, kIxfr, kUpdate, kOther, kKinds };
  std::array<std::atomic<std::uint64_t>, kKinds> served{};
  std::array<std::atomic<std::uint64_t>, kKinds> refused{};
  /// Counts one request by its opcode and question (atomic adds: any thread).
  void count(std::span<const std::uint8_t> request, bool was_refused);
};

/// What the zone loader did; written by the loader thread only.
struct LoadCounters {
  std::atomic<std::uint64_t> patched{0}, whole{0}, failed{0};
  std::atomic<std::uint64_t> signatures_made{0}, signatures_reused{0};
};

/// Appends the query and response families, summing `threads` per transport.
void write_query_metrics(MetricsText& out, std::span<const QueryCounters* const> udp,
                         const QueryCounters& tcp);
void write_request_metrics(MetricsText& out, const RequestCounters& requests);
void write_load_metrics(MetricsText& out, const LoadCounters& loads);

} // namespace moat::dnsd
