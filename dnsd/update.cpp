// RFC 2136 UPDATE, narrowed to what ACME DNS-01 (RFC 8555 §8.4) needs: TXT records at
// _acme-challenge names. Everything else is refused before anything changes.
#include "dnsd/update.hpp"

#include "core/rr.hpp"

namespace moat::dnsd {
namespace {

std::uint16_t get16(std::span<const std::uint8_t> p, std::size_t at) {
  return static_cast<std::uint16_t>((p[at] << 8) | p[at + 1]);
}

bool is_challenge_name(const Name& owner, const Name& apex) {
  if (!owner.is_subdomain_of(apex) || owner == apex)
    return false;
  return owner.lowercased().first_label() == "_acme-challenge";
}

} // namespace

UpdatePlan read_acme_update(std::span<const std::uint8_t> message, const Query& q,
                            const Name& apex) {
  UpdatePlan plan;
  auto refuse = [&](std::uint16_t rc, std::string why) {
    plan.rcode = rc;
    plan.why = std::move(why);
    plan.changes.clear();
    return plan;
  };
  if (q.qtype != rrtype::SOA || q.qclass != kClassIN)
    return refuse(rcode::kFormErr, "the zone section is not an SOA question of class IN");
  if (q.prerequisites != 0)
    return refuse(rcode::kNotImp, "prerequisites are not supported");
  if (q.updates > kMaxUpdateRecords)
    return refuse(rcode::kRefused, "more than " + std::to_string(kMaxUpdateRecords) + " records");
  std::size_t pos = q.records_at;
  for (std::uint16_t n = 0; n < q.updates; ++n) {
    ChallengeChange c;
    pos = read_name(message, pos, c.owner);
    c.owner = c.owner.lowercased();
    if (pos == 0 || pos + 10 > message.size())
      return refuse(rcode::kFormErr, "malformed update record");
    const std::uint16_t type = get16(message, pos), klass = get16(message, pos + 2);
    const std::uint32_t ttl =
        (std::uint32_t{get16(message, pos + 4)} << 16) | get16(message, pos + 6);
    const std::size_t rdlen = get16(message, pos + 8);
    pos += 10;
    if (pos + rdlen > message.size())
      return refuse(rcode::kFormErr, "malformed update record");
    const auto rdata = message.subspan(pos, rdlen);
    pos += rdlen;
    if (!c.owner.is_subdomain_of(apex))
      return refuse(rcode::kNotZone, c.owner.to_string() + " is outside the zone");
    if (klass == kClassIN) {
      c.kind = ChallengeChange::Kind::kAdd;
      if (type != rrtype::TXT)
        return refuse(rcode::kRefused, "only TXT records may be added, not " +
                                           type_to_string(type) + " at " + c.owner.to_string());
      if (rdlen == 0 || !check_rdata(rrtype::TXT, rdata))
        return refuse(rcode::kFormErr, "malformed TXT at " + c.owner.to_string());
      c.ttl = std::min(ttl, kMaxChallengeTtl);
      c.rdata.assign(rdata.begin(), rdata.end());
    } else if (klass == kClassAny) { // §2.5.2, §2.5.3: delete an RRset, or all at a name
      if (ttl != 0 || rdlen != 0)
        return refuse(rcode::kFormErr, "a delete with TTL or RDATA");
      if (type != rrtype::TXT && type != rrtype::ANY)
        return refuse(rcode::kRefused, "only TXT records may be deleted, not " +
                                           type_to_string(type) + " at " + c.owner.to_string());
      c.kind = ChallengeChange::Kind::kDeleteAll;
    } else if (klass == kClassNone) { // §2.5.4: delete one record
      if (ttl != 0)
        return refuse(rcode::kFormErr, "a delete with a TTL");
      if (type != rrtype::TXT)
        return refuse(rcode::kRefused, "only TXT records may be deleted, not " +
                                           type_to_string(type) + " at " + c.owner.to_string());
      c.kind = ChallengeChange::Kind::kDeleteOne;
      c.rdata.assign(rdata.begin(), rdata.end());
    } else {
      return refuse(rcode::kFormErr, "update record of class " + std::to_string(klass));
    }
    if (!is_challenge_name(c.owner, apex))
      return refuse(rcode::kRefused,
                    c.owner.to_string() + " is not an _acme-challenge name of " + apex.to_string());
    plan.changes.push_back(std::move(c));
  }
  return plan;
}

} // namespace moat::dnsd
