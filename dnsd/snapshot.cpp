#include "dnsd/snapshot.hpp"

#include "dnsd/zone_storage.hpp"

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

std::size_t ZoneStorage::size_of(const std::vector<std::vector<std::uint8_t>>& list) {
  std::size_t n = 0;
  for (const auto& rd : list)
    n += 2 + std::min<std::size_t>(rd.size(), 0xffff);
  return n;
}

RdataList ZoneStorage::append(const std::vector<std::vector<std::uint8_t>>& list) {
  const std::uint8_t* first = bytes.data() + bytes.size();
  for (const auto& rd : list) {
    const std::size_t n = std::min<std::size_t>(rd.size(), 0xffff); // RDLENGTH's limit
    bytes.push_back(static_cast<std::uint8_t>(n >> 8));
    bytes.push_back(static_cast<std::uint8_t>(n));
    bytes.insert(bytes.end(), rd.begin(), rd.begin() + static_cast<std::ptrdiff_t>(n));
  }
  return RdataList(first, static_cast<std::uint32_t>(list.size()));
}

std::shared_ptr<ServedZone> ServedZone::build(signer::SignedZone zone) {
  auto out = std::make_shared<ServedZone>();
  out->apex = zone.apex;
  out->serial = zone.serial;
  out->nsec3 = zone.nsec3;
  // Sized first, so that the views taken while filling stay valid.
  auto storage = std::make_shared<ZoneStorage>();
  std::size_t bytes = 0;
  for (const auto& set : zone.rrsets)
    bytes += ZoneStorage::size_of(set.rdatas) + ZoneStorage::size_of(set.rrsigs);
  storage->bytes.reserve(bytes);
  storage->whole_bytes = bytes;
  storage->rrsets.reserve(zone.rrsets.size());
  auto append = [&](const std::vector<std::vector<std::uint8_t>>& list) {
    return storage->append(list);
  };
  // The signer's RRsets come grouped by owner; each group becomes a node.
  struct Group {
    std::size_t first, count; ///< in storage->rrsets
    bool nsec3;
    const Name* owner = nullptr;
  };
  // NSEC3 records go to a chain of their own: taken in a second pass, so that even a name that
  // owns data and an NSEC3 record (possible, if absurd) gives one node in each.
  std::vector<Group> groups;
  for (const bool nsec3_pass : {false, true}) {
    for (const signer::SignedRrset& set : zone.rrsets) {
      if ((set.type == rrtype::NSEC3) != nsec3_pass)
        continue;
      out->record_count += set.rdatas.size() + set.rrsigs.size();
      if (!set.rrsigs.empty())
        ++out->signed_rrset_count;
      if (groups.empty() || groups.back().nsec3 != nsec3_pass || set.owner != *groups.back().owner)
        groups.push_back({storage->rrsets.size(), 0, nsec3_pass, &set.owner});
      ++groups.back().count;
      storage->rrsets.push_back({set.type, set.ttl, append(set.rdatas), append(set.rrsigs)});
    }
  }
  for (const Group& g : groups) {
    auto first = storage->rrsets.begin() + static_cast<std::ptrdiff_t>(g.first);
    std::ranges::sort(first, first + static_cast<std::ptrdiff_t>(g.count), {}, &ServedRrset::type);
    ServedNode node{*g.owner, std::span<const ServedRrset>(&*first, g.count)};
    if (!g.nsec3) {
      out->nodes.push_back(std::move(node));
      continue;
    }
    auto hash = base32hex_decode(node.owner.first_label());
    if (hash.size() != 20)
      continue; // not a SHA-1 NSEC3 owner: no lookup can reach it
    std::array<std::uint8_t, 20> h{};
    std::ranges::copy(hash, h.begin());
    out->nsec3_hashes.push_back(h);
    out->nsec3_nodes.push_back(std::move(node));
  }
  // Canonical order of the owners is the order of the hashes; sorted anyway, as lookups rely
  // on it.
  std::vector<std::size_t> order(out->nsec3_nodes.size());
  for (std::size_t i = 0; i < order.size(); ++i)
    order[i] = i;
  std::ranges::sort(order, {}, [&](std::size_t i) { return out->nsec3_hashes[i]; });
  std::vector<ServedNode> nsec3_nodes;
  std::vector<std::array<std::uint8_t, 20>> nsec3_hashes;
  for (std::size_t i : order) {
    nsec3_nodes.push_back(std::move(out->nsec3_nodes[i]));
    nsec3_hashes.push_back(out->nsec3_hashes[i]);
  }
  out->nsec3_nodes = std::move(nsec3_nodes);
  out->nsec3_hashes = std::move(nsec3_hashes);
  if (!std::ranges::is_sorted(out->nodes, {}, &ServedNode::owner))
    std::ranges::sort(out->nodes, {}, &ServedNode::owner);
  // Mark zone cuts and the names beneath them; canonical order visits a cut before its
  // descendants.
  const Name* cut = nullptr;
  for (ServedNode& node : out->nodes) {
    if (cut != nullptr && node.owner.is_subdomain_of(*cut) && node.owner != *cut) {
      node.glue = true;
      continue;
    }
    cut = nullptr;
    if (node.owner != out->apex && node.find(rrtype::NS) != nullptr) {
      node.delegation = true;
      cut = &node.owner;
    }
  }
  if (const ServedNode* apex = out->node_at(out->apex))
    out->soa = apex->find(rrtype::SOA);
  out->storage = std::move(storage);
  return out;
}

const ServedNode* ServedZone::node_at(const Name& owner) const {
  auto it = lower_bound(owner);
  return it != nodes.end() && it->owner == owner ? &*it : nullptr;
}

std::vector<ServedNode>::const_iterator ServedZone::lower_bound(const Name& owner) const {
  return std::ranges::lower_bound(nodes, owner, {}, &ServedNode::owner);
}

std::size_t ServedZone::nsec3_lower_bound(std::span<const std::uint8_t> hash) const {
  auto it = std::lower_bound(nsec3_hashes.begin(), nsec3_hashes.end(), hash,
                             [](const std::array<std::uint8_t, 20>& h, auto key) {
                               return std::lexicographical_compare(h.begin(), h.end(), key.begin(),
                                                                   key.end());
                             });
  return static_cast<std::size_t>(it - nsec3_hashes.begin());
}

std::optional<signer::PreviousRrset> ServedZone::find(const Name& owner, std::uint16_t type) const {
  const ServedNode* node = nullptr;
  if (type == rrtype::NSEC3) {
    const auto hash = base32hex_decode(owner.first_label());
    const std::size_t i = nsec3_lower_bound(hash);
    if (i < nsec3_hashes.size() && std::ranges::equal(nsec3_hashes[i], hash) &&
        nsec3_nodes[i].owner == owner)
      node = &nsec3_nodes[i];
  } else {
    node = node_at(owner);
  }
  const ServedRrset* set = node != nullptr ? node->find(type) : nullptr;
  if (set == nullptr || set->rrsigs.empty())
    return std::nullopt;
  signer::PreviousRrset out{set->ttl, {}, {}};
  for (auto rd : set->rdatas)
    out.rdatas.push_back(rd);
  for (auto sig : set->rrsigs)
    out.rrsigs.push_back(sig);
  return out;
}

ZoneRecord ServedZone::soa_record() const {
  if (soa == nullptr || soa->rdatas.empty())
    return {apex, rrtype::SOA, 0, {}};
  auto rd = soa->rdatas.front();
  return {apex, rrtype::SOA, soa->ttl, {rd.begin(), rd.end()}};
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

// One list of records at owner/type in two versions: the ones gone and the ones new. A changed
// TTL replaces the whole list (the RRset's records carry one TTL).
void diff_list(const Name& owner, std::uint16_t type, std::uint32_t ttl_a, const RdataList* a,
               std::uint32_t ttl_b, const RdataList* b, ZoneDiff& out) {
  using Rdata = std::span<const std::uint8_t>;
  const RdataList none;
  const RdataList& before = a != nullptr ? *a : none;
  const RdataList& after = b != nullptr ? *b : none;
  if (ttl_a == ttl_b &&
      std::ranges::equal(before, after, [](Rdata l, Rdata r) { return std::ranges::equal(l, r); }))
    return; // the common case, without allocating
  std::vector<Rdata> x, y;
  if (a != nullptr)
    x.assign(a->begin(), a->end());
  if (b != nullptr)
    y.assign(b->begin(), b->end());
  auto record = [&](std::uint32_t ttl, Rdata rd) {
    return ZoneRecord{owner, type, ttl, {rd.begin(), rd.end()}};
  };
  if (ttl_a != ttl_b) {
    for (Rdata r : x)
      out.removed.push_back(record(ttl_a, r));
    for (Rdata r : y)
      out.added.push_back(record(ttl_b, r));
    return;
  }
  auto less = [](Rdata l, Rdata r) { return std::ranges::lexicographical_compare(l, r); };
  std::ranges::sort(x, less);
  std::ranges::sort(y, less);
  std::vector<Rdata> gone, new_ones;
  std::ranges::set_difference(x, y, std::back_inserter(gone), less);
  std::ranges::set_difference(y, x, std::back_inserter(new_ones), less);
  for (Rdata r : gone)
    out.removed.push_back(record(ttl_a, r));
  for (Rdata r : new_ones)
    out.added.push_back(record(ttl_b, r));
}

} // namespace

void diff_node(const Name& owner, const ServedNode* a, const ServedNode* b, ZoneDiff& out) {
  const std::span<const ServedRrset> sa = a != nullptr ? a->rrsets : std::span<const ServedRrset>();
  const std::span<const ServedRrset> sb = b != nullptr ? b->rrsets : std::span<const ServedRrset>();
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

namespace {

// Both lists in canonical order of their owners.
void diff_nodes(const std::vector<ServedNode>& a, const std::vector<ServedNode>& b, ZoneDiff& out) {
  auto ia = a.begin(), ib = b.begin();
  while (ia != a.end() || ib != b.end()) {
    if (ib == b.end() || (ia != a.end() && ia->owner < ib->owner)) {
      diff_node(ia->owner, &*ia, nullptr, out);
      ++ia;
    } else if (ia == a.end() || ib->owner < ia->owner) {
      diff_node(ib->owner, nullptr, &*ib, out);
      ++ib;
    } else {
      diff_node(ib->owner, &*ia, &*ib, out);
      ++ia, ++ib;
    }
  }
}

} // namespace

std::string master_file_text(const ServedZone& zone) {
  std::string out =
      "; signed zone " + zone.apex.to_string() + " serial " + std::to_string(zone.serial) + "\n";
  auto line = [&out](const Name& owner, std::uint16_t type, std::uint32_t ttl,
                     std::span<const std::uint8_t> rdata) {
    out += rr_to_string(Rr{owner, type, ttl, {rdata.begin(), rdata.end()}});
    out += '\n';
  };
  const ZoneRecord soa = zone.soa_record();
  line(soa.owner, soa.type, soa.ttl, soa.rdata);
  zone.for_each_record(
      [&](const ZoneRecordView& r) { line(r.owner, r.type, r.ttl, r.rdata); });
  return out;
}

std::uint32_t ZoneDiff::from_serial() const { return soa_serial(from_soa.rdata); }
std::uint32_t ZoneDiff::to_serial() const { return soa_serial(to_soa.rdata); }

ZoneDiff diff_zones(const ServedZone& before, const ServedZone& after) {
  ZoneDiff d;
  d.from_soa = before.soa_record();
  d.to_soa = after.soa_record();
  diff_nodes(before.nodes, after.nodes, d);
  diff_nodes(before.nsec3_nodes, after.nsec3_nodes, d);
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
