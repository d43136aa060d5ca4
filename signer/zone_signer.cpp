#include "signer/zone_signer.hpp"

#include "signer/nsec3.hpp"
#include "signer/rrsig.hpp"

#include <algorithm>
#include <limits>
#include <set>

namespace moat::signer {
namespace {

// How much earlier than the full validity an RRset's signatures expire: up to an eighth of it,
// the same for an RRset on every build (a hash of owner and type). Signatures made at one
// instant (a load, a key change) thus come due for refresh over a day or more rather than all
// at once, and stay spread on every later refresh.
std::int64_t expiration_spread(const SignedRrset& set, const SignPolicy& policy) {
  std::uint64_t h = 1469598103934665603ull; // FNV-1a
  const auto mix = [&h](std::uint8_t b) {
    h ^= b;
    h *= 1099511628211ull;
  };
  const Name owner = set.owner.lowercased(); // (not a temporary: the loop keeps its wire)
  for (std::uint8_t b : owner.wire())
    mix(b);
  mix(static_cast<std::uint8_t>(set.type >> 8));
  mix(static_cast<std::uint8_t>(set.type));
  const std::uint64_t window = policy.sig_validity / 8;
  return window == 0 ? 0 : static_cast<std::int64_t>(h % window);
}

using Node = RrsetsByType;

std::uint32_t read32(const std::vector<std::uint8_t>& b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

// SOA MINIMUM and TTL, read from the SOA RDATA.
Result<std::pair<std::uint32_t, std::uint32_t>> soa_minimum_and_ttl(const SignedRrset& soa) {
  if (soa.rdatas.size() != 1)
    return fail("the apex must have exactly one SOA record");
  const auto& rd = soa.rdatas.front();
  std::size_t i = 0;
  for (int names = 0; names < 2; ++names) {
    while (i < rd.size() && rd[i] != 0)
      i += rd[i] + 1;
    ++i;
  }
  if (i + 20 != rd.size())
    return fail("malformed SOA RDATA");
  return std::pair{read32(rd, i + 16), soa.ttl};
}

// True when the previous build's RRset has the same TTL and records as `set`.
bool same_records(const PreviousRrset& old, const SignedRrset& set) {
  return old.ttl == set.ttl &&
         std::ranges::equal(old.rdatas, set.rdatas,
                            [](auto a, const auto& b) { return std::ranges::equal(a, b); });
}

// What decides whether signatures can be re-used, read from the RRSIG RDATA (RFC 4034 §3.1):
// the signature expiration (octets 8-11) and key tag (octets 16-17) of each, in order.
struct Reusable {
  std::int64_t min_expiration = 0;
  std::vector<std::uint16_t> key_tags;
};
Reusable reusable(const std::vector<std::span<const std::uint8_t>>& rrsigs) {
  Reusable r;
  r.min_expiration = rrsigs.empty() ? 0 : std::numeric_limits<std::int64_t>::max();
  for (auto sig : rrsigs) {
    if (sig.size() < 18) {
      r.min_expiration = 0; // not an RRSIG: never re-used
      continue;
    }
    const std::int64_t expiration = (std::uint32_t{sig[8]} << 24) | (std::uint32_t{sig[9]} << 16) |
                                    (std::uint32_t{sig[10]} << 8) | sig[11];
    r.min_expiration = std::min(r.min_expiration, expiration);
    r.key_tags.push_back(static_cast<std::uint16_t>((sig[16] << 8) | sig[17]));
  }
  return r;
}

std::vector<std::uint16_t> types_of(const Node& node) {
  std::vector<std::uint16_t> out;
  for (const auto& [type, _] : node)
    out.push_back(type);
  return out;
}

} // namespace

void add_to_rrsets(RrsetsByType& node, const Name& owner, const Rr& rr) {
  SignedRrset& set = node[rr.type];
  if (set.rdatas.empty()) {
    set.owner = owner;
    set.type = rr.type;
    set.ttl = rr.ttl;
  }
  set.ttl = std::min(set.ttl, rr.ttl);
  set.rdatas.push_back(rr.rdata);
}

void canonicalize(RrsetsByType& node) {
  for (auto& [_, set] : node) {
    std::ranges::sort(set.rdatas);
    set.rdatas.erase(std::unique(set.rdatas.begin(), set.rdatas.end()), set.rdatas.end());
  }
}

Result<void> sign_rrset_reusing(SignedRrset& set, const Name& apex, const KeySet& keys,
                                const SignPolicy& policy, std::int64_t now,
                                const PreviousBuild* previous, SignCounts& counts) {
  const bool by_ksk =
      set.type == rrtype::DNSKEY || set.type == rrtype::CDS || set.type == rrtype::CDNSKEY;
  const auto& signer_keys = by_ksk ? keys.ksks : keys.zsks;
  set.rrsigs.clear();
  if (auto old = previous != nullptr ? previous->find(set.owner, set.type) : std::nullopt;
      old && same_records(*old, set)) {
    ++counts.unchanged;
    const Reusable r = reusable(old->rrsigs);
    if (std::ranges::equal(r.key_tags, signer_keys, {}, {}, &SigningKey::key_tag) &&
        r.min_expiration - now > static_cast<std::int64_t>(policy.sig_refresh) + policy.refresh_batch) {
      for (auto sig : old->rrsigs)
        set.rrsigs.emplace_back(sig.begin(), sig.end());
      counts.reused += set.rrsigs.size();
      counts.earliest_expiration = std::min(counts.earliest_expiration, r.min_expiration);
      return {};
    }
  }
  const Validity validity{now - policy.inception_offset,
                          now + policy.sig_validity - expiration_spread(set, policy)};
  counts.earliest_expiration = std::min(counts.earliest_expiration, validity.expiration);
  for (const auto* k : signer_keys) {
    auto sig = sign_rrset(*k, apex, RrsetView{set.owner, set.type, set.ttl, set.rdatas}, validity);
    if (!sig)
      return fail(set.owner.to_string() + " " + type_to_string(set.type) + ": " +
                  sig.error().message);
    set.rrsigs.push_back(std::move(*sig));
    ++counts.made;
  }
  return {};
}

std::string master_file_text(const SignedZone& zone) {
  std::string out =
      "; signed zone " + zone.apex.to_string() + " serial " + std::to_string(zone.serial) + "\n";
  for (const SignedRrset& set : zone.rrsets) {
    for (const auto& rdata : set.rdatas)
      out += rr_to_string(Rr{set.owner, set.type, set.ttl, rdata}) + "\n";
    for (const auto& sig : set.rrsigs)
      out += rr_to_string(Rr{set.owner, rrtype::RRSIG, set.ttl, sig}) + "\n";
  }
  return out;
}

Result<SignedZone> sign_zone(const ZoneContent& content, const KeySet& keys,
                             const SignPolicy& policy, std::int64_t now,
                             const PreviousBuild* previous) {
  if (keys.ksks.empty() || keys.zsks.empty() || keys.dnskeys.empty())
    return fail(content.apex.to_string() +
                ": signing needs at least one KSK and one ZSK, and a DNSKEY to publish");
  const Name apex = content.apex.lowercased();

  // Group records into RRsets; duplicates collapse, RDATA sorted into canonical order.
  std::map<Name, Node> nodes;
  nodes[apex];
  for (const Rr& rr : content.records) {
    if (!rr.owner.is_subdomain_of(apex))
      return fail(rr.owner.to_string() + " is outside the zone " + apex.to_string());
    if (is_dnssec_type(rr.type) && rr.type != rrtype::DS)
      continue; // generated below from the keys and the chain
    Name owner = rr.owner.lowercased();
    add_to_rrsets(nodes[owner], owner, rr);
  }
  Node& apex_node = nodes[apex];
  auto soa_it = apex_node.find(rrtype::SOA);
  if (soa_it == apex_node.end())
    return fail(apex.to_string() + " has no SOA record");
  for (auto& [_, node] : nodes)
    canonicalize(node);
  auto soa_fields = soa_minimum_and_ttl(soa_it->second);
  if (!soa_fields)
    return std::unexpected(soa_fields.error());
  // RFC 9077: NSEC/NSEC3 TTL is the smaller of the SOA MINIMUM and the SOA TTL.
  const std::uint32_t denial_ttl = std::min(soa_fields->first, soa_fields->second);

  SignedZone zone;
  zone.apex = apex;
  zone.nsec3 = policy.nsec3;
  zone.serial = read32(soa_it->second.rdatas.front(), soa_it->second.rdatas.front().size() - 20);

  // DNSKEY, CDS and CDNSKEY at the apex, from the keys.
  auto add_apex_set = [&](std::uint16_t type, std::vector<std::vector<std::uint8_t>> rdatas) {
    std::ranges::sort(rdatas);
    rdatas.erase(std::unique(rdatas.begin(), rdatas.end()), rdatas.end());
    apex_node[type] = SignedRrset{apex, type, policy.dnskey_ttl, std::move(rdatas), {}};
  };
  std::vector<std::vector<std::uint8_t>> dnskeys, cds, cdnskeys;
  for (const auto* k : keys.dnskeys)
    dnskeys.push_back(k->dnskey_rdata());
  for (const auto* k : keys.cds) {
    cds.push_back(ds_rdata(apex, k->dnskey_rdata()));
    cdnskeys.push_back(k->dnskey_rdata());
  }
  add_apex_set(rrtype::DNSKEY, std::move(dnskeys));
  if (policy.publish_cds && !cds.empty()) {
    add_apex_set(rrtype::CDS, std::move(cds));
    add_apex_set(rrtype::CDNSKEY, std::move(cdnskeys));
  }

  // Zone cuts: NS below the apex. Names under a cut are glue or occluded: served only as
  // glue, never signed, not part of the denial chain (RFC 4035 §2.2, §2.3).
  std::set<Name> cuts;
  std::set<Name> occluded;
  for (const auto& [owner, node] : nodes) {
    if (owner == apex)
      continue;
    bool under_cut = false;
    for (Name n = owner.parent(); n != apex && !n.is_root(); n = n.parent())
      if (cuts.contains(n))
        under_cut = true;
    // `nodes` iterates in canonical order, so a cut is always seen before the names under it.
    if (under_cut)
      occluded.insert(owner);
    else if (node.contains(rrtype::NS))
      cuts.insert(owner);
  }

  // The denial-of-existence chain.
  if (!policy.nsec3) {
    std::vector<const Name*> chain;
    for (const auto& [owner, _] : nodes)
      if (!occluded.contains(owner))
        chain.push_back(&owner);
    for (std::size_t i = 0; i < chain.size(); ++i) {
      const Name& owner = *chain[i];
      const Name& next = *chain[(i + 1) % chain.size()];
      std::vector<std::uint16_t> types = types_of(nodes[owner]);
      types.push_back(rrtype::NSEC);
      types.push_back(rrtype::RRSIG);
      std::vector<std::uint8_t> rd = next.wire();
      auto bitmap = type_bitmap(types);
      rd.insert(rd.end(), bitmap.begin(), bitmap.end());
      nodes[owner][rrtype::NSEC] =
          SignedRrset{owner, rrtype::NSEC, denial_ttl, {std::move(rd)}, {}};
    }
  } else {
    // Every authoritative name and delegation, plus the empty non-terminals between them and
    // the apex (RFC 5155 §7.1). No opt-out, no salt, no extra iterations (RFC 9276).
    apex_node[rrtype::NSEC3PARAM] =
        SignedRrset{apex, rrtype::NSEC3PARAM, denial_ttl, {{1, 0, 0, 0, 0}}, {}};
    std::map<std::vector<std::uint8_t>, std::vector<std::uint16_t>> hashed;
    for (const auto& [owner, node] : nodes) {
      if (occluded.contains(owner))
        continue;
      std::vector<std::uint16_t> types = types_of(node);
      bool insecure_cut = cuts.contains(owner) && !node.contains(rrtype::DS);
      if (!insecure_cut)
        types.push_back(rrtype::RRSIG);
      hashed[nsec3_hash(owner, {}, 0)] = std::move(types);
      for (Name n = owner.parent(); n != apex && n.is_subdomain_of(apex); n = n.parent()) {
        if (nodes.contains(n))
          break;
        hashed.try_emplace(nsec3_hash(n, {}, 0)); // empty non-terminal: empty bitmap
      }
    }
    std::vector<std::vector<std::uint8_t>> order;
    for (const auto& [h, _] : hashed)
      order.push_back(h);
    for (std::size_t i = 0; i < order.size(); ++i) {
      const auto& next = order[(i + 1) % order.size()];
      std::vector<std::uint8_t> rd{1, 0, 0, 0, 0, static_cast<std::uint8_t>(next.size())};
      rd.insert(rd.end(), next.begin(), next.end());
      auto bitmap = type_bitmap(hashed[order[i]]);
      rd.insert(rd.end(), bitmap.begin(), bitmap.end());
      auto owner = apex.prepend(base32hex_encode(order[i]));
      if (!owner)
        return fail(apex.to_string() + " is too long for NSEC3 owner names");
      nodes[*owner][rrtype::NSEC3] =
          SignedRrset{*owner, rrtype::NSEC3, denial_ttl, {std::move(rd)}, {}};
    }
  }

  // Sign, re-using last build's signatures where the RRset and the keys are unchanged and the
  // signatures are not due for refresh.
  std::size_t signed_rrsets = 0;
  SignCounts counts;
  counts.earliest_expiration = now + policy.sig_validity;
  for (auto& [owner, node] : nodes) {
    const bool is_cut = cuts.contains(owner);
    const bool is_occluded = occluded.contains(owner);
    // SOA first at the apex, then the other types in numeric order.
    if (owner == apex)
      zone.rrsets.push_back(std::move(node[rrtype::SOA]));
    for (auto& [type, set] : node) {
      if (owner == apex && type == rrtype::SOA)
        continue;
      zone.rrsets.push_back(std::move(set));
    }
    for (std::size_t i = zone.rrsets.size() - node.size(); i < zone.rrsets.size(); ++i) {
      SignedRrset& set = zone.rrsets[i];
      if (is_occluded || (is_cut && set.type != rrtype::DS && set.type != rrtype::NSEC))
        continue;
      ++signed_rrsets;
      if (auto r = sign_rrset_reusing(set, apex, keys, policy, now, previous, counts); !r)
        return std::unexpected(r.error());
    }
  }
  zone.signatures_made = counts.made;
  zone.signatures_reused = counts.reused;
  zone.earliest_expiration = counts.earliest_expiration;
  const std::size_t unchanged = counts.unchanged;
  const std::size_t before = previous != nullptr ? previous->signed_rrsets() : 0;
  zone.rrsets_changed = (signed_rrsets - unchanged) + (before - unchanged);
  return zone;
}

// The last build a ZoneSigner made, looked up by owner and type.
class ZoneSigner::Last final : public PreviousBuild {
public:
  explicit Last(SignedZone zone) : zone_(std::move(zone)) {
    for (const SignedRrset& set : zone_.rrsets)
      if (!set.rrsigs.empty())
        index_.emplace(std::pair{set.owner, set.type}, &set);
  }
  std::optional<PreviousRrset> find(const Name& owner, std::uint16_t type) const override {
    auto it = index_.find(std::pair{owner, type});
    if (it == index_.end())
      return std::nullopt;
    PreviousRrset out{it->second->ttl, {}, {}};
    for (const auto& rd : it->second->rdatas)
      out.rdatas.emplace_back(rd);
    for (const auto& sig : it->second->rrsigs)
      out.rrsigs.emplace_back(sig);
    return out;
  }
  std::size_t signed_rrsets() const override { return index_.size(); }

private:
  SignedZone zone_;
  std::map<std::pair<Name, std::uint16_t>, const SignedRrset*> index_;
};

Result<SignedZone> ZoneSigner::sign(const ZoneContent& content, const KeySet& keys,
                                    const SignPolicy& policy, std::int64_t now) {
  auto zone = sign_zone(content, keys, policy, now, last_.get());
  if (zone)
    last_ = std::make_shared<const Last>(*zone);
  return zone;
}

} // namespace moat::signer
