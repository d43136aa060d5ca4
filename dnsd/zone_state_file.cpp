#include "dnsd/zone_state_file.hpp"

#include "core/live_files.hpp"

#include <array>
#include <cstring>
#include <openssl/evp.h>
#include <string_view>

namespace moat::dnsd {
namespace {

constexpr std::string_view kMagic = "MOATZONE";
constexpr std::uint32_t kFormat = 1;
constexpr std::size_t kHeader = 8 + 4 + 8 + 32;
constexpr std::size_t kMaxFile = std::size_t{1} << 30; // a zone of some millions of records

using Digest = std::array<std::uint8_t, 32>;

Digest sha256(std::string_view data) {
  Digest d{};
  unsigned int n = 0;
  EVP_Digest(data.data(), data.size(), d.data(), &n, EVP_sha256(), nullptr);
  return d;
}

class Writer {
public:
  void u8(std::uint8_t v) { out.push_back(static_cast<char>(v)); }
  void u16(std::uint16_t v) {
    u8(static_cast<std::uint8_t>(v >> 8));
    u8(static_cast<std::uint8_t>(v));
  }
  void u32(std::uint32_t v) {
    u16(static_cast<std::uint16_t>(v >> 16));
    u16(static_cast<std::uint16_t>(v));
  }
  void u64(std::uint64_t v) {
    u32(static_cast<std::uint32_t>(v >> 32));
    u32(static_cast<std::uint32_t>(v));
  }
  void bytes(std::span<const std::uint8_t> b) { out.append(b.begin(), b.end()); }
  void name(const Name& n) {
    u8(static_cast<std::uint8_t>(n.wire().size()));
    bytes(n.wire());
  }
  void list(const RdataList& l) {
    u32(static_cast<std::uint32_t>(l.size()));
    for (auto rd : l) {
      u16(static_cast<std::uint16_t>(rd.size()));
      bytes(rd);
    }
  }
  std::string out;
};

// Reads the body; every read is checked against what is left, so a damaged file is an error,
// never a read past its end.
class Reader {
public:
  explicit Reader(std::string_view in) : in_(in) {}
  [[nodiscard]] bool ok() const { return ok_; }
  [[nodiscard]] bool done() const { return at_ == in_.size(); }
  std::uint64_t uint(int octets) {
    if (!take(static_cast<std::size_t>(octets)))
      return 0;
    std::uint64_t v = 0;
    for (int i = 0; i < octets; ++i)
      v = (v << 8) | static_cast<std::uint8_t>(in_[at_ - static_cast<std::size_t>(octets - i)]);
    return v;
  }
  std::vector<std::uint8_t> bytes(std::size_t n) {
    if (!take(n))
      return {};
    const auto* p = reinterpret_cast<const std::uint8_t*>(in_.data() + at_ - n);
    return {p, p + n};
  }
  std::optional<Name> name() {
    auto wire = bytes(static_cast<std::size_t>(uint(1)));
    auto n = ok_ ? Name::from_wire(wire) : Result<Name>(fail("truncated"));
    if (!n) {
      ok_ = false;
      return std::nullopt;
    }
    return *n;
  }
  std::vector<std::vector<std::uint8_t>> list() {
    const std::uint64_t count = uint(4);
    std::vector<std::vector<std::uint8_t>> out;
    for (std::uint64_t i = 0; ok_ && i < count; ++i) // each takes 2 octets at least: bounded
      out.push_back(bytes(static_cast<std::size_t>(uint(2))));
    return out;
  }

private:
  bool take(std::size_t n) {
    if (!ok_ || in_.size() - at_ < n) {
      ok_ = false;
      return false;
    }
    at_ += n;
    return true;
  }
  std::string_view in_;
  std::size_t at_ = 0;
  bool ok_ = true;
};

} // namespace

Result<void> save_zone_state(const ServedZone& zone, const std::string& path) {
  // One buffer of the exact size, the header written last over its place: a big zone's file is
  // tens of megabytes, and a second copy of it would be memory held for nothing.
  std::size_t size = kHeader + 1 + zone.apex.wire().size() + 4 + 1 + 1;
  for (const auto* nodes : {&zone.nodes, &zone.nsec3_nodes})
    for (const ServedNode& node : *nodes) {
      size += 1 + 1 + node.owner.wire().size() + 2;
      for (const ServedRrset& set : node.rrsets) {
        size += 2 + 4 + 4 + 4;
        for (const auto* list : {&set.rdatas, &set.rrsigs})
          for (auto rd : *list)
            size += 2 + rd.size();
      }
    }
  Writer w;
  w.out.reserve(size);
  w.out.resize(kHeader);
  w.name(zone.apex);
  w.u32(zone.serial);
  w.u8(zone.nsec3 ? 1 : 0);
  for (const auto* nodes : {&zone.nodes, &zone.nsec3_nodes})
    for (const ServedNode& node : *nodes) {
      w.u8(1); // a node follows
      w.name(node.owner);
      w.u16(static_cast<std::uint16_t>(node.rrsets.size()));
      for (const ServedRrset& set : node.rrsets) {
        w.u16(set.type);
        w.u32(set.ttl);
        w.list(set.rdatas);
        w.list(set.rrsigs);
      }
    }
  w.u8(0); // the end
  const Digest digest = sha256(std::string_view(w.out).substr(kHeader));
  Writer header;
  header.out.append(kMagic);
  header.u32(kFormat);
  header.u64(w.out.size() - kHeader);
  header.bytes(digest);
  w.out.replace(0, kHeader, header.out);
  return write_file_atomically(path, w.out, 0640);
}

Result<std::shared_ptr<ServedZone>> load_zone_state(const std::string& path) {
  auto text = read_file(path, kMaxFile);
  if (!text)
    return std::unexpected(text.error());
  const std::string_view in = *text;
  Reader header(in.substr(0, std::min(in.size(), kHeader)));
  const auto magic = header.bytes(kMagic.size());
  if (!header.ok() || !std::equal(magic.begin(), magic.end(), kMagic.begin()))
    return fail(path + ": not a moat zone state file");
  if (header.uint(4) != kFormat)
    return fail(path + ": another format version");
  const std::uint64_t length = header.uint(8);
  const auto digest = header.bytes(32);
  if (!header.ok() || length != in.size() - kHeader)
    return fail(path + ": truncated");
  const std::string_view body_bytes = in.substr(kHeader);
  const Digest actual = sha256(body_bytes);
  if (!std::equal(digest.begin(), digest.end(), actual.begin()))
    return fail(path + ": checksum mismatch");

  Reader body(body_bytes);
  signer::SignedZone zone;
  auto apex = body.name();
  zone.serial = static_cast<std::uint32_t>(body.uint(4));
  zone.nsec3 = body.uint(1) != 0;
  while (body.ok() && body.uint(1) == 1) {
    auto owner = body.name();
    const std::uint64_t sets = body.uint(2);
    for (std::uint64_t i = 0; body.ok() && owner && i < sets; ++i) {
      signer::SignedRrset set;
      set.owner = *owner;
      set.type = static_cast<std::uint16_t>(body.uint(2));
      set.ttl = static_cast<std::uint32_t>(body.uint(4));
      set.rdatas = body.list();
      set.rrsigs = body.list();
      zone.rrsets.push_back(std::move(set));
    }
  }
  if (!body.ok() || !body.done() || !apex)
    return fail(path + ": malformed");
  zone.apex = *apex;
  return ServedZone::build(std::move(zone));
}

} // namespace moat::dnsd
