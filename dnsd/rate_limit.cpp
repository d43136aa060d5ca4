#include "dnsd/rate_limit.hpp"

#include <algorithm>
#include <bit>
#include <limits>
#include <openssl/rand.h>
#include <stdexcept>

namespace moat::dnsd {
namespace {

// Time is kept in 1/16 ms, modulo 2^44 (about 35 years), and compared in serial number
// arithmetic, so any monotonic clock will do, whatever its origin.
constexpr std::uint64_t kUnitsPerMs = 16;
constexpr std::uint64_t kUnitsPerSecond = 1000 * kUnitsPerMs;
constexpr std::uint32_t kMaxRate = kUnitsPerSecond;
constexpr int kTimeBits = 44;
constexpr std::uint64_t kTimeMask = (std::uint64_t{1} << kTimeBits) - 1;
constexpr std::uint64_t kHalfTime = std::uint64_t{1} << (kTimeBits - 1);
constexpr int kSlipShift = kTimeBits;
constexpr std::uint64_t kSlipMask = 0xff;
constexpr int kTagShift = 52;
constexpr std::uint32_t kMaxSlip = 255;

// True when `a` comes after `b` (both in time units, modulo 2^44).
bool later(std::uint64_t a, std::uint64_t b) {
  const std::uint64_t d = (a - b) & kTimeMask;
  return d != 0 && d < kHalfTime;
}

std::uint64_t pack(std::uint64_t tag, std::uint64_t slips, std::uint64_t tat) {
  return tag << kTagShift | slips << kSlipShift | (tat & kTimeMask);
}

// Keeps the first `prefix` bits of `address`, zeroing the rest.
void mask_into(std::span<const std::uint8_t> address, unsigned prefix, std::uint8_t* out) {
  for (std::size_t i = 0; i < address.size(); ++i) {
    const unsigned first_bit = static_cast<unsigned>(i) * 8;
    if (prefix >= first_bit + 8)
      out[i] = address[i];
    else if (prefix > first_bit)
      out[i] = static_cast<std::uint8_t>(address[i] & (0xff00u >> (prefix - first_bit)));
    else
      out[i] = 0;
  }
}

bool is_v4_mapped(std::span<const std::uint8_t> a) {
  return a.size() == 16 && std::all_of(a.begin(), a.begin() + 10, [](auto b) { return b == 0; }) &&
         a[10] == 0xff && a[11] == 0xff;
}

SipHashKey random_key() {
  SipHashKey key{};
  if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1)
    throw std::runtime_error("rate limiting: no random bytes for the hash key");
  return key;
}

} // namespace

RateLimiter::RateLimiter(const RateLimitOptions& options) : RateLimiter(options, random_key()) {}

RateLimiter::RateLimiter(const RateLimitOptions& options, const SipHashKey& hash_key)
    : options_(options), key_(hash_key),
      table_(std::bit_ceil(std::max<std::size_t>(options.table_size, 1))),
      next_report_ms_(std::numeric_limits<std::int64_t>::min()) {
  options_.responses_per_second = std::min(options_.responses_per_second, kMaxRate);
  options_.slip = std::min(options_.slip, kMaxSlip);
  options_.ipv4_prefix = std::min<std::uint8_t>(options_.ipv4_prefix, 32);
  options_.ipv6_prefix = std::min<std::uint8_t>(options_.ipv6_prefix, 128);
  options_.table_size = table_.size();
  if (options_.responses_per_second == 0)
    options_.enabled = false;
  else {
    const std::uint64_t rate = options_.responses_per_second;
    interval_ = std::max<std::uint64_t>(1, (kUnitsPerSecond + rate / 2) / rate);
    // A burst of `rate` answers: the rate-th may find the next token that far ahead.
    tolerance_ = (rate - 1) * interval_;
  }
  mask_ = table_.size() - 1;
}

RateDecision RateLimiter::check(std::span<const std::uint8_t> client_address, ResponseClass cls,
                                std::uint64_t name_hash, std::int64_t now_ms) {
  if (!options_.enabled)
    return RateDecision::kSend;

  // The key: family, class, client network, name. Errors to a network are all one answer.
  std::array<std::uint8_t, 1 + 1 + 16 + 8> key{};
  std::size_t n = 0;
  if (is_v4_mapped(client_address))
    client_address = client_address.last(4);
  if (client_address.size() == 4) {
    key[n++] = 4;
    key[n++] = static_cast<std::uint8_t>(cls);
    mask_into(client_address, options_.ipv4_prefix, &key[n]);
    n += 4;
  } else if (client_address.size() == 16) {
    key[n++] = 6;
    key[n++] = static_cast<std::uint8_t>(cls);
    mask_into(client_address, options_.ipv6_prefix, &key[n]);
    n += 16;
  } else {
    return RateDecision::kSend; // not an address we can group: nothing to count it against
  }
  if (cls == ResponseClass::kError)
    name_hash = 0;
  for (int i = 0; i < 8; ++i)
    key[n++] = static_cast<std::uint8_t>(name_hash >> (8 * i));

  const std::uint64_t h = siphash24(key_, std::span(key).first(n));
  std::atomic<std::uint64_t>& bucket = table_[h & mask_];
  const std::uint64_t tag = std::max<std::uint64_t>(h >> kTagShift, 1); // 0 marks empty
  const std::uint64_t now = (static_cast<std::uint64_t>(now_ms) * kUnitsPerMs) & kTimeMask;

  std::uint64_t old = bucket.load(std::memory_order_relaxed);
  for (;;) {
    // GCRA: `tat` is when the next token is due. A token due in the past means a full bucket.
    std::uint64_t tat = now;
    std::uint64_t slips = 0;
    if (old != 0 && (old >> kTagShift) == tag) { // else empty, or another key's: start afresh
      slips = (old >> kSlipShift) & kSlipMask;
      if (later(old & kTimeMask, now))
        tat = old & kTimeMask;
    }

    RateDecision decision = RateDecision::kSend;
    if (((tat - now) & kTimeMask) <= tolerance_) {
      tat += interval_;
    } else if (options_.slip == 0) {
      decision = RateDecision::kDrop;
    } else if (++slips >= options_.slip) {
      // The counter runs on across episodes: reset by each answer sent, it would never reach
      // `slip` for a flood that alternates sent and limited answers.
      decision = RateDecision::kSlip;
      slips = 0;
    } else {
      decision = RateDecision::kDrop;
    }

    const std::uint64_t word = pack(tag, slips, tat);
    // With slip 0 or 1 a flood leaves the word as it is: no write, no cache line bouncing.
    if (word == old || bucket.compare_exchange_weak(old, word, std::memory_order_relaxed,
                                                    std::memory_order_relaxed)) {
      if (decision == RateDecision::kDrop)
        dropped_.fetch_add(1, std::memory_order_relaxed);
      else if (decision == RateDecision::kSlip)
        slipped_.fetch_add(1, std::memory_order_relaxed);
      return decision;
    }
  }
}

RateLimitStats RateLimiter::totals() const {
  return {dropped_.load(std::memory_order_relaxed), slipped_.load(std::memory_order_relaxed)};
}

std::optional<RateLimitStats> RateLimiter::report(std::int64_t now_ms) {
  const RateLimitStats now = totals();
  // Nothing new: say nothing, and keep the turn for when there is (reads only, so cheap to
  // call for every answer).
  if (now.dropped == reported_dropped_.load(std::memory_order_relaxed) &&
      now.slipped == reported_slipped_.load(std::memory_order_relaxed))
    return std::nullopt;
  std::int64_t due = next_report_ms_.load(std::memory_order_relaxed);
  if (now_ms < due ||
      !next_report_ms_.compare_exchange_strong(due, now_ms + 1000, std::memory_order_relaxed))
    return std::nullopt;
  // exchange() rather than a plain store: were a stalled reporter to overlap the next one,
  // counts would at worst be reported twice, never wrap around.
  const std::uint64_t dropped_before = reported_dropped_.exchange(now.dropped);
  const std::uint64_t slipped_before = reported_slipped_.exchange(now.slipped);
  return RateLimitStats{now.dropped - std::min(now.dropped, dropped_before),
                        now.slipped - std::min(now.slipped, slipped_before)};
}

} // namespace moat::dnsd
