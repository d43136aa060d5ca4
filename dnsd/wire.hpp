#pragma once

#include "core/name.hpp"
#include "dnsd/cookies.hpp"

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace moat::dnsd {

/// RCODE values (the low 4 bits; BADVERS needs the extended RCODE in the OPT record).
namespace rcode {
inline constexpr std::uint16_t kNoError = 0, kFormErr = 1, kServFail = 2, kNxDomain = 3,
                               kNotImp = 4, kRefused = 5, kNotAuth = 9, kNotZone = 10,
                               kBadVers = 16;
} // namespace rcode

/// TSIG error codes (RFC 8945 §3), carried in the TSIG record; the RCODE is then NOTAUTH.
namespace tsig_error {
inline constexpr std::uint16_t kBadSig = 16, kBadKey = 17, kBadTime = 18, kBadTrunc = 22;
} // namespace tsig_error

inline constexpr std::uint8_t kOpcodeQuery = 0, kOpcodeNotify = 4, kOpcodeUpdate = 5;
inline constexpr std::uint16_t kClassNone = 254, kClassAny = 255;
inline constexpr std::size_t kHeaderSize = 12;
/// The EDNS buffer size moat advertises and caps UDP answers at (DNS flag day 2020).
inline constexpr std::uint16_t kEdnsBufferSize = 1232;

/// A TSIG record as received (RFC 8945 §4.2), and where it starts in the message.
struct TsigRecord {
  Name key; ///< the key's name (owner of the record)
  Name algorithm;
  std::uint64_t time_signed = 0; ///< 48 bits, seconds since the epoch
  std::uint16_t fudge = 0;
  std::vector<std::uint8_t> mac;
  std::uint16_t original_id = 0;
  std::uint16_t error = 0;
  std::vector<std::uint8_t> other;
  std::size_t offset = 0; ///< where the TSIG record starts: the signed part ends here
};

/// What the parser learned from a request, enough to answer it or to say why not.
struct Query {
  std::uint16_t id = 0;
  std::uint8_t opcode = 0;
  bool rd = false;
  bool cd = false;
  bool has_question = false;
  Name qname; ///< as received (case kept for the echoed question)
  std::uint16_t qtype = 0;
  std::uint16_t qclass = 0;
  bool has_edns = false;
  std::uint8_t edns_version = 0;
  std::uint16_t udp_size = 512; ///< the requester's buffer, at least 512
  bool dnssec_ok = false;
  /// The COOKIE option (RFC 7873), when the request carried a well-formed one.
  std::optional<CookieOption> cookie;
  /// The serial of the requester's copy, from the SOA in the authority section of an IXFR.
  std::optional<std::uint32_t> ixfr_serial;
  /// For an UPDATE (RFC 2136 §2): where its prerequisite section starts, and the counts of the
  /// prerequisite and update sections (the question section is the zone section).
  std::size_t records_at = 0;
  std::uint16_t prerequisites = 0, updates = 0;
  /// The request's TSIG record, when it is signed (always the last record: RFC 8945 §5.1).
  std::optional<TsigRecord> tsig;
};

/// How a request is to be handled.
enum class Verdict {
  kAnswer, ///< a well-formed QUERY: look it up
  kError,  ///< answer with `error_rcode` and no data (question echoed when parsed)
  kDrop,   ///< send nothing: too short for a header, or a response (QR set)
};

struct Parsed {
  Verdict verdict = Verdict::kDrop;
  std::uint16_t error_rcode = rcode::kNoError;
  Query query;
};

/// Parses a request. Never reads outside `packet`, follows no compression pointer in the
/// question (there is nothing before it to point at) and at most a bounded number elsewhere.
[[nodiscard]] Parsed parse_query(std::span<const std::uint8_t> packet);

/// Reads a possibly compressed name at `pos` of `message` into `out`; returns the offset after
/// it, or 0 when it is malformed. Pointers must point backwards, at most 16 of them.
[[nodiscard]] std::size_t read_name(std::span<const std::uint8_t> message, std::size_t pos,
                                    Name& out);

/// The TSIG record closing any message (a response too), if it has one and the message is
/// well-formed up to it.
[[nodiscard]] std::optional<TsigRecord> find_tsig(std::span<const std::uint8_t> message);

/// Writes a response into a caller-owned buffer, compressing names against those already
/// written. Every add_* returns false, and writes nothing, when the record would pass `limit`.
class ResponseWriter {
public:
  ResponseWriter(std::span<std::uint8_t> buffer, std::size_t limit);

  /// Header and (when the query had one) the question; the RCODE's low 4 bits go here.
  void start(const Query& q, std::uint16_t rcode, bool authoritative);

  /// Continues a response whose header and first `size` octets are already in the buffer (the
  /// answer cache writes them): what is added next goes after them. Names added are not
  /// compressed against what was already there.
  void resume(std::size_t size);

  enum class Section { kAnswer, kAuthority, kAdditional };
  /// Appends one record. Names in the RDATA of RFC 1035 types are compressed too.
  bool add(Section s, const Name& owner, std::uint16_t type, std::uint32_t ttl,
           std::span<const std::uint8_t> rdata);

  /// Appends the OPT record (version 0, our buffer size, DO echoed, extended RCODE), with a
  /// COOKIE option (client cookie, then `server_cookie`) when `client_cookie` is given.
  bool add_opt(bool dnssec_ok, std::uint16_t full_rcode,
               const std::array<std::uint8_t, 8>* client_cookie = nullptr,
               std::span<const std::uint8_t> server_cookie = {});

  /// A point to roll back to, so an RRset is written whole or not at all.
  struct Mark {
    std::size_t pos;
    std::size_t targets;
    std::array<std::uint8_t, 6> counts;
  };
  [[nodiscard]] Mark mark() const;
  void rollback(const Mark& m);

  /// Changes the size limit (e.g. to keep room for the OPT record); never above the buffer.
  void set_limit(std::size_t limit) { limit_ = std::min(limit, buf_.size()); }

  void set_tc();
  void set_rcode(std::uint16_t rcode);
  void set_aa(bool aa);
  /// Removes every record after the question, e.g. before setting TC.
  void truncate_to_question();
  /// The size the header says each section has.
  [[nodiscard]] std::uint16_t count(Section s) const;
  [[nodiscard]] std::size_t size() const { return pos_; }
  /// Bytes left before `limit`.
  [[nodiscard]] std::size_t room() const { return limit_ - pos_; }
  [[nodiscard]] std::span<const std::uint8_t> bytes() const { return buf_.first(pos_); }

private:
  bool write_name(const Name& name, bool compress);
  void put16(std::uint16_t v);
  void put32(std::uint32_t v);

  std::span<std::uint8_t> buf_;
  std::size_t limit_;
  std::size_t pos_ = 0;
  std::size_t question_end_ = kHeaderSize;
  bool overflow_ = false;
  // Offsets of names (and their suffixes) already written, for compression pointers.
  static constexpr std::size_t kMaxTargets = 64;
  std::array<std::uint16_t, kMaxTargets> targets_{};
  std::size_t n_targets_ = 0;
};

} // namespace moat::dnsd
