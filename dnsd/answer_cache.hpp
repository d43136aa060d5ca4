#pragma once

#include "dnsd/answer.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

namespace moat::dnsd {

/// Whole UDP answers as answer() wrote them, kept by one worker thread and replayed for the
/// next plain query with the same key: a cache hit parses the header and question, copies
/// the stored sections after them and sends, with no allocation, no lock and no lookup in the
/// zone.
///
/// Key: the snapshot's id, the lower-cased question name, QTYPE, whether the query had EDNS,
/// and its DO bit. That is all an answer depends on apart from the parts a hit rewrites: the
/// ID, the RD and CD bits, and the question as received (its case; the stored sections point
/// into it with compression pointers, which stay valid because the name keeps its length).
/// Only "plain" queries take part: opcode QUERY, class IN, one question, no records but an
/// OPT of version 0 with no option but a COOKIE (any other option takes the full path). The OPT
/// record is not stored: a replay writes it, with a Server Cookie made or checked through
/// `context` as answer() does. Answers to a COOKIE are not remembered (they had less room).
///
/// Direct-mapped: a new entry replaces whatever shared its slot. A new snapshot makes every
/// entry stale without touching them (each remembers its snapshot's id). Slots are allocated
/// on their first fill, so memory follows the working set: at most `slots` entries of at most
/// kEdnsBufferSize bytes each.
class AnswerCache {
public:
  explicit AnswerCache(std::size_t slots = 4096);
  ~AnswerCache();
  AnswerCache(const AnswerCache&) = delete;
  AnswerCache& operator=(const AnswerCache&) = delete;

  /// Writes the cached answer to `request` into `out` (at least kMaxResponse bytes) and returns
  /// its length, with `info` filled as answer() would have; 0 on a miss, or when the answer
  /// would not fit the requester's UDP limit (the full path then truncates it). `context`: as
  /// for answer(), for DNS cookies.
  [[nodiscard]] std::size_t replay(std::span<const std::uint8_t> request, std::uint64_t snapshot_id,
                                   std::span<std::uint8_t> out, AnswerInfo& info,
                                   const AnswerContext* context = nullptr);

  /// Remembers `response`, which answer() just wrote for `request` over UDP, when the pair
  /// qualifies: a plain query, an answer neither truncated nor cut for the requester's buffer,
  /// NOERROR or NXDOMAIN.
  void remember(std::span<const std::uint8_t> request, std::uint64_t snapshot_id,
                std::span<const std::uint8_t> response, const AnswerInfo& info);

  struct Stats {
    std::uint64_t hits = 0, misses = 0;
  };
  [[nodiscard]] const Stats& stats() const { return stats_; }

private:
  struct Entry;
  std::vector<std::unique_ptr<Entry>> slots_;
  Stats stats_;
};

} // namespace moat::dnsd
