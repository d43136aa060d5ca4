#include "dnsd/zone_patch.hpp"

#include "dnsd/zone_storage.hpp"
#include "signer/nsec3.hpp"

#include <algorithm>
#include <array>
#include <functional>
#include <set>

namespace moat::dnsd {
namespace {

using Hash = std::array<std::uint8_t, 20>;

// One RRset of a node being made: kept as served (a view into the patched zone's storage) or
// fresh, to be signed (or given the signatures it had) and stored.
struct Part {
  const ServedRrset* kept = nullptr;
  signer::SignedRrset fresh;
  [[nodiscard]] std::uint16_t type() const { return kept != nullptr ? kept->type : fresh.type; }
};

// A node being made; without parts the name is gone.
using Draft = std::vector<Part>;

std::uint32_t read32(std::span<const std::uint8_t> b, std::size_t at) {
  return (std::uint32_t{b[at]} << 24) | (std::uint32_t{b[at + 1]} << 16) |
         (std::uint32_t{b[at + 2]} << 8) | b[at + 3];
}

// The records at one name grouped into RRsets the way sign_zone() groups them: DNSSEC types
// left to the signer, one TTL (the smallest) per RRset, RDATA sorted and without duplicates.
Draft grouped(const Name& owner, const std::vector<Rr>& records) {
  signer::RrsetsByType sets;
  for (const Rr& rr : records)
    if (!is_dnssec_type(rr.type))
      signer::add_to_rrsets(sets, owner, rr);
  signer::canonicalize(sets);
  Draft d;
  for (auto& [_, set] : sets)
    d.push_back(Part{nullptr, std::move(set)});
  return d;
}

std::vector<std::uint16_t> types_of(const Draft& d) {
  std::vector<std::uint16_t> out;
  for (const Part& p : d)
    out.push_back(p.type());
  return out;
}

// A sorted sequence after a change, without making it: the old elements (those `skip` does not
// rule out) minus `removed`, plus `added`. `next` and `prev` wrap around, as a denial chain does.
template <class T, class Old, class Key> class Changed {
public:
  Changed(const Old& old, Key key, std::vector<T> added, std::set<T> removed)
      : old_(old), key_(key), added_(std::move(added)), removed_(std::move(removed)) {}

  // The first element after `x`.
  [[nodiscard]] const T& next(const T& x) const {
    const T* best = nullptr;
    for (auto it = std::ranges::upper_bound(old_, x, {}, key_); it != old_.end(); ++it)
      if (kept(*it)) {
        best = &std::invoke(key_, *it);
        break;
      }
    if (auto a = std::ranges::upper_bound(added_, x);
        a != added_.end() && (best == nullptr || *a < *best))
      best = &*a;
    return best != nullptr ? *best : first();
  }

  // The last element before `x`.
  [[nodiscard]] const T& prev(const T& x) const {
    const T* best = nullptr;
    for (auto it = std::ranges::lower_bound(old_, x, {}, key_); it != old_.begin();)
      if (kept(*--it)) {
        best = &std::invoke(key_, *it);
        break;
      }
    if (auto a = std::ranges::lower_bound(added_, x);
        a != added_.begin() && (best == nullptr || *best < *std::prev(a)))
      best = &*std::prev(a);
    return best != nullptr ? *best : last();
  }

  // True when an element after `x` satisfies `below` (elements for which it holds follow `x`
  // contiguously).
  template <class Below> [[nodiscard]] bool any_after(const T& x, Below below) const {
    for (auto it = std::ranges::upper_bound(old_, x, {}, key_);
         it != old_.end() && below(std::invoke(key_, *it)); ++it)
      if (kept(*it))
        return true;
    auto a = std::ranges::upper_bound(added_, x);
    return a != added_.end() && below(*a);
  }

private:
  template <class E> [[nodiscard]] bool kept(const E& e) const {
    if constexpr (requires { e.glue; })
      if (e.glue)
        return false; // below a zone cut: not in the chain
    return !removed_.contains(std::invoke(key_, e));
  }
  [[nodiscard]] const T& first() const {
    const T* best = nullptr;
    for (auto it = old_.begin(); it != old_.end(); ++it)
      if (kept(*it)) {
        best = &std::invoke(key_, *it);
        break;
      }
    if (!added_.empty() && (best == nullptr || added_.front() < *best))
      best = &added_.front();
    return *best; // never empty: the apex (or its hash) stays
  }
  [[nodiscard]] const T& last() const {
    const T* best = nullptr;
    for (auto it = old_.end(); it != old_.begin();)
      if (kept(*--it)) {
        best = &std::invoke(key_, *it);
        break;
      }
    if (!added_.empty() && (best == nullptr || *best < added_.back()))
      best = &added_.back();
    return *best;
  }

  const Old& old_;
  Key key_;
  std::vector<T> added_;
  std::set<T> removed_;
};

Hash hash_of(const Name& name) {
  Hash h{};
  const auto raw = signer::nsec3_hash(name, {}, 0);
  std::copy_n(raw.begin(), std::min(raw.size(), h.size()), h.begin());
  return h;
}

// The type bitmap of a served NSEC3 record (RFC 5155 §3.2: after salt and next hash).
std::vector<std::uint8_t> nsec3_bitmap(std::span<const std::uint8_t> rd) {
  if (rd.size() < 5 || rd.size() < 6u + rd[4])
    return {};
  const std::size_t hash_at = 5u + rd[4];
  const std::size_t bitmap_at = hash_at + 1 + rd[hash_at];
  return bitmap_at <= rd.size() ? std::vector<std::uint8_t>(rd.begin() + bitmap_at, rd.end())
                                : std::vector<std::uint8_t>{};
}

struct NodeCounts {
  std::size_t records = 0;
  std::size_t signed_rrsets = 0;
};
NodeCounts counts_of(const ServedNode* node) {
  NodeCounts c;
  if (node != nullptr)
    for (const ServedRrset& s : node->rrsets) {
      c.records += s.rdatas.size() + s.rrsigs.size();
      c.signed_rrsets += s.rrsigs.empty() ? 0 : 1;
    }
  return c;
}

} // namespace

Result<std::optional<PatchedZone>> patch_zone(const ServedZone& zone, const ZoneChangeSet& change,
                                              const signer::KeySet& keys,
                                              const signer::SignPolicy& policy, std::int64_t now) {
  const Name& apex = zone.apex;
  const ServedNode* old_apex = zone.node_at(apex);
  if (zone.storage == nullptr || zone.storage->depth >= kMaxPatchChain ||
      zone.storage->patch_bytes > std::max<std::size_t>(zone.storage->whole_bytes / 2, 4 << 20) ||
      zone.soa == nullptr || zone.soa->rdatas.empty() || old_apex == nullptr)
    return std::nullopt;
  const auto old_soa = zone.soa->rdatas.front();
  const auto& new_soa = change.soa.rdata;
  if (change.soa.type != rrtype::SOA || change.soa.owner.lowercased() != apex ||
      old_soa.size() < 22 || new_soa.size() < 22)
    return std::nullopt;
  // Every NSEC/NSEC3 takes its TTL from the SOA (RFC 9077): a change there changes them all.
  const std::uint32_t minimum = read32(new_soa, new_soa.size() - 4);
  if (minimum != read32(old_soa, old_soa.size() - 4) || change.soa.ttl != zone.soa->ttl)
    return std::nullopt;
  const std::uint32_t denial_ttl = std::min(minimum, change.soa.ttl);

  // The data at each changed name, as it is now.
  std::map<Name, Draft> drafts;
  for (const auto& [name, records] : change.owners) {
    Name owner = name.lowercased();
    if (!owner.is_subdomain_of(apex))
      return std::nullopt; // the whole build says what is wrong
    Draft d = grouped(owner, records);
    for (const Part& p : d)
      if (p.type() == rrtype::SOA ||
          (owner != apex && (p.type() == rrtype::NS || p.type() == rrtype::DS)))
        return std::nullopt; // a zone cut made or changed: glue and occlusion move
    if (const ServedNode* n = zone.node_at(owner); n != nullptr && (n->delegation || n->glue))
      return std::nullopt;
    for (Name a = owner.parent(); a != apex && a.is_subdomain_of(apex); a = a.parent())
      if (const ServedNode* n = zone.node_at(a); n != nullptr && n->delegation)
        return std::nullopt; // would be glue
    drafts[owner] = std::move(d);
  }
  // The apex: a new SOA every time; DNSKEY, CDS, CDNSKEY and NSEC3PARAM come from the keys
  // and the policy, which are the ones the zone was signed with.
  {
    Draft d;
    if (auto it = drafts.find(apex); it != drafts.end()) {
      d = std::move(it->second);
      for (const ServedRrset& s : old_apex->rrsets)
        if (s.type == rrtype::DNSKEY || s.type == rrtype::CDS || s.type == rrtype::CDNSKEY ||
            s.type == rrtype::NSEC3PARAM)
          d.push_back(Part{&s, {}});
    } else {
      for (const ServedRrset& s : old_apex->rrsets)
        if (s.type != rrtype::SOA && s.type != rrtype::NSEC)
          d.push_back(Part{&s, {}});
    }
    d.push_back(Part{nullptr, {apex, rrtype::SOA, change.soa.ttl, {new_soa}, {}}});
    drafts[apex] = std::move(d);
  }

  std::vector<Name> added;
  std::set<Name> removed;
  for (const auto& [owner, d] : drafts) {
    const bool before = zone.node_at(owner) != nullptr;
    if (!d.empty() && !before)
      added.push_back(owner);
    if (d.empty() && before)
      removed.insert(owner);
  }
  const Changed<Name, std::vector<ServedNode>, decltype(&ServedNode::owner)> names(
      zone.nodes, &ServedNode::owner, added, removed);

  std::map<Hash, Draft> chain_drafts; // NSEC3 records by hash; without parts: gone
  if (!zone.nsec3) {
    // NSEC at every name that exists and changed, and at the predecessor of every name that
    // came or went (its next name moves).
    std::set<Name> targets;
    for (const auto& [owner, d] : drafts)
      if (!d.empty())
        targets.insert(owner);
    for (const Name& n : added)
      targets.insert(names.prev(n));
    for (const Name& n : removed)
      targets.insert(names.prev(n));
    for (const Name& t : targets) {
      auto [it, inserted] = drafts.try_emplace(t);
      if (inserted) {
        const ServedNode* n = zone.node_at(t);
        if (n == nullptr)
          return fail(t.to_string() + ": patching lost the NSEC chain");
        for (const ServedRrset& s : n->rrsets)
          if (s.type != rrtype::NSEC)
            it->second.push_back(Part{&s, {}});
      }
      std::vector<std::uint16_t> types = types_of(it->second);
      types.push_back(rrtype::NSEC);
      types.push_back(rrtype::RRSIG);
      std::vector<std::uint8_t> rd = names.next(t).wire();
      const auto bitmap = signer::type_bitmap(std::move(types));
      rd.insert(rd.end(), bitmap.begin(), bitmap.end());
      it->second.push_back(Part{nullptr, {t, rrtype::NSEC, denial_ttl, {std::move(rd)}, {}}});
    }
  } else {
    // Whose NSEC3 may change: the changed names, and the empty non-terminals above them that
    // may appear or go (RFC 5155 §7.1).
    std::set<Name> candidates;
    for (const auto& [owner, _] : drafts)
      for (Name a = owner; a.is_subdomain_of(apex); a = a.parent()) {
        candidates.insert(a);
        if (a == apex)
          break;
      }
    std::map<Hash, std::optional<std::vector<std::uint8_t>>> bitmaps; // nullopt: gone
    std::vector<Hash> hashes_added;
    std::set<Hash> hashes_removed;
    for (const Name& y : candidates) {
      std::optional<std::vector<std::uint16_t>> types;
      auto d = drafts.find(y);
      if (d != drafts.end() && !d->second.empty()) {
        types = types_of(d->second);
        types->push_back(rrtype::RRSIG);
      } else if (d == drafts.end() && zone.node_at(y) != nullptr) {
        continue; // data that did not change, nor did its NSEC3
      } else if (names.any_after(y, [&](const Name& n) { return n.is_subdomain_of(y); })) {
        types.emplace(); // an empty non-terminal: empty bitmap
      }
      const Hash h = hash_of(y);
      const std::size_t i = zone.nsec3_lower_bound(h);
      const bool before = i < zone.nsec3_hashes.size() && zone.nsec3_hashes[i] == h;
      if (types) {
        bitmaps[h] = signer::type_bitmap(std::move(*types));
        if (!before)
          hashes_added.push_back(h);
      } else if (before) {
        bitmaps[h] = std::nullopt;
        hashes_removed.insert(h);
      }
    }
    std::ranges::sort(hashes_added);
    const auto hash_key = [](const Hash& h) -> const Hash& { return h; };
    const Changed<Hash, std::vector<Hash>, decltype(hash_key)> chain(zone.nsec3_hashes, hash_key,
                                                                     hashes_added, hashes_removed);
    // The predecessor of every hash that came or went: its next hash moves, its bitmap not.
    std::vector<Hash> moved(hashes_added.begin(), hashes_added.end());
    moved.insert(moved.end(), hashes_removed.begin(), hashes_removed.end());
    for (const Hash& h : moved) {
      const Hash& p = chain.prev(h);
      if (bitmaps.contains(p))
        continue;
      const std::size_t i = zone.nsec3_lower_bound(p);
      const ServedRrset* set =
          i < zone.nsec3_nodes.size() ? zone.nsec3_nodes[i].find(rrtype::NSEC3) : nullptr;
      if (set == nullptr || set->rdatas.empty())
        return fail(apex.to_string() + ": patching lost the NSEC3 chain");
      bitmaps[p] = nsec3_bitmap(set->rdatas.front());
    }
    for (auto& [h, bitmap] : bitmaps) {
      Draft& d = chain_drafts[h];
      if (!bitmap)
        continue;
      const Hash& next = chain.next(h);
      std::vector<std::uint8_t> rd{1, 0, 0, 0, 0, static_cast<std::uint8_t>(next.size())};
      rd.insert(rd.end(), next.begin(), next.end());
      rd.insert(rd.end(), bitmap->begin(), bitmap->end());
      auto owner = apex.prepend(signer::base32hex_encode(h));
      if (!owner)
        return std::unexpected(owner.error());
      d.push_back(
          Part{nullptr, {std::move(*owner), rrtype::NSEC3, denial_ttl, {std::move(rd)}, {}}});
    }
  }

  // Sign what is fresh, re-using the signatures of what turns out unchanged.
  PatchedZone result;
  result.counts.earliest_expiration = now + policy.sig_validity;
  std::size_t parts = 0, bytes = 0, fresh = 0;
  auto prepare = [&](Draft& d) -> Result<void> {
    std::ranges::sort(d, {}, &Part::type);
    for (Part& p : d) {
      ++parts;
      if (p.kept != nullptr)
        continue;
      ++fresh;
      if (auto r =
              signer::sign_rrset_reusing(p.fresh, apex, keys, policy, now, &zone, result.counts);
          !r)
        return r;
      bytes += ZoneStorage::size_of(p.fresh.rdatas) + ZoneStorage::size_of(p.fresh.rrsigs);
    }
    return {};
  };
  for (auto& [_, d] : drafts)
    if (auto r = prepare(d); !r)
      return std::unexpected(r.error());
  for (auto& [_, d] : chain_drafts)
    if (auto r = prepare(d); !r)
      return std::unexpected(r.error());

  auto storage = std::make_shared<ZoneStorage>();
  storage->base = zone.storage;
  storage->depth = zone.storage->depth + 1;
  storage->whole_bytes = zone.storage->whole_bytes;
  storage->patch_bytes = zone.storage->patch_bytes + bytes;
  storage->bytes.reserve(bytes);
  storage->rrsets.reserve(parts);
  auto stored = [&](const Draft& d) {
    const std::size_t first = storage->rrsets.size();
    for (const Part& p : d)
      storage->rrsets.push_back(p.kept != nullptr ? *p.kept
                                                  : ServedRrset{p.fresh.type, p.fresh.ttl,
                                                                storage->append(p.fresh.rdatas),
                                                                storage->append(p.fresh.rrsigs)});
    return std::span<const ServedRrset>(storage->rrsets.data() + first, d.size());
  };

  auto out = std::make_shared<ServedZone>();
  out->apex = zone.apex;
  out->serial = read32(new_soa, new_soa.size() - 20);
  out->nsec3 = zone.nsec3;
  out->domain_id = zone.domain_id;
  out->record_count = zone.record_count;
  out->signed_rrset_count = zone.signed_rrset_count;
  std::size_t gone = 0; // signed RRsets that are no more
  auto account = [&](const ServedNode* before, const ServedNode* after) {
    const NodeCounts b = counts_of(before), a = counts_of(after);
    out->record_count = out->record_count - b.records + a.records;
    out->signed_rrset_count = out->signed_rrset_count - b.signed_rrsets + a.signed_rrsets;
    if (before != nullptr)
      for (const ServedRrset& s : before->rrsets)
        if (!s.rrsigs.empty() && (after == nullptr || after->find(s.type) == nullptr))
          ++gone;
  };

  // The new node lists: the old ones with the drafts merged in (both in canonical order).
  out->nodes.reserve(zone.nodes.size() + added.size());
  auto old_node = zone.nodes.begin();
  for (const auto& [owner, d] : drafts) {
    while (old_node != zone.nodes.end() && old_node->owner < owner)
      out->nodes.push_back(*old_node++);
    const ServedNode* before = nullptr;
    if (old_node != zone.nodes.end() && old_node->owner == owner)
      before = &*old_node++;
    const ServedNode* after = nullptr;
    if (!d.empty()) {
      // A name kept only for its NSEC may be a zone cut; a changed name is none (see above).
      out->nodes.push_back(ServedNode{owner, stored(d), before != nullptr && before->delegation,
                                      before != nullptr && before->glue});
      after = &out->nodes.back(); // stays: the capacity was reserved
    }
    account(before, after);
    diff_node(owner, before, after, result.diff);
  }
  out->nodes.insert(out->nodes.end(), old_node, zone.nodes.end());

  out->nsec3_nodes.reserve(zone.nsec3_nodes.size() + chain_drafts.size());
  out->nsec3_hashes.reserve(out->nsec3_nodes.capacity());
  std::size_t i = 0;
  for (const auto& [h, d] : chain_drafts) {
    for (; i < zone.nsec3_hashes.size() && zone.nsec3_hashes[i] < h; ++i) {
      out->nsec3_nodes.push_back(zone.nsec3_nodes[i]);
      out->nsec3_hashes.push_back(zone.nsec3_hashes[i]);
    }
    const ServedNode* before = nullptr;
    if (i < zone.nsec3_hashes.size() && zone.nsec3_hashes[i] == h)
      before = &zone.nsec3_nodes[i++];
    const ServedNode* after = nullptr;
    if (!d.empty()) {
      out->nsec3_nodes.push_back(ServedNode{d.front().fresh.owner, stored(d)});
      out->nsec3_hashes.push_back(h);
      after = &out->nsec3_nodes.back();
    }
    account(before, after);
    diff_node(after != nullptr ? after->owner : before->owner, before, after, result.diff);
  }
  for (; i < zone.nsec3_hashes.size(); ++i) {
    out->nsec3_nodes.push_back(zone.nsec3_nodes[i]);
    out->nsec3_hashes.push_back(zone.nsec3_hashes[i]);
  }

  if (const ServedNode* a = out->node_at(apex))
    out->soa = a->find(rrtype::SOA);
  out->storage = std::move(storage);
  result.diff.from_soa = zone.soa_record();
  result.diff.to_soa = out->soa_record();
  result.rrsets_changed = (fresh - result.counts.unchanged) + gone;
  result.zone = std::move(out);
  return std::optional<PatchedZone>(std::move(result));
}

} // namespace moat::dnsd
