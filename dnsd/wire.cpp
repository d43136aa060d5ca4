#include "dnsd/wire.hpp"

#include "core/rr.hpp"

#include <algorithm>

namespace moat::dnsd {
namespace {

std::uint16_t get16(std::span<const std::uint8_t> p, std::size_t at) {
  return static_cast<std::uint16_t>((p[at] << 8) | p[at + 1]);
}

std::uint8_t lower(std::uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Skips a possibly compressed name starting at `pos`; returns the offset after it, or 0 when
// the name is malformed (bad label type, loop, or runs off the end).
std::size_t skip_name(std::span<const std::uint8_t> p, std::size_t pos) {
  std::size_t end = 0;
  int hops = 0;
  std::size_t length = 0;
  while (pos < p.size()) {
    std::uint8_t len = p[pos];
    if ((len & 0xc0) == 0xc0) {
      if (pos + 1 >= p.size() || ++hops > 16)
        return 0;
      if (end == 0)
        end = pos + 2;
      std::size_t target = static_cast<std::size_t>((len & 0x3f) << 8) | p[pos + 1];
      if (target >= pos)
        return 0; // only backward pointers: a pointer to itself or ahead is a loop or a lie
      pos = target;
      continue;
    }
    if ((len & 0xc0) != 0)
      return 0;
    if (len == 0)
      return end != 0 ? end : pos + 1;
    length += len + 1;
    if (length > 255)
      return 0;
    pos += len + 1;
  }
  return 0;
}

std::uint32_t get32(std::span<const std::uint8_t> p, std::size_t at) {
  return (std::uint32_t{get16(p, at)} << 16) | get16(p, at + 2);
}

// The RDATA of a TSIG record (RFC 8945 §4.2) at [pos, end); false when it is malformed.
bool parse_tsig_rdata(std::span<const std::uint8_t> p, std::size_t pos, std::size_t end,
                      TsigRecord& t) {
  pos = read_name(p.first(end), pos, t.algorithm);
  if (pos == 0 || pos + 10 > end)
    return false;
  t.time_signed = (std::uint64_t{get16(p, pos)} << 32) | get32(p, pos + 2);
  t.fudge = get16(p, pos + 6);
  const std::size_t mac_size = get16(p, pos + 8);
  pos += 10;
  if (pos + mac_size + 6 > end)
    return false;
  t.mac.assign(p.begin() + static_cast<std::ptrdiff_t>(pos),
               p.begin() + static_cast<std::ptrdiff_t>(pos + mac_size));
  pos += mac_size;
  t.original_id = get16(p, pos);
  t.error = get16(p, pos + 2);
  const std::size_t other_len = get16(p, pos + 4);
  pos += 6;
  if (pos + other_len != end)
    return false;
  t.other.assign(p.begin() + static_cast<std::ptrdiff_t>(pos),
                 p.begin() + static_cast<std::ptrdiff_t>(end));
  return true;
}

} // namespace

// Reads a possibly compressed name at `pos` into `out`; returns the offset after it, or 0 when
// malformed. Pointers must go backwards, at most 16 of them.
std::size_t read_name(std::span<const std::uint8_t> p, std::size_t pos, Name& out) {
  const std::size_t end = skip_name(p, pos);
  if (end == 0)
    return 0;
  std::vector<std::uint8_t> wire;
  while (true) {
    std::uint8_t len = p[pos];
    if ((len & 0xc0) == 0xc0) {
      pos = static_cast<std::size_t>((len & 0x3f) << 8) | p[pos + 1];
      continue;
    }
    wire.insert(wire.end(), p.begin() + static_cast<std::ptrdiff_t>(pos),
                p.begin() + static_cast<std::ptrdiff_t>(pos + len + 1));
    if (len == 0)
      break;
    pos += len + 1;
  }
  auto name = Name::from_wire(wire);
  if (!name)
    return 0;
  out = std::move(*name);
  return end;
}

Parsed parse_query(std::span<const std::uint8_t> p) {
  Parsed out;
  if (p.size() < kHeaderSize)
    return out; // kDrop: not even an ID to answer to
  Query& q = out.query;
  q.id = get16(p, 0);
  const std::uint8_t flags1 = p[2];
  const std::uint8_t flags2 = p[3];
  if ((flags1 & 0x80) != 0)
    return out; // a response: never answer it (reflection loops)
  q.opcode = (flags1 >> 3) & 0x0f;
  q.rd = (flags1 & 0x01) != 0;
  q.cd = (flags2 & 0x10) != 0;
  const std::uint16_t qdcount = get16(p, 4), ancount = get16(p, 6), nscount = get16(p, 8),
                      arcount = get16(p, 10);
  out.verdict = Verdict::kError;
  out.error_rcode = rcode::kFormErr;

  std::size_t pos = kHeaderSize;
  if (qdcount == 1) {
    // The question's name may not be compressed: nothing precedes it but the header.
    std::size_t i = pos;
    while (i < p.size() && p[i] != 0 && (p[i] & 0xc0) == 0)
      i += p[i] + 1;
    if (i >= p.size() || p[i] != 0 || i + 5 > p.size())
      return out;
    auto name = Name::from_wire(p.subspan(pos, i + 1 - pos));
    if (!name)
      return out;
    q.qname = std::move(*name);
    q.qtype = get16(p, i + 1);
    q.qclass = get16(p, i + 3);
    q.has_question = true;
    pos = i + 5;
  }

  if (q.opcode == kOpcodeUpdate) {
    // The zone section is one SOA question; the prerequisite and update sections are records
    // read later by the UPDATE handler (dnsd/update.cpp): here they are only skipped.
    if (qdcount != 1 || !q.has_question)
      return out;
    q.records_at = pos;
    q.prerequisites = ancount;
    q.updates = nscount;
    for (std::size_t n = 0; n < std::size_t{ancount} + nscount; ++n) {
      pos = skip_name(p, pos);
      if (pos == 0 || pos + 10 > p.size())
        return out;
      pos += 10 + get16(p, pos + 8);
      if (pos > p.size())
        return out;
    }
  } else if (q.opcode != kOpcodeQuery) {
    out.error_rcode = rcode::kNotImp;
    return out;
  }
  // An IXFR carries the requester's SOA in the authority section (RFC 1995 §3); nothing else
  // has records there or in the answer section.
  const bool ixfr = q.has_question && q.qtype == rrtype::IXFR;
  if (q.opcode == kOpcodeQuery && (qdcount != 1 || ancount != 0 || nscount != (ixfr ? 1 : 0)))
    return out;
  if (ixfr) {
    pos = skip_name(p, pos);
    if (pos == 0 || pos + 10 > p.size() || get16(p, pos) != rrtype::SOA)
      return out;
    const std::size_t rdlen = get16(p, pos + 8);
    const std::size_t rdata = pos + 10, end = rdata + rdlen;
    if (end > p.size())
      return out;
    std::size_t r = skip_name(p.first(end), rdata); // MNAME
    r = r == 0 ? 0 : skip_name(p.first(end), r);    // RNAME
    if (r == 0 || r + 20 != end)
      return out;
    q.ixfr_serial = get32(p, r);
    pos = end;
  }

  // Additional section: at most one OPT, owned by the root (RFC 6891 §6.1.1), and at most one
  // TSIG, the very last record (RFC 8945 §5.1). Other records are skipped.
  bool seen_opt = false;
  for (std::uint16_t n = 0; n < arcount; ++n) {
    const std::size_t owner_at = pos;
    pos = skip_name(p, pos);
    if (pos == 0 || pos + 10 > p.size())
      return out;
    const std::uint16_t type = get16(p, pos);
    const std::uint16_t klass = get16(p, pos + 2);
    const std::uint8_t ext_rcode = p[pos + 4];
    const std::uint8_t version = p[pos + 5];
    const std::uint16_t eflags = get16(p, pos + 6);
    const std::uint16_t rdlen = get16(p, pos + 8);
    pos += 10;
    if (pos + rdlen > p.size())
      return out;
    if (type == rrtype::TSIG) {
      TsigRecord t;
      t.offset = owner_at;
      if (n + 1 != arcount || klass != kClassAny || read_name(p, owner_at, t.key) == 0 ||
          !parse_tsig_rdata(p, pos, pos + rdlen, t))
        return out;
      q.tsig = std::move(t);
    }
    if (type == rrtype::OPT) {
      if (seen_opt || p[owner_at] != 0)
        return out;
      seen_opt = true;
      (void)ext_rcode;
      // Options must be well-formed even though unknown ones are ignored (RFC 6891 §6.1.2).
      std::size_t o = pos;
      while (o < pos + rdlen) {
        if (o + 4 > pos + rdlen)
          return out;
        const std::uint16_t code = get16(p, o), olen = get16(p, o + 2);
        if (code == kEdnsCookie && o + 4 + olen <= pos + rdlen) {
          q.cookie = parse_cookie(p.subspan(o + 4, olen));
          if (!q.cookie)
            return out; // RFC 7873 §5.2.2: a malformed COOKIE is FORMERR
        }
        o += 4 + olen;
      }
      if (o != pos + rdlen)
        return out;
      q.has_edns = true;
      q.edns_version = version;
      q.udp_size = std::max<std::uint16_t>(klass, 512);
      q.dnssec_ok = (eflags & 0x8000) != 0;
    }
    pos += rdlen;
  }
  if (pos != p.size())
    return out; // trailing garbage

  if (q.has_edns && q.edns_version != 0) {
    out.error_rcode = rcode::kBadVers;
    return out;
  }
  out.verdict = Verdict::kAnswer;
  out.error_rcode = rcode::kNoError;
  return out;
}

std::optional<TsigRecord> find_tsig(std::span<const std::uint8_t> p) {
  if (p.size() < kHeaderSize)
    return std::nullopt;
  const std::size_t qdcount = get16(p, 4);
  const std::size_t records = std::size_t{get16(p, 6)} + get16(p, 8) + get16(p, 10);
  std::size_t pos = kHeaderSize;
  for (std::size_t i = 0; i < qdcount; ++i) {
    pos = skip_name(p, pos);
    if (pos == 0 || pos + 4 > p.size())
      return std::nullopt;
    pos += 4;
  }
  for (std::size_t i = 0; i < records; ++i) {
    const std::size_t owner_at = pos;
    pos = skip_name(p, pos);
    if (pos == 0 || pos + 10 > p.size())
      return std::nullopt;
    const std::uint16_t type = get16(p, pos);
    const std::size_t rdlen = get16(p, pos + 8);
    pos += 10;
    if (pos + rdlen > p.size())
      return std::nullopt;
    if (type == rrtype::TSIG) {
      TsigRecord t;
      t.offset = owner_at;
      if (i + 1 != records || pos + rdlen != p.size() || read_name(p, owner_at, t.key) == 0 ||
          !parse_tsig_rdata(p, pos, pos + rdlen, t))
        return std::nullopt;
      return t;
    }
    pos += rdlen;
  }
  return std::nullopt;
}

ResponseWriter::ResponseWriter(std::span<std::uint8_t> buffer, std::size_t limit)
    : buf_(buffer), limit_(std::min(limit, buffer.size())) {}

void ResponseWriter::put16(std::uint16_t v) {
  if (pos_ + 2 > limit_) {
    overflow_ = true;
    return;
  }
  buf_[pos_++] = static_cast<std::uint8_t>(v >> 8);
  buf_[pos_++] = static_cast<std::uint8_t>(v);
}

void ResponseWriter::put32(std::uint32_t v) {
  put16(static_cast<std::uint16_t>(v >> 16));
  put16(static_cast<std::uint16_t>(v));
}

void ResponseWriter::start(const Query& q, std::uint16_t rc, bool authoritative) {
  pos_ = 0;
  n_targets_ = 0;
  overflow_ = false;
  std::fill_n(buf_.begin(), std::min<std::size_t>(kHeaderSize, buf_.size()), 0);
  put16(q.id);
  // QR, opcode, AA, RD copied; TC clear; RA clear; Z, AD clear; CD copied (RFC 4035 §3.1.6).
  std::uint8_t f1 = 0x80 | static_cast<std::uint8_t>(q.opcode << 3) | (authoritative ? 0x04 : 0) |
                    (q.rd ? 0x01 : 0);
  std::uint8_t f2 = static_cast<std::uint8_t>((q.cd ? 0x10 : 0) | (rc & 0x0f));
  buf_[pos_++] = f1;
  buf_[pos_++] = f2;
  put16(q.has_question ? 1 : 0);
  put16(0);
  put16(0);
  put16(0);
  if (q.has_question) {
    write_name(q.qname, false);
    put16(q.qtype);
    put16(q.qclass);
  }
  question_end_ = pos_;
}

void ResponseWriter::resume(std::size_t size) {
  pos_ = std::min(size, limit_);
  question_end_ = pos_;
  n_targets_ = 0;
  overflow_ = false;
}

bool ResponseWriter::write_name(const Name& name, bool compress) {
  const auto& w = name.wire();
  // Try each suffix, longest first, against the names already in the packet.
  std::size_t label = 0;
  while (compress && w[label] != 0) {
    for (std::size_t t = 0; t < n_targets_; ++t) {
      // Compare the suffix w[label..] with the name at targets_[t], following pointers.
      std::size_t a = label;
      std::size_t b = targets_[t];
      int hops = 0;
      bool equal = true;
      while (true) {
        while ((buf_[b] & 0xc0) == 0xc0) {
          b = static_cast<std::size_t>((buf_[b] & 0x3f) << 8) | buf_[b + 1];
          if (++hops > 16) {
            equal = false;
            break;
          }
        }
        if (!equal)
          break;
        if (w[a] != buf_[b]) {
          equal = false;
          break;
        }
        if (w[a] == 0)
          break;
        for (std::size_t k = 1; k <= w[a]; ++k)
          if (lower(w[a + k]) != lower(buf_[b + k])) {
            equal = false;
            break;
          }
        if (!equal)
          break;
        a += w[a] + 1;
        b += buf_[b] + 1;
      }
      if (equal) {
        if (pos_ + label + 2 > limit_) {
          overflow_ = true;
          return false;
        }
        std::size_t start = pos_;
        std::copy_n(w.begin(), label, buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
        pos_ += label;
        for (std::size_t l = 0; l < label && n_targets_ < kMaxTargets; l += w[l] + 1)
          if (start + l < 0x4000)
            targets_[n_targets_++] = static_cast<std::uint16_t>(start + l);
        put16(static_cast<std::uint16_t>(0xc000 | targets_[t]));
        return true;
      }
    }
    label += w[label] + 1;
  }
  if (pos_ + w.size() > limit_) {
    overflow_ = true;
    return false;
  }
  std::size_t start = pos_;
  std::copy(w.begin(), w.end(), buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
  pos_ += w.size();
  for (std::size_t l = 0; w[l] != 0 && n_targets_ < kMaxTargets; l += w[l] + 1)
    if (start + l < 0x4000)
      targets_[n_targets_++] = static_cast<std::uint16_t>(start + l);
  return true;
}

bool ResponseWriter::add(Section s, const Name& owner, std::uint16_t type, std::uint32_t ttl,
                         std::span<const std::uint8_t> rdata) {
  const std::size_t saved_pos = pos_;
  const std::size_t saved_targets = n_targets_;
  overflow_ = false;
  write_name(owner, true);
  put16(type);
  put16(kClassIN);
  put32(ttl);
  const std::size_t rdlen_at = pos_;
  put16(0);
  // Compress names inside RDATA only for the RFC 1035 types that allow it (RFC 3597 §4).
  std::size_t prefix = 0, names = 0;
  switch (type) {
  case rrtype::NS:
  case rrtype::CNAME:
  case rrtype::PTR:
    names = 1;
    break;
  case rrtype::MX:
    prefix = 2;
    names = 1;
    break;
  case rrtype::SOA:
    names = 2;
    break;
  default:
    break;
  }
  if (prefix > rdata.size())
    names = 0; // malformed; copied as stored
  std::size_t r = 0;
  if (names > 0 && !overflow_) {
    if (pos_ + prefix > limit_) {
      overflow_ = true;
    } else {
      std::copy_n(rdata.begin(), prefix, buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
      pos_ += prefix;
      r = prefix;
    }
    for (std::size_t n = 0; n < names && !overflow_; ++n) {
      std::size_t e = r;
      while (e < rdata.size() && rdata[e] != 0)
        e += rdata[e] + 1;
      auto name = Name::from_wire(rdata.subspan(r, std::min(e + 1, rdata.size()) - r));
      if (!name) {
        r = 0; // not a well-formed name: fall back to the RDATA as stored
        pos_ = rdlen_at + 2;
        n_targets_ = saved_targets;
        break;
      }
      write_name(*name, true);
      r = e + 1;
    }
  }
  if (!overflow_) {
    if (pos_ + (rdata.size() - r) > limit_) {
      overflow_ = true;
    } else {
      std::copy(rdata.begin() + static_cast<std::ptrdiff_t>(r), rdata.end(),
                buf_.begin() + static_cast<std::ptrdiff_t>(pos_));
      pos_ += rdata.size() - r;
    }
  }
  if (overflow_) {
    pos_ = saved_pos;
    n_targets_ = saved_targets;
    overflow_ = false;
    return false;
  }
  std::size_t rdlen = pos_ - rdlen_at - 2;
  buf_[rdlen_at] = static_cast<std::uint8_t>(rdlen >> 8);
  buf_[rdlen_at + 1] = static_cast<std::uint8_t>(rdlen);
  std::size_t at = 6 + 2 * static_cast<std::size_t>(s);
  std::uint16_t c = static_cast<std::uint16_t>(((buf_[at] << 8) | buf_[at + 1]) + 1);
  buf_[at] = static_cast<std::uint8_t>(c >> 8);
  buf_[at + 1] = static_cast<std::uint8_t>(c);
  return true;
}

bool ResponseWriter::add_opt(bool dnssec_ok, std::uint16_t full_rcode,
                             const std::array<std::uint8_t, 8>* client_cookie,
                             std::span<const std::uint8_t> server_cookie) {
  const std::size_t cookie_size = client_cookie != nullptr ? 8 + server_cookie.size() : 0;
  const std::size_t options = cookie_size != 0 ? 4 + cookie_size : 0;
  if (pos_ + 11 + options > limit_)
    return false;
  buf_[pos_++] = 0; // root owner
  put16(rrtype::OPT);
  put16(kEdnsBufferSize);
  buf_[pos_++] = static_cast<std::uint8_t>(full_rcode >> 4); // extended RCODE
  buf_[pos_++] = 0;                                          // version 0
  put16(dnssec_ok ? 0x8000 : 0);                             // only DO; other flags cleared
  put16(static_cast<std::uint16_t>(options));
  if (client_cookie != nullptr) {
    put16(kEdnsCookie);
    put16(static_cast<std::uint16_t>(cookie_size));
    auto at = buf_.begin() + static_cast<std::ptrdiff_t>(pos_);
    at = std::copy(client_cookie->begin(), client_cookie->end(), at);
    std::copy(server_cookie.begin(), server_cookie.end(), at);
    pos_ += cookie_size;
  }
  std::uint16_t c = static_cast<std::uint16_t>(((buf_[10] << 8) | buf_[11]) + 1);
  buf_[10] = static_cast<std::uint8_t>(c >> 8);
  buf_[11] = static_cast<std::uint8_t>(c);
  set_rcode(full_rcode);
  return true;
}

ResponseWriter::Mark ResponseWriter::mark() const {
  Mark m{pos_, n_targets_, {}};
  std::copy_n(buf_.begin() + 6, 6, m.counts.begin());
  return m;
}

void ResponseWriter::rollback(const Mark& m) {
  pos_ = m.pos;
  n_targets_ = m.targets;
  std::copy(m.counts.begin(), m.counts.end(), buf_.begin() + 6);
}

void ResponseWriter::set_tc() { buf_[2] |= 0x02; }
void ResponseWriter::set_aa(bool aa) { buf_[2] = aa ? (buf_[2] | 0x04) : (buf_[2] & ~0x04); }
void ResponseWriter::set_rcode(std::uint16_t rc) {
  buf_[3] = static_cast<std::uint8_t>((buf_[3] & 0xf0) | (rc & 0x0f));
}

void ResponseWriter::truncate_to_question() {
  pos_ = question_end_;
  std::fill(buf_.begin() + 6, buf_.begin() + 12, 0);
  // Forget compression targets past the question.
  n_targets_ = static_cast<std::size_t>(
      std::count_if(targets_.begin(), targets_.begin() + static_cast<std::ptrdiff_t>(n_targets_),
                    [&](std::uint16_t t) { return t < question_end_; }));
}

std::uint16_t ResponseWriter::count(Section s) const {
  std::size_t at = 6 + 2 * static_cast<std::size_t>(s);
  return static_cast<std::uint16_t>((buf_[at] << 8) | buf_[at + 1]);
}

} // namespace moat::dnsd
