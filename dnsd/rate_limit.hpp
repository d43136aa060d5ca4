#pragma once

#include "dnsd/siphash.hpp"

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace moat::dnsd {

/// Response Rate Limiting settings, as BIND's `rate-limit` block and Knot's `rrl` module.
struct RateLimitOptions {
  /// Identical answers a client network may receive per second (BIND `responses-per-second`,
  /// Knot `rate-limit`); also the burst it may receive at once. 0 turns limiting off; values
  /// over 16000 act as 16000 (the clock's resolution is 1/16 ms).
  std::uint32_t responses_per_second = 20;
  /// Of the answers over the limit, every `slip`-th is sent truncated (TC=1, no records) so that
  /// a real client retries over TCP, and the others are dropped. 0 never slips, 1 always slips.
  /// At most 255 (BIND allows 0 to 10).
  std::uint32_t slip = 2;
  /// Buckets in the table, rounded up to a power of two; 8 bytes each.
  std::size_t table_size = 65536;
  /// Clients are grouped into networks of these prefix lengths (BIND's defaults).
  std::uint8_t ipv4_prefix = 24;
  std::uint8_t ipv6_prefix = 56;
  bool enabled = true;
};

/// What to do with an answer over UDP.
enum class RateDecision {
  kSend,
  kSlip, ///< send a truncated answer instead: TC=1, question only, no records
  kDrop, ///< send nothing
};

/// The kind of answer, as BIND classifies them: each kind has its own buckets, and the kind
/// decides what name the caller passes (see RateLimiter::check).
enum class ResponseClass : std::uint8_t {
  kPositive, ///< records of the queried name and type: keyed by the qname
  kWildcard, ///< synthesized from a wildcard: keyed by the wildcard's owner (*.example.)
  kNoData,   ///< the name exists, the type does not: keyed by the qname
  kReferral, ///< a delegation: keyed by the zone cut's name
  kNxDomain, ///< keyed by the zone's apex, so that random names share one bucket
  kError,    ///< REFUSED, FORMERR, SERVFAIL...: the name is ignored, one bucket per network
};

/// Counts of answers not sent whole.
struct RateLimitStats {
  std::uint64_t dropped = 0;
  std::uint64_t slipped = 0;
};

/// Response Rate Limiting for UDP answers (the idea of BIND's RRL and Knot's `rrl`): limits how
/// many identical answers one client network receives, to blunt reflection attacks made with
/// spoofed source addresses. TCP answers are never limited: the caller asks only for UDP.
///
/// Each (network, class, name) has a token bucket holding up to `responses_per_second` tokens,
/// refilled continuously at that rate; an answer takes one, and an answer that finds none is
/// limited. Limited answers take no token (as Knot, unlike BIND's debt), so a flooded client
/// still gets its rate of full answers.
///
/// The buckets live in a fixed table: one 64-bit atomic word each, updated by compare and
/// exchange, so check() is lock-free, never allocates and never blocks. The key is hashed with
/// SipHash-2-4 under a secret key, so that no one can aim at a bucket. Two keys that fall into
/// the same bucket are told apart by 12 bits of the hash; when they differ, the newcomer takes
/// the bucket over with a full burst, so a collision errs toward answering (an attacker's
/// flood may then get an extra burst) rather than silencing an innocent client. Keys that also
/// share those 12 bits (1 in 4096 collisions) share a bucket.
///
/// Thread-safe: every worker thread calls check() on one shared limiter.
class RateLimiter {
public:
  /// Hashes with a key from OpenSSL's RAND_bytes; throws std::runtime_error if it has none
  /// (at start-up).
  explicit RateLimiter(const RateLimitOptions& options);
  /// Hashes with `hash_key`: for tests, which want the same buckets on every run.
  RateLimiter(const RateLimitOptions& options, const SipHashKey& hash_key);

  /// Counts one answer of class `cls` to `client_address` (4 bytes for IPv4, 16 for IPv6; an
  /// IPv4-mapped IPv6 address counts as IPv4; any other size is never limited) and says whether
  /// to send it. `name_hash` is a hash of the name the class is keyed by (e.g. NameHash of the
  /// lower-cased qname, or of the zone apex for NXDOMAIN; callers may fold in the qtype).
  /// `now_ms` is any monotonic clock in milliseconds (steady_clock); threads may disagree on it
  /// slightly. Lock-free, no allocation.
  [[nodiscard]] RateDecision check(std::span<const std::uint8_t> client_address, ResponseClass cls,
                                   std::uint64_t name_hash, std::int64_t now_ms);

  /// Answers dropped and slipped since construction.
  [[nodiscard]] RateLimitStats totals() const;

  /// The answers dropped and slipped since the last report, to log: at most once a second,
  /// to one caller among all threads, and only when there is something to say. Cheap when
  /// there is not (relaxed loads only), so it may be called after every limited answer.
  [[nodiscard]] std::optional<RateLimitStats> report(std::int64_t now_ms);

  [[nodiscard]] const RateLimitOptions& options() const { return options_; }

private:
  RateLimitOptions options_;
  SipHashKey key_;
  std::uint64_t interval_ = 0;  ///< time units (1/16 ms) between two tokens
  std::uint64_t tolerance_ = 0; ///< how far ahead of now a bucket's next token may be
  std::uint64_t mask_ = 0;      ///< table size - 1
  /// Per bucket: 12-bit tag | 8-bit slip counter | 44-bit time of the next free token (GCRA's
  /// "theoretical arrival time"). 0 is an empty bucket (tags are never 0).
  std::vector<std::atomic<std::uint64_t>> table_;

  std::atomic<std::uint64_t> dropped_{0};
  std::atomic<std::uint64_t> slipped_{0};
  // report(): whoever moves next_report_ms_ forward owns the next two for that report.
  std::atomic<std::int64_t> next_report_ms_;
  std::atomic<std::uint64_t> reported_dropped_{0};
  std::atomic<std::uint64_t> reported_slipped_{0};
};

} // namespace moat::dnsd
