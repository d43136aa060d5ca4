// Fuzz target for moat-dnsd's slow path, serve_request() (dnsd/transfer.hpp): what answer()
// leaves to it, i.e. TSIG-signed requests (RFC 8945), UPDATEs of ACME challenges (RFC 2136) and
// zone transfers (RFC 5936 AXFR, RFC 1995 IXFR from a journal).
//
// One fixed set-up, built once: nsec.example. at its third version with a journal of the two
// changes before (fuzz_zone.hpp's zone_version), nsec3.example. without one, and bulk.example.,
// whose AXFR takes two messages; all copied by the secondaries 127.0.0.1 (no key) and
// 127.0.0.2 (key xfr-key.); nsec.example. alone takes UPDATEs signed with acme-key.; the
// keyring holds xfr-key. and acme-key. (hmac-sha256) and sha1-key. (hmac-sha1).
// make_corpus.py signs its seeds with the same secrets at kSignTime.
//
// Each input is served to both peers over UDP and TCP at kSignTime, so that seeds with a valid
// TSIG reach the transfers and UPDATEs; once more to the keyed secondary (or a stranger) at a
// time set by the header ID (which the MAC does not cover) around the request's own time
// signed, so that BADTIME is reached too; for a transfer, once more to a peer that stops
// reading; and, when unsigned, signed here and served again (see the end of the file).
// Every message sent is read back (dns_message.cpp) and its TSIG checked independently of
// dnsd/tsig.cpp (RFC 8945 §4.3 and §5.3.1, computed here with tsig_hmac); a broken rule is
// named on stderr and aborts, which libFuzzer reports as a crash and saves the input.
//
// FUZZ_REQUEST_VERBOSE=1 prints what each call did (RequestOutcome and the messages sent).
#include "core/rr.hpp"
#include "core/tsig_key.hpp"
#include "dnsd/answer.hpp"
#include "dnsd/transfer.hpp"
#include "dnsd/tsig.hpp"
#include "dnsd/update.hpp"
#include "dnsd/wire.hpp"
#include "tests/fuzz/dns_message.hpp"
#include "tests/fuzz/fuzz_zone.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moat::fuzz {
namespace {

using Bytes = std::vector<std::uint8_t>;

[[noreturn]] void violated(const char* rule, const std::string& detail = {}) {
  std::fprintf(stderr, "fuzz_request: broken rule: %s%s%s\n", rule, detail.empty() ? "" : ": ",
               detail.c_str());
  std::abort();
}

void require(bool holds, const char* rule) {
  if (!holds)
    violated(rule);
}

[[noreturn]] void harness_broken(const std::string& what) {
  std::fprintf(stderr, "fuzz_request: set-up: %s\n", what.c_str());
  std::abort();
}

// ---- The fixed set-up (make_corpus.py has the same names, secrets and numbers) ----------

constexpr std::int64_t kTime = kSignTime; // "now", and when the seeds are signed
constexpr std::int64_t kNsecDomainId = 101, kNsec3DomainId = 102, kBulkDomainId = 103;
// A third zone, for transfers of several messages (each signed, chained on the one before).
constexpr const char* kBulkApex = "bulk.example.";
constexpr int kBulkNames = 300;
const int kMaxRunning = dnsd::TransferLimits{}.max_running;
constexpr const char* kPlainPeer = "127.0.0.1"; // a secondary without a key
constexpr const char* kKeyedPeer = "127.0.0.2"; // a secondary that must sign with xfr-key.
constexpr const char* kStranger = "127.0.0.3";  // not a secondary

struct KeyDef {
  const char* name;
  const char* algorithm;
  std::string_view secret;
};
constexpr KeyDef kKeys[] = {
    {"xfr-key.", "hmac-sha256", "secret of xfr-key. for fuzzing"},
    {"acme-key.", "hmac-sha256", "secret of acme-key. for fuzzing"},
    {"sha1-key.", "hmac-sha1", "secret of sha1-key. for fuzzing"},
};

Bytes bytes_of(std::string_view s) { return Bytes(s.begin(), s.end()); }

Name name_of(const char* text) {
  auto n = Name::parse(text);
  if (!n)
    harness_broken(std::string("name ") + text);
  return *n;
}

dnsd::Snapshot build() {
  auto v0 = zone_version(kNsecApex, false, 0);
  auto v1 = zone_version(kNsecApex, false, 1);
  auto v2 = zone_version(kNsecApex, false, 2);
  v1->journal = dnsd::kept_journal(
      {}, std::make_shared<const dnsd::ZoneDiff>(dnsd::diff_zones(*v0, *v1)), v1->record_count);
  v2->journal = dnsd::kept_journal(
      v1->journal, std::make_shared<const dnsd::ZoneDiff>(dnsd::diff_zones(*v1, *v2)),
      v2->record_count);
  if (v2->journal.size() != 2 || v2->serial != kZoneSerial + 2 ||
      v2->journal.front()->from_serial() != kZoneSerial)
    harness_broken("the journal of nsec.example. does not hold both changes");
  const std::vector<dnsd::TransferPeer> secondaries = {{kPlainPeer, 53, std::nullopt},
                                                       {kKeyedPeer, 53, name_of("xfr-key.")}};
  v2->secondaries = secondaries;
  v2->acme_keys = {name_of("acme-key.")};
  v2->domain_id = kNsecDomainId;
  auto nsec3 = zone_version(kNsec3Apex, true, 0);
  nsec3->secondaries = secondaries;
  nsec3->domain_id = kNsec3DomainId;
  auto bulk = bulk_zone(kBulkApex, kBulkNames);
  bulk->secondaries = secondaries;
  bulk->domain_id = kBulkDomainId;

  dnsd::Keyring keys;
  for (const KeyDef& k : kKeys)
    keys.add(TsigKey{name_of(k.name), k.algorithm, bytes_of(k.secret), 0});
  dnsd::Snapshot snapshot;
  snapshot.zones = {v2, nsec3, bulk};
  snapshot.keys = std::make_shared<const dnsd::Keyring>(std::move(keys));
  return snapshot;
}

const dnsd::Snapshot& snapshot() {
  static const dnsd::Snapshot s = build();
  return s;
}

bool verbose() {
  static const bool v = std::getenv("FUZZ_REQUEST_VERBOSE") != nullptr;
  return v;
}

// ---- Wire helpers, independent of dnsd/wire.cpp ----------------------------------------

std::uint16_t get16(std::span<const std::uint8_t> m, std::size_t at) {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}

void put16(Bytes& v, std::uint16_t x) {
  v.push_back(static_cast<std::uint8_t>(x >> 8));
  v.push_back(static_cast<std::uint8_t>(x));
}

void put48(Bytes& v, std::uint64_t x) {
  for (int shift = 40; shift >= 0; shift -= 8)
    v.push_back(static_cast<std::uint8_t>(x >> shift));
}

void append(Bytes& v, std::span<const std::uint8_t> b) { v.insert(v.end(), b.begin(), b.end()); }

Bytes lower_wire(const Name& n) { return n.lowercased().wire(); }

// An uncompressed name at m[pos...end) in wire form; nullopt when it is not one (TSIG names
// are never compressed in what moat writes: RFC 8945 §4.2 hashes them as written).
std::optional<Bytes> plain_name(std::span<const std::uint8_t> m, std::size_t& pos,
                                std::size_t end) {
  Bytes out;
  while (pos < end) {
    const std::uint8_t len = m[pos];
    if ((len & 0xc0) != 0 || pos + 1 + len > end || out.size() + 1 + len > 255)
      return std::nullopt;
    out.insert(out.end(), m.begin() + static_cast<std::ptrdiff_t>(pos),
               m.begin() + static_cast<std::ptrdiff_t>(pos + 1 + len));
    pos += 1 + len;
    if (len == 0)
      return out;
  }
  return std::nullopt;
}

Bytes lowercase(Bytes wire) {
  for (std::uint8_t& c : wire)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<std::uint8_t>(c + 32);
  return wire; // length octets are below 64, never letters
}

// A TSIG record closing a message sent, read independently.
struct SentTsig {
  std::size_t owner_at = 0;
  Bytes key, algorithm; // wire form as written
  std::uint64_t time_signed = 0;
  std::uint16_t fudge = 0, original_id = 0, error = 0;
  Bytes mac, other;
};

// The message's last record must be the TSIG record, written in full (RFC 8945 §4.2).
std::optional<SentTsig> sent_tsig(std::span<const std::uint8_t> m, const ReadMessage& r) {
  if (r.records.empty() || r.records.back().type != rrtype::TSIG)
    return std::nullopt;
  const ReadRecord& rec = r.records.back();
  require(rec.section == Section::kAdditional && rec.klass == dnsd::kClassAny && rec.ttl == 0,
          "a TSIG record is in the additional section, class ANY, TTL 0");
  SentTsig t;
  // Where the owner starts: just past the record before it (or the question).
  const std::size_t n = r.records.size();
  t.owner_at = n >= 2 ? r.records[n - 2].rdata_at + r.records[n - 2].rdata_size : r.section_end[0];
  std::size_t pos = t.owner_at;
  auto key = plain_name(m, pos, rec.rdata_at);
  require(key.has_value() && pos + 10 == rec.rdata_at, "a TSIG key name is written uncompressed");
  t.key = std::move(*key);
  pos = rec.rdata_at;
  const std::size_t end = rec.rdata_at + rec.rdata_size;
  auto alg = plain_name(m, pos, end);
  require(alg.has_value() && pos + 10 <= end, "a TSIG algorithm name is written uncompressed");
  t.algorithm = std::move(*alg);
  t.time_signed = (std::uint64_t{get16(m, pos)} << 32) | (std::uint64_t{get16(m, pos + 2)} << 16) |
                  get16(m, pos + 4);
  t.fudge = get16(m, pos + 6);
  const std::size_t mac_size = get16(m, pos + 8);
  pos += 10;
  require(pos + mac_size + 6 <= end, "a TSIG record's MAC fits its RDATA");
  t.mac.assign(m.begin() + static_cast<std::ptrdiff_t>(pos),
               m.begin() + static_cast<std::ptrdiff_t>(pos + mac_size));
  pos += mac_size;
  t.original_id = get16(m, pos);
  t.error = get16(m, pos + 2);
  const std::size_t other = get16(m, pos + 4);
  pos += 6;
  require(pos + other == end, "a TSIG record's Other Data fills its RDATA exactly");
  t.other.assign(m.begin() + static_cast<std::ptrdiff_t>(pos),
                 m.begin() + static_cast<std::ptrdiff_t>(end));
  return t;
}

// A message as signed (RFC 8945 §4.3.1): without its TSIG record, ARCOUNT one less, the
// original ID in place of the header's.
void put_unsigned(Bytes& v, std::span<const std::uint8_t> m, std::size_t tsig_at,
                  std::uint16_t original_id) {
  const std::size_t start = v.size();
  append(v, m.first(tsig_at));
  v[start] = static_cast<std::uint8_t>(original_id >> 8);
  v[start + 1] = static_cast<std::uint8_t>(original_id);
  const auto ar = static_cast<std::uint16_t>(get16(v, start + 10) - 1);
  v[start + 10] = static_cast<std::uint8_t>(ar >> 8);
  v[start + 11] = static_cast<std::uint8_t>(ar);
}

// The TSIG variables (RFC 8945 §4.3.3), names lower-cased (canonical form).
void put_variables(Bytes& v, const Bytes& key, const Bytes& algorithm, std::uint64_t time_signed,
                   std::uint16_t fudge, std::uint16_t error, std::span<const std::uint8_t> other) {
  append(v, lowercase(key));
  put16(v, dnsd::kClassAny);
  put16(v, 0); // TTL, 32 bits
  put16(v, 0);
  append(v, lowercase(algorithm));
  put48(v, time_signed);
  put16(v, fudge);
  put16(v, error);
  put16(v, static_cast<std::uint16_t>(other.size()));
  append(v, other);
}

const KeyDef* key_def(const Bytes& key_wire) {
  for (const KeyDef& k : kKeys)
    if (lower_wire(name_of(k.name)) == lowercase(key_wire))
      return &k;
  return nullptr;
}

Bytes mac_of(const KeyDef& k, const Bytes& data) {
  const Bytes secret = bytes_of(k.secret);
  return tsig_hmac(k.algorithm, secret, data);
}

// `message` signed as a client would (RFC 8945 §4.3): a TSIG record of key `k` appended, its
// MAC over the message as it was and the TSIG variables. Nullopt when ARCOUNT is full.
std::optional<Bytes> sign_request(std::span<const std::uint8_t> message, const KeyDef& k,
                                  std::int64_t time) {
  if (message.size() < dnsd::kHeaderSize || get16(message, 10) == 0xffff)
    return std::nullopt;
  const Bytes key = lower_wire(name_of(k.name));
  const Bytes algorithm = lower_wire(tsig_algorithm_name(k.algorithm));
  Bytes data(message.begin(), message.end());
  put_variables(data, key, algorithm, static_cast<std::uint64_t>(time), dnsd::kTsigFudge, 0, {});
  const Bytes mac = mac_of(k, data);
  Bytes rdata = algorithm;
  put48(rdata, static_cast<std::uint64_t>(time));
  put16(rdata, dnsd::kTsigFudge);
  put16(rdata, static_cast<std::uint16_t>(mac.size()));
  append(rdata, mac);
  put16(rdata, get16(message, 0)); // original ID
  put16(rdata, 0);                 // error
  put16(rdata, 0);                 // other data
  Bytes out(message.begin(), message.end());
  const auto arcount = static_cast<std::uint16_t>(get16(message, 10) + 1);
  out[10] = static_cast<std::uint8_t>(arcount >> 8);
  out[11] = static_cast<std::uint8_t>(arcount);
  append(out, key);
  put16(out, rrtype::TSIG);
  put16(out, dnsd::kClassAny);
  put16(out, 0); // TTL
  put16(out, 0);
  put16(out, static_cast<std::uint16_t>(rdata.size()));
  append(out, rdata);
  return out;
}

// ---- What the request's TSIG should get: RFC 8945 §5.2, worked out here ------------------

struct Expected {
  std::uint16_t rcode = dnsd::rcode::kNoError;
  std::uint16_t error = 0;
  const KeyDef* key = nullptr; // when the answer is to be signed
};

Expected expect_tsig(std::span<const std::uint8_t> request, const dnsd::TsigRecord& t,
                     std::int64_t now) {
  Expected e;
  const Bytes key_wire = t.key.wire();
  const KeyDef* k = key_def(key_wire);
  if (k == nullptr || lower_wire(t.algorithm) != lower_wire(tsig_algorithm_name(k->algorithm)))
    return {dnsd::rcode::kNotAuth, dnsd::tsig_error::kBadKey, nullptr};
  const std::size_t full = tsig_mac_size(k->algorithm);
  if (t.mac.size() > full || t.mac.size() < std::max<std::size_t>(10, full / 2))
    return {dnsd::rcode::kFormErr, 0, nullptr};
  Bytes data;
  put_unsigned(data, request, t.offset, t.original_id);
  put_variables(data, key_wire, t.algorithm.wire(), t.time_signed, t.fudge, t.error, t.other);
  const Bytes mac = mac_of(*k, data);
  if (!std::equal(t.mac.begin(), t.mac.end(), mac.begin()))
    return {dnsd::rcode::kNotAuth, dnsd::tsig_error::kBadSig, nullptr};
  if (t.mac.size() < full)
    return {dnsd::rcode::kNotAuth, dnsd::tsig_error::kBadTrunc, k};
  const auto signed_at = static_cast<std::int64_t>(t.time_signed);
  if (now < signed_at - t.fudge || now > signed_at + t.fudge)
    return {dnsd::rcode::kNotAuth, dnsd::tsig_error::kBadTime, k};
  e.key = k;
  return e;
}

// ---- One call of serve_request and its messages --------------------------------------

struct Applied {
  int calls = 0;
  std::size_t changes = 0;
  bool failed = false;
};
Applied g_applied;

bool is_txt_rdata(const Bytes& rdata) {
  if (rdata.empty())
    return false;
  std::size_t pos = 0;
  while (pos < rdata.size())
    pos += 1 + std::size_t{rdata[pos]};
  return pos == rdata.size();
}

// Every change is at an _acme-challenge name below the zone's apex (wire form, by hand).
bool is_challenge_owner(const Name& owner, const Name& apex) {
  const Bytes o = lower_wire(owner), a = lower_wire(apex);
  static const std::string_view label = "\x0f_acme-challenge";
  if (o.size() <= a.size() ||
      !std::equal(a.begin(), a.end(), o.end() - static_cast<std::ptrdiff_t>(a.size())))
    return false;
  if (o.size() < label.size() || !std::equal(label.begin(), label.end(), o.begin()))
    return false;
  // The apex must start at a label boundary of the owner.
  std::size_t pos = 0;
  while (pos < o.size() - a.size())
    pos += 1 + std::size_t{o[pos]};
  return pos == o.size() - a.size();
}

Result<void> apply_changes(std::int64_t domain_id, const std::vector<dnsd::ChallengeChange>& cs) {
  using Kind = dnsd::ChallengeChange::Kind;
  require(domain_id == kNsecDomainId, "only nsec.example. (the zone with acme_keys) is updated");
  require(cs.size() <= dnsd::kMaxUpdateRecords, "an UPDATE carries at most kMaxUpdateRecords");
  const Name apex = name_of(kNsecApex);
  ++g_applied.calls;
  g_applied.changes += cs.size();
  bool fail_it = false;
  for (const dnsd::ChallengeChange& c : cs) {
    require(is_challenge_owner(c.owner, apex),
            "every change is at an _acme-challenge name below the apex");
    switch (c.kind) {
    case Kind::kAdd:
      require(is_txt_rdata(c.rdata), "an added record has TXT RDATA");
      require(c.ttl <= dnsd::kMaxChallengeTtl, "an added record's TTL is at most kMaxChallengeTtl");
      fail_it = fail_it || c.rdata == Bytes{4, 'f', 'a', 'i', 'l'};
      break;
    case Kind::kDeleteAll:
      require(c.rdata.empty() && c.ttl == 0, "deleting an RRset carries no RDATA");
      break;
    case Kind::kDeleteOne:
      break;
    }
  }
  g_applied.failed = fail_it;
  if (fail_it)
    return fail("the store says no (a TXT \"fail\")");
  return {};
}

const dnsd::ApplyChallenges g_apply = apply_changes;

struct Call {
  const char* peer;
  bool tcp;
  std::int64_t now;
  int stop_after = -1; // the peer stops reading after this many messages
  int busy = 0;        // transfers already running
};

struct Served {
  std::vector<Bytes> messages;
  std::vector<ReadMessage> read;
  dnsd::RequestOutcome outcome;
  Applied applied;
};

const char* rcode_name(std::uint16_t rc) {
  static const char* names[] = {"NOERROR",  "FORMERR", "SERVFAIL", "NXDOMAIN", "NOTIMP", "REFUSED",
                                "YXDOMAIN", "YXRRSET", "NXRRSET",  "NOTAUTH",  "NOTZONE"};
  return rc < std::size(names) ? names[rc] : rc == dnsd::rcode::kBadVers ? "BADVERS" : "RCODE?";
}

void print(const Call& c, const Served& s) {
  std::string what;
  std::size_t answers = 0;
  for (const ReadMessage& r : s.read)
    answers += r.counts[1];
  std::size_t octets = 0;
  for (const Bytes& m : s.messages)
    octets += m.size();
  if (!s.read.empty())
    what = std::string(rcode_name(s.read.front().full_rcode())) + ", " + std::to_string(answers) +
           " answer records, " + std::to_string(octets) + " octets";
  if (!s.messages.empty()) {
    if (auto t = dnsd::find_tsig(s.messages.front()))
      what += t->mac.empty() ? ", unsigned TSIG" : ", signed";
    if (auto t = dnsd::find_tsig(s.messages.front()); t && t->error != 0)
      what += " (TSIG error " + std::to_string(t->error) + ")";
  }
  std::fprintf(stderr, "  %s %s now%+lld: %zu messages%s%s | %s%s%s\n", c.peer,
               c.tcp ? "TCP" : "UDP", static_cast<long long>(c.now - kTime), s.messages.size(),
               what.empty() ? "" : ": ", what.c_str(),
               s.outcome.summary.empty() ? "(no summary)" : s.outcome.summary.c_str(),
               s.outcome.refused ? " [refused]" : "",
               s.applied.calls != 0 ? (" [applied " + std::to_string(s.applied.changes) +
                                       " changes" + (s.applied.failed ? ", store failed]" : "]"))
                                          .c_str()
                                    : "");
}

// Checks each message's TSIG against the chain started by the request's MAC.
void check_signed_chain(const Served& s, const dnsd::TsigRecord& request, const KeyDef& k,
                        std::int64_t now, std::uint16_t error) {
  Bytes prior = request.mac;
  for (std::size_t i = 0; i < s.messages.size(); ++i) {
    const Bytes& m = s.messages[i];
    auto t = sent_tsig(m, s.read[i]);
    require(t.has_value(), "every message answering a signed request ends with a TSIG record");
    require(lowercase(t->key) == lower_wire(name_of(k.name)) &&
                lowercase(t->algorithm) == lower_wire(tsig_algorithm_name(k.algorithm)),
            "the answer is signed with the request's key and algorithm");
    require(t->mac.size() == tsig_mac_size(k.algorithm), "the answer's MAC is of full length");
    require(t->original_id == get16(m, 0), "the answer's original ID is its own ID");
    require(t->error == error, "the answer's TSIG error is the one expected");
    const bool badtime = error == dnsd::tsig_error::kBadTime;
    require(t->time_signed == static_cast<std::uint64_t>(badtime ? request.time_signed : now) &&
                t->fudge == dnsd::kTsigFudge,
            "the answer is signed now (BADTIME: at the request's time) with moat's fudge");
    if (badtime) {
      Bytes clock;
      put48(clock, static_cast<std::uint64_t>(now));
      require(i == 0 && t->other == clock, "a BADTIME answer carries the server's clock");
    } else {
      require(t->other.empty(), "no Other Data but in a BADTIME answer");
    }
    // find_tsig (dnsd/wire.cpp) must see the same record.
    auto found = dnsd::find_tsig(m);
    require(found && found->offset == t->owner_at && found->mac == t->mac,
            "find_tsig finds the TSIG record read back");
    Bytes data;
    put16(data, static_cast<std::uint16_t>(prior.size()));
    append(data, prior);
    put_unsigned(data, m, t->owner_at, t->original_id);
    if (i == 0) {
      put_variables(data, t->key, t->algorithm, t->time_signed, t->fudge, t->error, t->other);
    } else { // RFC 8945 §5.3.1: later messages cover the timers only
      put48(data, t->time_signed);
      put16(data, t->fudge);
    }
    require(mac_of(k, data) == t->mac,
            "each message's MAC verifies, chained on the request's and the previous one's");
    prior = t->mac;
  }
}

Served serve(std::span<const std::uint8_t> request, const Call& c) {
  static dnsd::TransferLimits limits;
  limits.running = c.busy;
  Served s;
  g_applied = {};
  int sends = 0;
  const dnsd::SendMessage send = [&](std::span<const std::uint8_t> m) {
    s.messages.emplace_back(m.begin(), m.end());
    return c.stop_after < 0 || ++sends < c.stop_after;
  };
  s.outcome = dnsd::serve_request(request, snapshot(), dnsd::Peer{c.peer, 5353}, c.tcp, c.now,
                                  limits, send, &g_apply);
  s.applied = g_applied;
  require(limits.running.load() == c.busy, "the count of running transfers is back where it was");
  for (const Bytes& m : s.messages) {
    require(m.size() >= dnsd::kHeaderSize && m.size() <= dnsd::kMaxResponse,
            "every message is at least a header and at most 65535 octets");
    auto r = read_message(m);
    if (!r)
      violated("every message is a well-formed DNS message", r.error().message);
    s.read.push_back(std::move(*r));
  }
  if (verbose())
    print(c, s);
  return s;
}

void check(std::span<const std::uint8_t> request, const dnsd::Parsed& parsed, const Call& c,
           const Served& s) {
  const dnsd::Query& q = parsed.query;
  if (parsed.verdict == dnsd::Verdict::kDrop) {
    require(s.messages.empty(), "nothing is sent for a request that is dropped");
    return;
  }
  for (std::size_t i = 0; i < s.read.size(); ++i) {
    const ReadMessage& r = s.read[i];
    require(r.id == q.id, "every message carries the request's ID");
    require(r.qr(), "QR is set");
    require(r.opcode() == q.opcode, "the opcode is copied from the request");
    require(!r.tc() || !c.tcp, "TCP messages are never truncated");
    require(r.counts[0] == (i == 0 && q.has_question ? 1 : 0),
            "the first message echoes the question when it was parsed, no later one does");
  }
  if (!c.tcp) {
    require(s.messages.size() <= 1, "over UDP at most one message is sent");
    const std::size_t buffer = q.has_edns ? std::max<std::size_t>(512, q.udp_size) : 512;
    // A BADKEY answer repeats the request's key and algorithm names uncompressed; when that
    // does not fit, the question alone goes back with TC (README.md, "Findings").
    for (const Bytes& m : s.messages)
      require(m.size() <= buffer, "over UDP every message fits the requester's buffer");
  }
  require(s.applied.calls <= 1, "an UPDATE is applied at most once");

  const bool is_update =
      parsed.verdict == dnsd::Verdict::kAnswer && q.opcode == dnsd::kOpcodeUpdate;
  const bool is_transfer = parsed.verdict == dnsd::Verdict::kAnswer && !is_update &&
                           (q.qtype == rrtype::AXFR || q.qtype == rrtype::IXFR);
  // RFC 8945 §5.2: a malformed message is FORMERR without TSIG, however good the TSIG record
  // inside it (its MAC covers only what precedes it). README.md, "Findings".
  if (q.tsig && parsed.verdict == dnsd::Verdict::kError &&
      parsed.error_rcode == dnsd::rcode::kFormErr) {
    require(s.messages.size() == 1 && s.applied.calls == 0 &&
                (s.read.front().flags & 0x0f) == dnsd::rcode::kFormErr &&
                !sent_tsig(s.messages.front(), s.read.front()).has_value(),
            "a malformed signed request gets one FORMERR without TSIG and changes nothing");
    return;
  }
  std::optional<Expected> expected;
  if (q.tsig) {
    const dnsd::TsigVerdict v = dnsd::verify_tsig(request, *q.tsig, *snapshot().keys, c.now);
    expected = expect_tsig(request, *q.tsig, c.now);
    if (v.rcode != expected->rcode || v.error != expected->error)
      violated("verify_tsig agrees with RFC 8945 §5.2 worked out independently",
               "moat " + std::to_string(v.rcode) + "/" + std::to_string(v.error) + ", expected " +
                   std::to_string(expected->rcode) + "/" + std::to_string(expected->error));
  }

  if (expected && expected->rcode != dnsd::rcode::kNoError) {
    // RFC 8945 §5.2: one answer with the RCODE; FORMERR unsigned and without TSIG; BADKEY and
    // BADSIG with a TSIG record without MAC; BADTIME and BADTRUNC signed.
    require(s.messages.size() == 1 && s.applied.calls == 0,
            "a request failing its TSIG check gets one answer and changes nothing");
    const ReadMessage& r = s.read.front();
    require((r.flags & 0x0f) == expected->rcode && r.counts[1] == 0 && r.counts[2] == 0,
            "a TSIG failure is answered with its RCODE and no records");
    require(s.outcome.refused, "a TSIG failure is logged as a warning");
    auto t = sent_tsig(s.messages.front(), r);
    if (expected->rcode == dnsd::rcode::kFormErr) {
      require(!t.has_value(), "a FORMERR for a TSIG has no TSIG record");
    } else if (expected->key == nullptr && !c.tcp && r.tc() && !t.has_value()) {
      // Too big for the requester's UDP buffer: the question alone, with TC.
    } else if (expected->key == nullptr) {
      require(t.has_value() && t->mac.empty() && t->error == expected->error &&
                  lowercase(t->key) == lower_wire(q.tsig->key) &&
                  t->time_signed == q.tsig->time_signed,
              "BADKEY and BADSIG answers carry the request's TSIG without MAC, with the error");
    } else {
      check_signed_chain(s, *q.tsig, *expected->key, c.now, expected->error);
    }
    return;
  }

  if (expected) {
    check_signed_chain(s, *q.tsig, *expected->key, c.now, 0);
    require(!s.messages.empty() || c.stop_after >= 0, "a request with a valid TSIG is answered");
    if (parsed.verdict == dnsd::Verdict::kError && !s.read.empty())
      require(s.read.front().full_rcode() == parsed.error_rcode,
              "a signed request the parser refuses is answered with the parser's RCODE");
  } else {
    for (const ReadMessage& r : s.read)
      require(std::none_of(r.records.begin(), r.records.end(),
                           [](const ReadRecord& rec) { return rec.type == rrtype::TSIG; }),
              "no TSIG record in the answer to an unsigned request");
  }
  const std::string signer = expected ? expected->key->name : "";

  if (is_update) {
    require(s.messages.size() == 1, "an UPDATE gets one answer");
    const std::uint16_t rc = s.read.front().flags & 0x0f;
    const bool may = signer == "acme-key." && q.qname == name_of(kNsecApex);
    require(s.applied.calls == 0 || may,
            "only UPDATEs of nsec.example. signed with acme-key. are applied");
    if (s.applied.calls != 0) {
      require(s.applied.changes == q.updates, "every update record is one change");
      require(rc == (s.applied.failed ? dnsd::rcode::kServFail : dnsd::rcode::kNoError),
              "an applied UPDATE is answered NOERROR, or SERVFAIL when the store fails");
    } else {
      require(rc != dnsd::rcode::kNoError, "an UPDATE not applied is not answered NOERROR");
    }
    return;
  }
  require(s.applied.calls == 0, "only UPDATEs change anything");

  if (is_transfer) {
    require(!s.messages.empty() || c.stop_after >= 0, "a transfer request gets an answer");
    if (s.messages.empty())
      return;
    const std::uint16_t rc = s.read.front().flags & 0x0f;
    if (rc == dnsd::rcode::kNoError) {
      require(std::string_view(c.peer) == kPlainPeer || signer == "xfr-key.",
              "the keyed secondary gets a transfer only when it signs with its key");
      require(c.busy < kMaxRunning, "no transfer starts past max_running");
      if (!c.tcp)
        require(q.qtype == rrtype::IXFR && s.read.front().counts[1] == 1 &&
                    s.read.front().records.front().type == rrtype::SOA,
                "over UDP an IXFR gets the SOA alone, and an AXFR no transfer");
      // Framed by the zone's SOA: first record of the first message, last of the last.
      require(s.read.front().counts[1] >= 1 && s.read.front().records.front().type == rrtype::SOA,
              "a transfer starts with the SOA");
      if (c.stop_after < 0) {
        const ReadMessage& last = s.read.back();
        require(last.counts[1] >= 1 && last.records[last.counts[1] - 1].type == rrtype::SOA,
                "a transfer ends with the SOA");
      }
      for (const ReadMessage& r : s.read)
        require((r.flags & 0x0f) == dnsd::rcode::kNoError && r.aa() &&
                    std::size_t{r.counts[1]} + (r.opt ? 1u : 0u) + (expected ? 1u : 0u) ==
                        r.records.size(),
                "every message of a transfer is NOERROR, authoritative, answer records only");
    } else {
      require(s.messages.size() == 1, "a refused transfer gets one answer");
    }
    return;
  }

  if (!expected) {
    require(s.messages.empty(), "an unsigned QUERY is left to answer()");
    return;
  }
  // A signed request answered by answer() and then signed.
  require(s.messages.size() <= 1, "a signed query gets at most one answer");
  if (!c.tcp && !s.messages.empty()) {
    const std::size_t limit =
        q.has_edns
            ? std::max<std::size_t>(512, std::min<std::size_t>(q.udp_size, dnsd::kEdnsBufferSize))
            : 512;
    require(s.messages.front().size() <= limit,
            "a signed UDP answer, TSIG included, fits the requester's buffer");
  }
}

std::int64_t clamp_time(std::int64_t t) {
  return std::clamp<std::int64_t>(t, 0, (std::int64_t{1} << 48) - 1);
}

} // namespace
} // namespace moat::fuzz

extern "C" int LLVMFuzzerInitialize(int* /*argc*/, char*** /*argv*/) {
  (void)moat::fuzz::snapshot(); // sign the zones before the first input is timed
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace moat;
  using namespace moat::fuzz;
  const std::span<const std::uint8_t> request(data, size);
  const dnsd::Parsed parsed = dnsd::parse_query(request);
  const dnsd::Query& q = parsed.query;
  if (verbose())
    std::fprintf(stderr, "request of %zu octets:\n", size);

  for (const char* peer : {kPlainPeer, kKeyedPeer})
    for (bool tcp : {false, true}) {
      const Call c{peer, tcp, kTime};
      check(request, parsed, c, serve(request, c));
    }

  // Once more at another time: the header ID, which no MAC covers, moves the clock by
  // -32768..32767 s from the request's time signed; its bit 8 fills the transfer slots first,
  // its bit 9 makes the peer a stranger.
  const auto id = static_cast<std::uint16_t>(size >= 2 ? (data[0] << 8) | data[1] : 0);
  if (size >= 2) {
    const std::int64_t base = q.tsig ? static_cast<std::int64_t>(q.tsig->time_signed) : kTime;
    Call c{(id & 0x0200) != 0 ? kStranger : kKeyedPeer, true,
           clamp_time(base + static_cast<std::int16_t>(id))};
    c.busy = (id & 0x0100) != 0 ? kMaxRunning : 0;
    check(request, parsed, c, serve(request, c));
  }

  // An unsigned request signed here, so that the fuzzer reaches what lies past the TSIG check
  // (UPDATE, transfers to the keyed secondary) with any request, not only the seeds' (whose
  // MACs break with any change): with acme-key. for an UPDATE, xfr-key. otherwise, sha1-key.
  // when the ID's bit 10 is set.
  if (parsed.verdict != dnsd::Verdict::kDrop && !q.tsig) {
    const KeyDef& k = (id & 0x0400) != 0                ? kKeys[2]
                      : q.opcode == dnsd::kOpcodeUpdate ? kKeys[1]
                                                        : kKeys[0];
    if (const auto signed_request = sign_request(request, k, kTime)) {
      const dnsd::Parsed signed_parsed = dnsd::parse_query(*signed_request);
      if (verbose())
        std::fprintf(stderr, " signed here with %s:\n", k.name);
      for (const Call& c : {Call{kKeyedPeer, true, kTime}, Call{kPlainPeer, false, kTime}})
        check(*signed_request, signed_parsed, c, serve(*signed_request, c));
    }
  }

  // A transfer to a peer that stops reading after the first message.
  if (parsed.verdict == dnsd::Verdict::kAnswer && q.opcode == dnsd::kOpcodeQuery &&
      (q.qtype == rrtype::AXFR || q.qtype == rrtype::IXFR)) {
    Call c{kPlainPeer, true, kTime};
    c.stop_after = 1;
    const Served s = serve(request, c);
    check(request, parsed, c, s);
    require(s.messages.size() <= 1, "nothing is sent after the peer stopped reading");
  }
  return 0;
}
