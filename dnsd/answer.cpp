// The lookup of RFC 1034 §4.3.2 with the DNSSEC additions of RFC 4035 §3.1 and RFC 5155 §7.2:
// referrals, CNAME chains inside the zone, wildcards, and the proofs for every negative answer.
#include "dnsd/answer.hpp"

#include "core/rr.hpp"
#include "dnsd/wire.hpp"
#include "signer/nsec3.hpp"

#include <vector>

namespace moat::dnsd {
namespace {

using Section = ResponseWriter::Section;

// One RRset to put in a section, under `owner` (differs from the node's for wildcards).
struct Item {
  Name owner;
  const ServedRrset* set;
  bool sign = true; // false for delegation NS and glue, which carry no RRSIG
};

class Resolver {
public:
  Resolver(const ServedZone& zone, const Query& q) : z_(zone), q_(q), do_(q.dnssec_ok) {}

  void run();

  std::uint16_t rc = rcode::kNoError;
  bool authoritative = true;
  bool negative = false; ///< the SOA in authority is a negative-caching proof
  std::vector<Item> answer, authority, additional;

private:
  const ServedNode* node(const Name& n) const { return z_.node_at(n); }
  // True when `n` owns data or has descendants (so is at least an empty non-terminal).
  bool exists(const Name& n) const {
    auto it = z_.lower_bound(n);
    return it != z_.nodes.end() && it->owner.is_subdomain_of(n);
  }
  // The deepest zone cut at or above `n` (below the apex), if any.
  const ServedNode* cut_above(const Name& n) const {
    std::size_t extra = n.label_count() - z_.apex.label_count();
    for (std::size_t i = extra; i >= 1; --i) {
      Name a = n.strip_labels(i - 1);
      const ServedNode* c = node(a);
      if (c != nullptr && c->delegation)
        return c;
    }
    return nullptr;
  }
  Name closest_encloser(const Name& n) const {
    for (Name a = n.parent(); a != z_.apex; a = a.parent())
      if (exists(a))
        return a;
    return z_.apex;
  }

  bool in_answer(const Name& owner, const ServedRrset* set) const {
    for (const Item& i : answer)
      if (i.set == set && i.owner == owner)
        return true;
    return false;
  }

  void add_soa() {
    if (z_.soa != nullptr)
      authority.push_back({z_.apex, z_.soa});
    negative = true;
  }
  void add_unique(std::vector<Item>& section, const Name& owner, const ServedRrset* set) {
    if (set == nullptr)
      return;
    for (const Item& i : section)
      if (i.set == set)
        return;
    section.push_back({owner, set});
  }

  // NSEC proofs (RFC 4035 §3.1.3).
  void nsec_at(const Name& n) {
    if (const ServedNode* nd = node(n))
      add_unique(authority, nd->owner, nd->find(rrtype::NSEC));
  }
  void nsec_covering(const Name& n) {
    auto it = z_.lower_bound(n);
    while (it != z_.nodes.begin()) {
      --it;
      if (const ServedRrset* s = it->find(rrtype::NSEC)) {
        add_unique(authority, it->owner, s);
        return;
      }
    }
  }
  // NSEC3 proofs (RFC 5155 §7.2).
  void nsec3_matching(const Name& n) {
    const auto hash = signer::nsec3_hash(n, {}, 0);
    const std::size_t i = z_.nsec3_lower_bound(hash);
    if (i < z_.nsec3_hashes.size() && std::ranges::equal(z_.nsec3_hashes[i], hash))
      add_unique(authority, z_.nsec3_nodes[i].owner, z_.nsec3_nodes[i].find(rrtype::NSEC3));
  }
  void nsec3_covering(const Name& n) {
    if (z_.nsec3_nodes.empty())
      return;
    // The last hash below n's: the one whose span covers it. Before the first hash, the last
    // one covers it, wrapping around the chain.
    std::size_t i = z_.nsec3_lower_bound(signer::nsec3_hash(n, {}, 0));
    i = (i == 0 ? z_.nsec3_nodes.size() : i) - 1;
    add_unique(authority, z_.nsec3_nodes[i].owner, z_.nsec3_nodes[i].find(rrtype::NSEC3));
  }
  Name next_closer(const Name& n, const Name& ce) const {
    return n.strip_labels(n.label_count() - ce.label_count() - 1);
  }

  void prove_nodata(const Name& n) {
    if (!do_)
      return;
    if (z_.nsec3)
      nsec3_matching(n);
    else if (node(n) != nullptr)
      nsec_at(n);
    else
      nsec_covering(n); // empty non-terminal: the NSEC whose span holds it
  }
  void prove_nxdomain(const Name& n, const Name& ce) {
    if (!do_)
      return;
    auto wildcard = ce.prepend("*");
    if (z_.nsec3) {
      nsec3_matching(ce);
      nsec3_covering(next_closer(n, ce));
      if (wildcard)
        nsec3_covering(*wildcard);
    } else {
      nsec_covering(n);
      if (wildcard)
        nsec_covering(*wildcard);
    }
  }
  // A wildcard answered: prove that the name itself does not exist.
  void prove_wildcard_answer(const Name& n, const Name& ce) {
    if (!do_)
      return;
    if (z_.nsec3)
      nsec3_covering(next_closer(n, ce));
    else
      nsec_covering(n);
  }
  void prove_wildcard_nodata(const Name& n, const Name& ce, const Name& wildcard) {
    if (!do_)
      return;
    if (z_.nsec3) {
      nsec3_matching(ce);
      nsec3_covering(next_closer(n, ce));
      nsec3_matching(wildcard);
    } else {
      nsec_covering(n);
      nsec_at(wildcard);
    }
  }

  void referral(const ServedNode& cut) {
    authoritative = false;
    authority.push_back({cut.owner, cut.find(rrtype::NS), false});
    if (const ServedRrset* ds = cut.find(rrtype::DS)) {
      if (do_)
        authority.push_back({cut.owner, ds});
    } else if (do_) {
      if (z_.nsec3)
        nsec3_matching(cut.owner);
      else
        nsec_at(cut.owner);
    }
    add_glue(*cut.find(rrtype::NS));
  }

  // A/AAAA for the targets of NS, MX and SRV records, when this zone has them.
  void add_glue(const ServedRrset& set) {
    for (auto rd : set.rdatas) {
      Rr rr{z_.apex, set.type, 0, {rd.begin(), rd.end()}};
      for (const Name& target : rdata_target_names(rr)) {
        if (!target.is_subdomain_of(z_.apex))
          continue;
        const ServedNode* t = node(target);
        if (t == nullptr)
          continue;
        for (std::uint16_t type : {rrtype::A, rrtype::AAAA})
          if (const ServedRrset* s = t->find(type))
            additional.push_back({t->owner, s, !t->glue});
      }
    }
  }

  const ServedZone& z_;
  const Query& q_;
  bool do_;
};

void Resolver::run() {
  Name name = q_.qname;
  for (int hops = 0; hops < 8; ++hops) {
    if (const ServedNode* cut = cut_above(name);
        cut != nullptr && !(cut->owner == name && q_.qtype == rrtype::DS)) {
      if (hops == 0)
        referral(*cut);
      return;
    }
    const ServedNode* nd = node(name);
    if (nd != nullptr && !nd->glue) {
      const ServedRrset* cname = nd->find(rrtype::CNAME);
      if (cname != nullptr && q_.qtype != rrtype::CNAME) {
        if (in_answer(nd->owner, cname))
          return; // a CNAME loop: the chain once is the answer (as BIND and Knot give it)
        answer.push_back({nd->owner, cname});
        auto target = Name::from_wire(cname->rdatas.front());
        if (!target || !target->is_subdomain_of(z_.apex))
          return; // the resolver continues outside this zone
        name = *target;
        continue;
      }
      if (q_.qtype == rrtype::ANY) {
        // RFC 8482 §4.1: one RRset is enough; prefer what a mail sender asks for.
        for (std::uint16_t t : {rrtype::MX, rrtype::A, rrtype::AAAA, rrtype::TXT})
          if (const ServedRrset* s = nd->find(t)) {
            answer.push_back({nd->owner, s});
            return;
          }
        for (const auto& s : nd->rrsets)
          if (s.type != rrtype::NSEC && s.type != rrtype::RRSIG) {
            answer.push_back({nd->owner, &s});
            return;
          }
      }
      if (const ServedRrset* s = nd->find(q_.qtype)) {
        answer.push_back({nd->owner, s});
        if (s->type == rrtype::MX || s->type == rrtype::SRV || s->type == rrtype::NS)
          add_glue(*s);
        return;
      }
      add_soa();
      prove_nodata(name);
      return;
    }
    if (exists(name)) { // empty non-terminal
      add_soa();
      prove_nodata(name);
      return;
    }
    const Name ce = closest_encloser(name);
    auto wildcard = ce.prepend("*");
    const ServedNode* wnode = wildcard ? node(*wildcard) : nullptr;
    if (wnode == nullptr || wnode->glue) {
      rc = rcode::kNxDomain; // after a CNAME too: the RCODE speaks of the last name (RFC 6604)
      add_soa();
      prove_nxdomain(name, ce);
      return;
    }
    const ServedRrset* cname = wnode->find(rrtype::CNAME);
    if (cname != nullptr && q_.qtype != rrtype::CNAME) {
      if (in_answer(name, cname))
        return;
      answer.push_back({name, cname});
      prove_wildcard_answer(name, ce);
      auto target = Name::from_wire(cname->rdatas.front());
      if (!target || !target->is_subdomain_of(z_.apex))
        return;
      name = *target;
      continue;
    }
    const ServedRrset* s = wnode->find(q_.qtype);
    if (s == nullptr && q_.qtype == rrtype::ANY && !wnode->rrsets.empty())
      s = &wnode->rrsets.front();
    if (s != nullptr) {
      answer.push_back({name, s});
      prove_wildcard_answer(name, ce);
      return;
    }
    add_soa();
    prove_wildcard_nodata(name, ce, *wildcard);
    return;
  }
}

std::uint32_t soa_negative_ttl(const ServedRrset& soa) {
  const auto rd = soa.rdatas.front();
  std::uint32_t minimum = (std::uint32_t{rd[rd.size() - 4]} << 24) |
                          (std::uint32_t{rd[rd.size() - 3]} << 16) |
                          (std::uint32_t{rd[rd.size() - 2]} << 8) | rd[rd.size() - 1];
  return std::min(soa.ttl, minimum);
}

// Writes an RRset and (with DO) its signatures, all or nothing.
bool write_rrset(ResponseWriter& w, Section section, const Item& item, bool dnssec_ok,
                 std::uint32_t ttl) {
  auto m = w.mark();
  for (auto rd : item.set->rdatas)
    if (!w.add(section, item.owner, item.set->type, ttl, rd)) {
      w.rollback(m);
      return false;
    }
  if (dnssec_ok && item.sign)
    for (auto sig : item.set->rrsigs)
      if (!w.add(section, item.owner, rrtype::RRSIG, ttl, sig)) {
        w.rollback(m);
        return false;
      }
  return true;
}

// FNV-1a over the lower-cased wire form: names that differ only in case share a bucket. The
// rate limiter keys its own hash, so this one need not resist chosen collisions.
std::uint64_t name_hash(const Name& n) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (std::uint8_t c : n.wire()) {
    h ^= (c >= 'A' && c <= 'Z') ? c + 32 : c;
    h *= 0x100000001b3ULL;
  }
  return h;
}

} // namespace

ServerCookie answer_cookie(const CookieOption& cookie, const AnswerContext& context, bool& valid) {
  const CookieJar::Verdict v = context.cookies->check(cookie, context.client_ip, context.now);
  valid = v.check == CookieJar::Check::kValid;
  ServerCookie out{};
  if (valid && !v.renew && cookie.server_size == kServerCookieSize)
    std::copy_n(cookie.server().begin(), kServerCookieSize, out.begin());
  else
    out = context.cookies->make(cookie.client, context.client_ip, context.now);
  return out;
}

std::size_t answer(std::span<const std::uint8_t> request, const Snapshot& snapshot, bool over_tcp,
                   std::span<std::uint8_t> out, std::size_t reserve, const AnswerContext* context,
                   AnswerInfo* info) {
  AnswerInfo ignored;
  AnswerInfo& about = info != nullptr ? *info : ignored;
  Parsed parsed = parse_query(request);
  if (parsed.verdict == Verdict::kDrop)
    return 0;
  const Query& q = parsed.query;
  if (q.tsig || (parsed.verdict == Verdict::kAnswer &&
                 (q.opcode == kOpcodeUpdate || q.qtype == rrtype::AXFR || q.qtype == rrtype::IXFR)))
    return kNotAnswered;
  std::size_t limit = kMaxResponse;
  if (!over_tcp)
    limit = q.has_edns ? std::min<std::size_t>(q.udp_size, kEdnsBufferSize) : 512;
  limit -= std::min(limit - kHeaderSize, reserve);
  ResponseWriter w(out, limit);

  // RFC 7873 §5.2: a COOKIE is answered with the client's cookie and our server cookie, the
  // one received when it is still fresh, else a new one.
  ServerCookie server_cookie{};
  std::span<const std::uint8_t> cookie_out;
  if (q.cookie && context != nullptr && context->cookies != nullptr) {
    server_cookie = answer_cookie(*q.cookie, *context, about.cookie_valid);
    cookie_out = server_cookie;
  }
  auto finish = [&](std::uint16_t rc) {
    const std::size_t opt_at = w.size();
    if (q.has_edns &&
        w.add_opt(q.dnssec_ok, rc, cookie_out.empty() ? nullptr : &q.cookie->client, cookie_out))
      about.opt_at = opt_at;
    else if (!q.has_edns)
      w.set_rcode(rc);
    return w.size();
  };

  if (parsed.verdict == Verdict::kError) {
    w.start(q, parsed.error_rcode, false);
    return finish(parsed.error_rcode);
  }
  if (q.qclass != kClassIN) {
    w.start(q, rcode::kRefused, false);
    return finish(rcode::kRefused);
  }
  if (q.qtype == rrtype::OPT || q.qtype == 249 /* TKEY */ || q.qtype == 250 /* TSIG */) {
    w.start(q, rcode::kFormErr, false);
    return finish(rcode::kFormErr);
  }
  const ServedZone* zone = snapshot.find_zone(q.qname);
  if (zone == nullptr) {
    w.start(q, rcode::kRefused, false);
    return finish(rcode::kRefused);
  }

  Resolver r(*zone, q);
  r.run();
  w.start(q, r.rc, r.authoritative);
  about.question_end = w.size();
  if (r.rc == rcode::kNxDomain) {
    about.cls = ResponseClass::kNxDomain; // one bucket per zone: random names do not escape it
    about.name_hash = name_hash(zone->apex);
  } else if (r.rc != rcode::kNoError) {
    about.cls = ResponseClass::kError;
  } else if (!r.authoritative) {
    about.cls = ResponseClass::kReferral;
    about.name_hash = name_hash(r.authority.empty() ? zone->apex : r.authority.front().owner);
  } else {
    about.cls = r.answer.empty() ? ResponseClass::kNoData : ResponseClass::kPositive;
    about.name_hash = name_hash(q.qname);
  }
  // Room for the OPT record (and its cookie) must remain whatever else is written.
  const std::size_t opt_room =
      q.has_edns ? 11 + (cookie_out.empty() ? 0 : 4 + 8 + kServerCookieSize) : 0;
  w.set_limit(limit - opt_room);
  bool fits = true;
  for (const Item& i : r.answer)
    fits = fits && write_rrset(w, Section::kAnswer, i, q.dnssec_ok, i.set->ttl);
  for (const Item& i : r.authority) {
    // RFC 2308 §3: the SOA of a negative answer carries the negative-caching TTL.
    std::uint32_t ttl =
        (i.set == zone->soa && r.negative) ? soa_negative_ttl(*zone->soa) : i.set->ttl;
    fits = fits && write_rrset(w, Section::kAuthority, i, q.dnssec_ok, ttl);
  }
  if (!fits) {
    w.truncate_to_question();
    w.set_tc();
  } else {
    for (const Item& i : r.additional)
      if (!write_rrset(w, Section::kAdditional, i, q.dnssec_ok, i.set->ttl))
        break; // glue is optional: leave the rest out rather than truncate
  }
  w.set_limit(limit);
  return finish(r.rc);
}

} // namespace moat::dnsd
