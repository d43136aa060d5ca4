#include "dnsd/snapshot.hpp"

#include "core/rr.hpp"
#include "signer/nsec3.hpp"

#include <algorithm>

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

std::shared_ptr<const ServedZone> ServedZone::build(signer::SignedZone zone) {
  auto out = std::make_shared<ServedZone>();
  out->apex = zone.apex;
  out->serial = zone.serial;
  out->nsec3 = zone.nsec3;
  for (auto& set : zone.rrsets) {
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

const ServedZone* Snapshot::find_zone(const Name& qname) const {
  const ServedZone* best = nullptr;
  for (const auto& z : zones)
    if (qname.is_subdomain_of(z->apex) &&
        (best == nullptr || z->apex.label_count() > best->apex.label_count()))
      best = z.get();
  return best;
}

} // namespace moat::dnsd
