// Zone transfers (RFC 5936 AXFR, RFC 1995 IXFR) and TSIG-signed requests (RFC 8945).
#include "dnsd/transfer.hpp"

#include "core/rr.hpp"
#include "dnsd/answer.hpp"
#include "dnsd/tsig.hpp"
#include "dnsd/wire.hpp"

#include <array>
#include <optional>
#include <vector>

namespace moat::dnsd {
namespace {

// RFC 1982: a is at or after b.
bool serial_at_or_after(std::uint32_t a, std::uint32_t b) {
  return a == b || static_cast<std::int32_t>(a - b) > 0;
}

std::string key_text(const std::optional<TsigSession>& s) {
  return s ? " (key " + s->key().name.to_string() + ")" : "";
}

// Writes the messages of one answer, starting a new message whenever the current one is full;
// each message carries the OPT record when the request had one, and is signed when the request
// was (every message: RFC 8945 §5.3.1 allows gaps, moat leaves none).
class MessageStream {
public:
  MessageStream(const Query& q, std::optional<TsigSession>& session, UnixTime now,
                const SendMessage& send)
      : q_(q), session_(session), now_(now), send_(send), buf_(kMaxResponse),
        writer_(buf_, room()) {
    writer_.start(q_, rcode::kNoError, true);
  }

  // False when the record cannot be sent (the peer is gone, or it fits in no message).
  bool add(const Name& owner, std::uint16_t type, std::uint32_t ttl,
           std::span<const std::uint8_t> rdata) {
    if (!ok_)
      return false;
    if (writer_.add(ResponseWriter::Section::kAnswer, owner, type, ttl, rdata)) {
      ++records_;
      return true;
    }
    if (writer_.count(ResponseWriter::Section::kAnswer) == 0 || !flush())
      return ok_ = false;
    Query rest = q_; // the question goes in the first message only (RFC 5936 §2.2)
    rest.has_question = false;
    writer_.start(rest, rcode::kNoError, true);
    return add(owner, type, ttl, rdata);
  }
  bool add(const ZoneRecord& r) { return add(r.owner, r.type, r.ttl, r.rdata); }

  bool finish() { return ok_ && flush(); }
  [[nodiscard]] std::size_t messages() const { return messages_; }
  [[nodiscard]] std::size_t records() const { return records_; }

private:
  std::size_t room() const {
    return kMaxResponse - (session_ ? session_->record_size() : 0) - (q_.has_edns ? 11 : 0);
  }
  bool flush() {
    writer_.set_limit(kMaxResponse);
    if (q_.has_edns)
      (void)writer_.add_opt(q_.dnssec_ok, rcode::kNoError);
    std::size_t n = writer_.size();
    if (session_)
      n = session_->sign(buf_, n, now_);
    writer_.set_limit(room());
    if (n == 0 || !send_(std::span<const std::uint8_t>(buf_).first(n)))
      return false;
    ++messages_;
    return true;
  }

  const Query& q_;
  std::optional<TsigSession>& session_;
  UnixTime now_;
  const SendMessage& send_;
  std::vector<std::uint8_t> buf_;
  ResponseWriter writer_;
  bool ok_ = true;
  std::size_t messages_ = 0, records_ = 0;
};

// An answer without records: an error, or a refusal, signed when the request was.
void send_rcode(const Query& q, std::uint16_t rc, std::optional<TsigSession>& session, UnixTime now,
                const SendMessage& send) {
  std::vector<std::uint8_t> buf(kMaxResponse);
  ResponseWriter w(buf, buf.size());
  w.start(q, rc, false);
  if (q.has_edns)
    (void)w.add_opt(q.dnssec_ok, rc);
  std::size_t n = w.size();
  if (session)
    n = session->sign(buf, n, now);
  if (n > 0)
    (void)send(std::span<const std::uint8_t>(buf).first(n));
}

// The answer to a request whose TSIG did not check out (RFC 8945 §5.2): FORMERR without TSIG;
// BADKEY and BADSIG with an unsigned TSIG record; BADTIME and BADTRUNC signed, BADTIME with
// the server's clock in Other Data.
void send_tsig_error(const Query& q, const TsigVerdict& v, bool over_tcp, UnixTime now,
                     const SendMessage& send) {
  std::vector<std::uint8_t> buf(kMaxResponse);
  ResponseWriter w(buf, buf.size());
  w.start(q, v.rcode, false);
  std::size_t n = w.size();
  if (v.rcode != rcode::kFormErr) {
    if (v.sign_answer()) {
      TsigSession session(*v.key, *q.tsig);
      std::array<std::uint8_t, 6> clock{};
      for (int i = 0; i < 6; ++i)
        clock[static_cast<std::size_t>(i)] =
            static_cast<std::uint8_t>(static_cast<std::uint64_t>(now) >> (40 - 8 * i));
      const bool badtime = v.error == tsig_error::kBadTime;
      n = session.sign(buf, n, now, v.error,
                       badtime ? std::span<const std::uint8_t>(clock)
                               : std::span<const std::uint8_t>(),
                       badtime ? std::optional<std::uint64_t>(q.tsig->time_signed) : std::nullopt);
    } else {
      n = append_unsigned_tsig(buf, n, *q.tsig, v.error);
    }
  }
  // Over UDP the answer keeps to the requester's buffer, whatever the names in its TSIG record
  // (compressed in the request, written out here): past it, the question alone with TC set,
  // so that an unauthenticated sender gets nothing bigger than it sent.
  const std::size_t udp_limit =
      q.has_edns ? std::min<std::size_t>(q.udp_size, kEdnsBufferSize) : std::size_t{512};
  if (!over_tcp && n > udp_limit) {
    ResponseWriter cut(buf, udp_limit);
    cut.start(q, v.rcode, false);
    cut.set_tc();
    n = cut.size();
  }
  if (n > 0)
    (void)send(std::span<const std::uint8_t>(buf).first(n));
}

const char* tsig_error_name(std::uint16_t e) {
  switch (e) {
  case tsig_error::kBadSig:
    return "BADSIG";
  case tsig_error::kBadKey:
    return "BADKEY";
  case tsig_error::kBadTime:
    return "BADTIME";
  case tsig_error::kBadTrunc:
    return "BADTRUNC";
  default:
    return "FORMERR";
  }
}

// The zone whose apex is `name`, if served.
const ServedZone* zone_at(const Snapshot& snapshot, const Name& name) {
  for (const auto& z : snapshot.zones)
    if (z->apex == name)
      return z.get();
  return nullptr;
}

// True when `peer` may transfer `zone`: it is one of its secondaries, and its request was
// signed with the secondary's key when one is set.
bool transfer_allowed(const ServedZone& zone, const Peer& peer,
                      const std::optional<TsigSession>& session) {
  for (const TransferPeer& s : zone.secondaries)
    if (s.address == peer.address)
      return !s.key || (session && session->key().name.lowercased() == s.key->lowercased());
  return false;
}

// The journal entries that lead from `serial` to the zone's current serial, if it reaches.
std::optional<std::size_t> journal_from(const ServedZone& zone, std::uint32_t serial) {
  for (std::size_t i = 0; i < zone.journal.size(); ++i) {
    if (zone.journal[i]->from_serial() != serial)
      continue;
    for (std::size_t j = i; j + 1 < zone.journal.size(); ++j)
      if (zone.journal[j]->to_serial() != zone.journal[j + 1]->from_serial())
        return std::nullopt;
    if (zone.journal.back()->to_serial() != zone.serial)
      return std::nullopt;
    return i;
  }
  return std::nullopt;
}

bool stream_whole_zone(MessageStream& out, const ServedZone& zone) {
  const ZoneRecord soa = zone.soa_record();
  bool ok = out.add(soa);
  zone.for_each_record(
      [&](const ZoneRecordView& r) { ok = ok && out.add(r.owner, r.type, r.ttl, r.rdata); });
  return ok && out.add(soa);
}

bool stream_journal(MessageStream& out, const ServedZone& zone, std::size_t from) {
  const ZoneRecord soa = zone.soa_record();
  bool ok = out.add(soa);
  for (std::size_t i = from; ok && i < zone.journal.size(); ++i) {
    const ZoneDiff& d = *zone.journal[i];
    ok = out.add(d.from_soa);
    for (const ZoneRecord& r : d.removed)
      ok = ok && out.add(r);
    ok = ok && out.add(d.to_soa);
    for (const ZoneRecord& r : d.added)
      ok = ok && out.add(r);
  }
  return ok && out.add(soa);
}

// Decrements the count of running transfers when the transfer ends, however it ends.
struct RunningTransfer {
  explicit RunningTransfer(TransferLimits& l) : limits(l) { limits.running.fetch_add(1); }
  ~RunningTransfer() { limits.running.fetch_sub(1); }
  RunningTransfer(const RunningTransfer&) = delete;
  RunningTransfer& operator=(const RunningTransfer&) = delete;
  TransferLimits& limits;
};

RequestOutcome serve_transfer(const Query& q, const Snapshot& snapshot, const Peer& peer,
                              bool over_tcp, UnixTime now, TransferLimits& limits,
                              std::optional<TsigSession>& session, const SendMessage& send) {
  const bool ixfr = q.qtype == rrtype::IXFR;
  const std::string what = std::string(ixfr ? "IXFR" : "AXFR") + " of " + q.qname.to_string() +
                           " to " + peer.address + key_text(session);
  const ServedZone* zone = zone_at(snapshot, q.qname);
  if (zone == nullptr || q.qclass != kClassIN) {
    send_rcode(q, rcode::kNotAuth, session, now, send);
    return {"refused " + what + ": not a zone served here", true};
  }
  if (!transfer_allowed(*zone, peer, session)) {
    send_rcode(q, rcode::kRefused, session, now, send);
    return {"refused " + what + ": not a secondary of the zone, or not with this key", true};
  }
  if (!over_tcp) {
    if (!ixfr) {
      send_rcode(q, rcode::kFormErr, session, now, send); // RFC 5936 §4.2: AXFR is TCP only
      return {"refused " + what + " over UDP", true};
    }
    MessageStream out(q, session, now, send); // RFC 1995 §2: the SOA says "ask over TCP"
    (void)(out.add(zone->soa_record()) && out.finish());
    return {};
  }
  if (limits.running.load() >= limits.max_running) {
    send_rcode(q, rcode::kServFail, session, now, send);
    return {"refused " + what + ": " + std::to_string(limits.max_running) +
                " transfers running already",
            true};
  }
  RunningTransfer running(limits);
  MessageStream out(q, session, now, send);
  std::string kind;
  bool ok;
  if (ixfr && serial_at_or_after(*q.ixfr_serial, zone->serial)) {
    kind = "up to date";
    ok = out.add(zone->soa_record()) && out.finish();
  } else if (auto from = ixfr ? journal_from(*zone, *q.ixfr_serial) : std::nullopt) {
    kind = "serial " + std::to_string(*q.ixfr_serial) + " -> " + std::to_string(zone->serial) +
           " from the journal";
    ok = stream_journal(out, *zone, *from) && out.finish();
  } else {
    kind = ixfr
               ? "whole zone (journal does not reach serial " + std::to_string(*q.ixfr_serial) + ")"
               : "serial " + std::to_string(zone->serial);
    ok = stream_whole_zone(out, *zone) && out.finish();
  }
  return {(ok ? "" : "cut off ") + what + ": " + kind + ", " + std::to_string(out.records()) +
              " records in " + std::to_string(out.messages()) + " messages",
          !ok};
}

// An UPDATE: allowed only with a key the zone lists for ACME, and only for what
// read_acme_update admits; the answer echoes the zone section and is signed.
RequestOutcome serve_update(std::span<const std::uint8_t> request, const Query& q,
                            const Snapshot& snapshot, const Peer& peer, UnixTime now,
                            std::optional<TsigSession>& session, const ApplyChallenges* apply,
                            const SendMessage& send) {
  const std::string what =
      "UPDATE of " + q.qname.to_string() + " from " + peer.address + key_text(session);
  const ServedZone* zone = zone_at(snapshot, q.qname);
  if (zone == nullptr) {
    send_rcode(q, rcode::kNotAuth, session, now, send);
    return {"refused " + what + ": not a zone served here", true};
  }
  bool allowed = false;
  for (const Name& k : zone->acme_keys)
    allowed = allowed || (session && session->key().name.lowercased() == k.lowercased());
  if (!allowed || apply == nullptr) {
    send_rcode(q, rcode::kRefused, session, now, send);
    return {"refused " + what + ": not signed with a key allowed to (moat acme allow)", true};
  }
  UpdatePlan plan = read_acme_update(request, q, zone->apex);
  if (plan.rcode != rcode::kNoError) {
    send_rcode(q, plan.rcode, session, now, send);
    return {"refused " + what + ": " + plan.why, true};
  }
  if (auto r = (*apply)(zone->domain_id, plan.changes); !r) {
    send_rcode(q, rcode::kServFail, session, now, send);
    return {"failed " + what + ": " + r.error().message, true};
  }
  send_rcode(q, rcode::kNoError, session, now, send);
  std::string summary = what + ":";
  for (const ChallengeChange& c : plan.changes)
    summary += (c.kind == ChallengeChange::Kind::kAdd         ? " add TXT "
                : c.kind == ChallengeChange::Kind::kDeleteOne ? " delete one TXT "
                                                              : " delete TXT ") +
               c.owner.to_string();
  return {summary, false};
}

} // namespace

RequestOutcome serve_request(std::span<const std::uint8_t> request, const Snapshot& snapshot,
                             const Peer& peer, bool over_tcp, UnixTime now, TransferLimits& limits,
                             const SendMessage& send, const ApplyChallenges* apply) {
  Parsed parsed = parse_query(request);
  if (parsed.verdict == Verdict::kDrop)
    return {};
  const Query& q = parsed.query;
  std::optional<TsigSession> session;
  // A malformed message is FORMERR without TSIG (RFC 8945 §5.2), even when a well-formed TSIG
  // record sits inside it: its MAC covers only what precedes the record.
  if (q.tsig && parsed.verdict == Verdict::kError && parsed.error_rcode == rcode::kFormErr) {
    send_rcode(q, rcode::kFormErr, session, now, send);
    return {};
  }
  if (q.tsig) {
    TsigVerdict v = verify_tsig(request, *q.tsig, *snapshot.keys, now);
    if (v.rcode != rcode::kNoError) {
      send_tsig_error(q, v, over_tcp, now, send);
      return {std::string("TSIG ") + tsig_error_name(v.error) + " from " + peer.address + " (key " +
                  q.tsig->key.to_string() + ")",
              true};
    }
    session.emplace(*v.key, *q.tsig);
  }
  if (parsed.verdict == Verdict::kAnswer && q.opcode == kOpcodeUpdate)
    return serve_update(request, q, snapshot, peer, now, session, apply, send);
  if (parsed.verdict == Verdict::kAnswer && (q.qtype == rrtype::AXFR || q.qtype == rrtype::IXFR))
    return serve_transfer(q, snapshot, peer, over_tcp, now, limits, session, send);
  if (!session)
    return {}; // answer() would have answered it
  // A signed query: answered as if unsigned, then signed.
  std::vector<std::uint8_t> unsigned_request(
      request.begin(), request.begin() + static_cast<std::ptrdiff_t>(q.tsig->offset));
  const std::uint16_t arcount =
      static_cast<std::uint16_t>(((unsigned_request[10] << 8) | unsigned_request[11]) - 1);
  unsigned_request[10] = static_cast<std::uint8_t>(arcount >> 8);
  unsigned_request[11] = static_cast<std::uint8_t>(arcount);
  std::vector<std::uint8_t> buf(kMaxResponse);
  std::size_t n = answer(unsigned_request, snapshot, over_tcp, buf, session->record_size());
  if (n == 0 || n == kNotAnswered)
    return {};
  n = session->sign(buf, n, now);
  if (n > 0)
    (void)send(std::span<const std::uint8_t>(buf).first(n));
  return {};
}

} // namespace moat::dnsd
