#include "signer/rrsig.hpp"

#include "core/rr.hpp"

#include <algorithm>

namespace moat::signer {
namespace {

void put16(std::vector<std::uint8_t>& out, std::uint16_t v) {
  out.push_back(static_cast<std::uint8_t>(v >> 8));
  out.push_back(static_cast<std::uint8_t>(v));
}
void put32(std::vector<std::uint8_t>& out, std::uint32_t v) {
  put16(out, static_cast<std::uint16_t>(v >> 16));
  put16(out, static_cast<std::uint16_t>(v));
}
std::uint32_t get32(std::span<const std::uint8_t> p, std::size_t at) {
  return (std::uint32_t{p[at]} << 24) | (std::uint32_t{p[at + 1]} << 16) |
         (std::uint32_t{p[at + 2]} << 8) | p[at + 3];
}

} // namespace

Result<std::vector<std::uint8_t>> sign_rrset(const SigningKey& key, const Name& signer_name,
                                             const RrsetView& rrset, Validity validity) {
  if (rrset.rdatas.empty())
    return fail("cannot sign an empty RRset");
  const Name owner = rrset.owner.lowercased();
  // RFC 4034 §3.1.3: the wildcard label does not count.
  std::size_t labels = owner.label_count() - (owner.is_wildcard() ? 1 : 0);

  std::vector<std::uint8_t> rdata;
  put16(rdata, rrset.type);
  rdata.push_back(static_cast<std::uint8_t>(key.algorithm()));
  rdata.push_back(static_cast<std::uint8_t>(labels));
  put32(rdata, rrset.ttl);
  put32(rdata, static_cast<std::uint32_t>(validity.expiration)); // RFC 1982 serial arithmetic
  put32(rdata, static_cast<std::uint32_t>(validity.inception));
  put16(rdata, key.key_tag());
  const Name signer_lower = signer_name.lowercased();
  const auto& signer_wire = signer_lower.wire();
  rdata.insert(rdata.end(), signer_wire.begin(), signer_wire.end());

  // RFC 4034 §3.1.8.1: RRSIG RDATA without the signature, then every RR in canonical form
  // and canonical order (sorted by RDATA octets, RFC 4034 §6.3).
  std::vector<const std::vector<std::uint8_t>*> sorted;
  for (const auto& rd : rrset.rdatas)
    sorted.push_back(&rd);
  std::ranges::sort(sorted, [](const auto* a, const auto* b) { return *a < *b; });
  std::vector<std::uint8_t> data = rdata;
  for (const auto* rd : sorted) {
    data.insert(data.end(), owner.wire().begin(), owner.wire().end());
    put16(data, rrset.type);
    put16(data, kClassIN);
    put32(data, rrset.ttl);
    put16(data, static_cast<std::uint16_t>(rd->size()));
    data.insert(data.end(), rd->begin(), rd->end());
  }
  auto sig = key.sign(data);
  if (!sig)
    return std::unexpected(sig.error());
  rdata.insert(rdata.end(), sig->begin(), sig->end());
  return rdata;
}

Result<RrsigInfo> parse_rrsig(std::span<const std::uint8_t> rd) {
  if (rd.size() < 19)
    return fail("RRSIG RDATA too short");
  RrsigInfo info;
  info.type_covered = static_cast<std::uint16_t>((rd[0] << 8) | rd[1]);
  info.algorithm = rd[2];
  info.labels = rd[3];
  info.original_ttl = get32(rd, 4);
  info.expiration = get32(rd, 8);
  info.inception = get32(rd, 12);
  info.key_tag = static_cast<std::uint16_t>((rd[16] << 8) | rd[17]);
  return info;
}

} // namespace moat::signer
