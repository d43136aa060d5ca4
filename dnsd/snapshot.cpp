#include "dnsd/snapshot.hpp"

#include "core/rr.hpp"
#include "signer/nsec3.hpp"

#include <algorithm>
#include <atomic>

namespace moat::dnsd {
namespace {

// Decodes the first label of an NSEC3 owner (base32hex) back to the raw hash.
std::vector<std::uint8_t> base32hex_decode(std::string_view s) {
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v;
    if (c >= '0' && c <= '9')
      v = c - '0';
    else if (c >= 'a' && c <= 'v')
      v = c - 'a' + 10;
    else if (c >= 'A' && c <= 'V')
      v = c - 'A' + 10;
    else
      return {};
    acc = (acc << 5) | static_cast<std::uint32_t>(v);
    bits += 5;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>(acc >> bits));
      acc &= (1u << bits) - 1;
    }
  }
  return out;
}

} // namespace

const ServedRrset* ServedNode::find(std::uint16_t type) const {
  for (const auto& s : rrsets)
    if (s.type == type)
      return &s;
  return nullptr;
}

std::shared_ptr<ServedZone> ServedZone::build(signer::SignedZone zone) {
  auto out = std::make_shared<ServedZone>();
  out->apex = zone.apex;
  out->serial = zone.serial;
  out->nsec3 = zone.nsec3;
  for (auto& set : zone.rrsets) {
    out->record_count += set.rdatas.size() + set.rrsigs.size();
    ServedRrset served{set.type, set.ttl, std::move(set.rdatas), std::move(set.rrsigs)};
    ServedNode* node;
    if (set.type == rrtype::NSEC3) {
      auto hash = base32hex_decode(set.owner.first_label());
      node = &out->nsec3_nodes[hash];
    } else {
      node = &out->nodes[set.owner];
    }
    node->owner = set.owner;
    node->rrsets.push_back(std::move(served));
  }
  // Mark zone cuts and the names beneath them; canonical order visits a cut before its
  // descendants.
  const Name* cut = nullptr;
  for (auto& [name, node] : out->nodes) {
    std::ranges::sort(node.rrsets, {}, &ServedRrset::type);
    if (cut != nullptr && name.is_subdomain_of(*cut) && name != *cut) {
      node.glue = true;
      continue;
    }
    cut = nullptr;
    if (name != out->apex && node.find(rrtype::NS) != nullptr) {
      node.delegation = true;
      cut = &name;
    }
  }
  for (auto& [_, node] : out->nsec3_nodes)
    std::ranges::sort(node.rrsets, {}, &ServedRrset::type);
  auto apex = out->nodes.find(out->apex);
  if (apex != out->nodes.end())
    out->soa = apex->second.find(rrtype::SOA);
  return out;
}

ZoneRecord ServedZone::soa_record() const {
  if (soa == nullptr || soa->rdatas.empty())
    return {apex, rrtype::SOA, 0, {}};
  return {apex, rrtype::SOA, soa->ttl, soa->rdatas.front()};
}

namespace {

// The SOA serial: after MNAME and RNAME (uncompressed in stored RDATA).
std::uint32_t soa_serial(const std::vector<std::uint8_t>& rdata) {
  std::size_t pos = 0;
  for (int name = 0; name < 2; ++name) {
    while (pos < rdata.size() && rdata[pos] != 0)
      pos += rdata[pos] + 1;
    ++pos;
  }
  if (pos + 4 > rdata.size())
    return 0;
  return (std::uint32_t{rdata[pos]} << 24) | (std::uint32_t{rdata[pos + 1]} << 16) |
         (std::uint32_t{rdata[pos + 2]} << 8) | rdata[pos + 3];
}

using Rdatas = std::vector<std::vector<std::uint8_t>>;

// One list of records at owner/type in two versions: the ones gone and the ones new. A changed
// TTL replaces the whole list (the RRset's records carry one TTL).
void diff_list(const Name& owner, std::uint16_t type, std::uint32_t ttl_a, const Rdatas* a,
               std::uint32_t ttl_b, const Rdatas* b, ZoneDiff& out) {
  static const Rdatas kNone;
  const Rdatas& before = a != nullptr ? *a : kNone;
  const Rdatas& after = b != nullptr ? *b : kNone;
  if (ttl_a == ttl_b && before == after)
    return;
  if (ttl_a != ttl_b) {
    for (const auto& r : before)
      out.removed.push_back({owner, type, ttl_a, r});
    for (const auto& r : after)
      out.added.push_back({owner, type, ttl_b, r});
    return;
  }
  std::vector<const std::vector<std::uint8_t>*> x, y;
  for (const auto& r : before)
    x.push_back(&r);
  for (const auto& r : after)
    y.push_back(&r);
  auto less = [](const auto* l, const auto* r) { return *l < *r; };
  std::ranges::sort(x, less);
  std::ranges::sort(y, less);
  std::vector<const std::vector<std::uint8_t>*> gone, new_ones;
  std::ranges::set_difference(x, y, std::back_inserter(gone), less);
  std::ranges::set_difference(y, x, std::back_inserter(new_ones), less);
  for (const auto* r : gone)
    out.removed.push_back({owner, type, ttl_a, *r});
  for (const auto* r : new_ones)
    out.added.push_back({owner, type, ttl_b, *r});
}

void diff_node(const Name& owner, const ServedNode* a, const ServedNode* b, ZoneDiff& out) {
  static const std::vector<ServedRrset> kNone;
  const auto& sa = a != nullptr ? a->rrsets : kNone;
  const auto& sb = b != nullptr ? b->rrsets : kNone;
  auto ia = sa.begin(), ib = sb.begin(); // both sorted by type
  while (ia != sa.end() || ib != sb.end()) {
    const ServedRrset* x = nullptr;
    const ServedRrset* y = nullptr;
    if (ib == sb.end() || (ia != sa.end() && ia->type < ib->type))
      x = &*ia++;
    else if (ia == sa.end() || ib->type < ia->type)
      y = &*ib++;
    else
      x = &*ia++, y = &*ib++;
    const std::uint16_t type = x != nullptr ? x->type : y->type;
    const std::uint32_t ttl_a = x != nullptr ? x->ttl : 0, ttl_b = y != nullptr ? y->ttl : 0;
    if (type != rrtype::SOA) // each version's SOA frames its part of the diff instead
      diff_list(owner, type, ttl_a, x != nullptr ? &x->rdatas : nullptr, ttl_b,
                y != nullptr ? &y->rdatas : nullptr, out);
    diff_list(owner, rrtype::RRSIG, ttl_a, x != nullptr ? &x->rrsigs : nullptr, ttl_b,
              y != nullptr ? &y->rrsigs : nullptr, out);
  }
}

template <class Map> void diff_maps(const Map& a, const Map& b, ZoneDiff& out) {
  auto ia = a.begin(), ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->first < ib->first)) {
      diff_node(ia->second.owner, &ia->second, nullptr, out);
      ++ia;
    } else if (ia == a.end() || ib->first < ia->first) {
      diff_node(ib->second.owner, nullptr, &ib->second, out);
      ++ib;
    } else {
      diff_node(ib->second.owner, &ia->second, &ib->second, out);
      ++ia, ++ib;
    }
  }
}

} // namespace

std::uint32_t ZoneDiff::from_serial() const { return soa_serial(from_soa.rdata); }
std::uint32_t ZoneDiff::to_serial() const { return soa_serial(to_soa.rdata); }

ZoneDiff diff_zones(const ServedZone& before, const ServedZone& after) {
  ZoneDiff d;
  d.from_soa = before.soa_record();
  d.to_soa = after.soa_record();
  diff_maps(before.nodes, after.nodes, d);
  diff_maps(before.nsec3_nodes, after.nsec3_nodes, d);
  return d;
}

std::vector<std::shared_ptr<const ZoneDiff>>
kept_journal(std::vector<std::shared_ptr<const ZoneDiff>> journal,
             std::shared_ptr<const ZoneDiff> diff, std::size_t zone_records) {
  journal.push_back(std::move(diff));
  std::size_t total = 0;
  for (const auto& d : journal)
    total += d->removed.size() + d->added.size() + 2;
  std::size_t drop = 0;
  while (drop < journal.size() && total > zone_records) {
    total -= journal[drop]->removed.size() + journal[drop]->added.size() + 2;
    ++drop;
  }
  journal.erase(journal.begin(), journal.begin() + static_cast<std::ptrdiff_t>(drop));
  return journal;
}

std::uint64_t Snapshot::next_id() {
  static std::atomic<std::uint64_t> last{0};
  return last.fetch_add(1, std::memory_order_relaxed) + 1;
}

const ServedZone* Snapshot::find_zone(const Name& qname) const {
  const ServedZone* best = nullptr;
  for (const auto& z : zones)
    if (qname.is_subdomain_of(z->apex) &&
        (best == nullptr || z->apex.label_count() > best->apex.label_count()))
      best = z.get();
  return best;
}

} // namespace moat::dnsd
