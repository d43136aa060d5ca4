#include "tests/fuzz/dns_message.hpp"

#include "core/rr.hpp"

#include <string>

namespace moat::fuzz {
namespace {

constexpr std::size_t kHeader = 12;

std::uint16_t get16(std::span<const std::uint8_t> m, std::size_t at) {
  return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]);
}

std::uint32_t get32(std::span<const std::uint8_t> m, std::size_t at) {
  return (std::uint32_t{get16(m, at)} << 16) | get16(m, at + 2);
}

// Reads the name at `pos` (appending its uncompressed form to `out` when given) and returns the
// offset just past it where it was written: past the first compression pointer, if any. Pointers
// must go backwards, which also rules out loops.
Result<std::size_t> read_name(std::span<const std::uint8_t> m, std::size_t pos,
                              std::vector<std::uint8_t>* out = nullptr) {
  std::size_t end = 0;
  std::size_t length = 0;
  for (;;) {
    if (pos >= m.size())
      return fail("name at " + std::to_string(pos) + " runs off the end");
    const std::uint8_t len = m[pos];
    if ((len & 0xc0) == 0xc0) {
      if (pos + 1 >= m.size())
        return fail("compression pointer at " + std::to_string(pos) + " runs off the end");
      const std::size_t target = (static_cast<std::size_t>(len & 0x3f) << 8) | m[pos + 1];
      if (target >= pos || target < kHeader)
        return fail("compression pointer at " + std::to_string(pos) + " to " +
                    std::to_string(target));
      if (end == 0)
        end = pos + 2;
      pos = target;
      continue;
    }
    if ((len & 0xc0) != 0)
      return fail("label type " + std::to_string(len >> 6) + " at " + std::to_string(pos));
    if (pos + 1 + len > m.size())
      return fail("label at " + std::to_string(pos) + " runs off the end");
    length += len + 1;
    if (length > 255)
      return fail("name over 255 octets at " + std::to_string(pos));
    if (out != nullptr)
      out->insert(out->end(), m.begin() + static_cast<std::ptrdiff_t>(pos),
                  m.begin() + static_cast<std::ptrdiff_t>(pos + 1 + len));
    if (len == 0)
      return end != 0 ? end : pos + 1;
    pos += len + 1;
  }
}

// Checks the RDATA of the types whose names a writer may compress (RFC 3597 §4): their names
// must read well and, with the fixed fields, fill the RDATA exactly.
Result<void> check_rdata_names(std::span<const std::uint8_t> m, const ReadRecord& r) {
  std::size_t prefix = 0, names = 0, suffix = 0;
  switch (r.type) {
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
    suffix = 20;
    break;
  default:
    return {};
  }
  const std::size_t end = r.rdata_at + r.rdata_size;
  if (r.rdata_size < prefix)
    return fail("RDATA of type " + std::to_string(r.type) + " too short");
  std::size_t pos = r.rdata_at + prefix;
  for (std::size_t n = 0; n < names; ++n) {
    auto after = read_name(m.first(end), pos);
    if (!after)
      return fail("in RDATA of type " + std::to_string(r.type) + ": " + after.error().message);
    pos = *after;
  }
  if (pos + suffix != end)
    return fail("RDATA of type " + std::to_string(r.type) + " at " + std::to_string(r.rdata_at) +
                " does not add up");
  return {};
}

} // namespace

std::uint16_t ReadMessage::full_rcode() const {
  const std::uint16_t low = flags & 0x0f;
  return !opt ? low : static_cast<std::uint16_t>(((opt->ttl >> 24) << 4) | low);
}

Result<ReadMessage> read_message(std::span<const std::uint8_t> m) {
  if (m.size() < kHeader)
    return fail("shorter than a header: " + std::to_string(m.size()));
  ReadMessage msg;
  msg.id = get16(m, 0);
  msg.flags = get16(m, 2);
  for (std::size_t i = 0; i < 4; ++i)
    msg.counts[i] = get16(m, 4 + 2 * i);

  std::size_t pos = kHeader;
  for (std::uint16_t n = 0; n < msg.counts[0]; ++n) {
    auto after = read_name(m, pos, n == 0 ? &msg.qname : nullptr);
    if (!after)
      return fail("question: " + after.error().message);
    pos = *after;
    if (pos + 4 > m.size())
      return fail("question runs off the end");
    if (n == 0) {
      msg.qtype = get16(m, pos);
      msg.qclass = get16(m, pos + 2);
    }
    pos += 4;
  }
  msg.section_end[0] = pos;

  for (std::size_t s = 1; s < 4; ++s) {
    for (std::uint16_t n = 0; n < msg.counts[s]; ++n) {
      const std::size_t owner_at = pos;
      auto after = read_name(m, pos);
      if (!after)
        return fail("record owner: " + after.error().message);
      pos = *after;
      if (pos + 10 > m.size())
        return fail("record at " + std::to_string(owner_at) + " runs off the end");
      ReadRecord r;
      r.section = static_cast<Section>(s);
      r.type = get16(m, pos);
      r.klass = get16(m, pos + 2);
      r.ttl = get32(m, pos + 4);
      r.rdata_size = get16(m, pos + 8);
      r.rdata_at = pos + 10;
      pos = r.rdata_at + r.rdata_size;
      if (pos > m.size())
        return fail("RDATA at " + std::to_string(r.rdata_at) + " runs off the end");
      if (auto names = check_rdata_names(m, r); !names)
        return std::unexpected(names.error());
      if (r.type == rrtype::OPT) {
        if (r.section != Section::kAdditional || m[owner_at] != 0 || msg.opt)
          return fail("misplaced OPT record at " + std::to_string(owner_at));
        msg.opt = r;
      }
      msg.records.push_back(r);
    }
    msg.section_end[s] = pos;
  }
  if (pos != m.size())
    return fail(std::to_string(m.size() - pos) + " octets after the last record");
  return msg;
}

} // namespace moat::fuzz
