#pragma once

#include "core/error.hpp"
#include "core/name.hpp"

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat {

/// Type codes moat refers to by name. Any other type code is carried as opaque RDATA.
namespace rrtype {
inline constexpr std::uint16_t A = 1, NS = 2, CNAME = 5, SOA = 6, PTR = 12, MX = 15, TXT = 16,
                               AAAA = 28, SRV = 33, DNAME = 39, OPT = 41, DS = 43, RRSIG = 46,
                               NSEC = 47, DNSKEY = 48, NSEC3 = 50, NSEC3PARAM = 51, TLSA = 52,
                               CDS = 59, CDNSKEY = 60, CAA = 257, TKEY = 249, TSIG = 250,
                               IXFR = 251, AXFR = 252, ANY = 255;
} // namespace rrtype

inline constexpr std::uint16_t kClassIN = 1;

/// One resource record of class IN. RDATA is uncompressed wire form; domain names inside the
/// RDATA of the RFC 1035 types are lower-cased when parsed, so the stored form is also the
/// DNSSEC canonical form (RFC 4034 §6.2).
struct Rr {
  Name owner;
  std::uint16_t type = 0;
  std::uint32_t ttl = 0;
  std::vector<std::uint8_t> rdata;

  friend bool operator==(const Rr&, const Rr&) = default;
};

/// "MX", "TYPE65534" → code; fails for names it does not know.
[[nodiscard]] Result<std::uint16_t> type_from_string(std::string_view text);
/// Code → mnemonic ("MX"), or "TYPEnnn" for types without one.
[[nodiscard]] std::string type_to_string(std::uint16_t type);

/// True for the types moat generates itself when signing (DNSKEY, RRSIG, NSEC, NSEC3,
/// NSEC3PARAM, CDS, CDNSKEY); these are never stored as desired state.
[[nodiscard]] bool is_dnssec_type(std::uint16_t type);
/// True for meta and query-only types that can never be stored (OPT, AXFR, ANY, ...).
[[nodiscard]] bool is_meta_type(std::uint16_t type);

/// Parses the RDATA of `type` from presentation format ("10 mail.example.test." for MX).
/// Relative names inside it are completed with `origin`.
[[nodiscard]] Result<std::vector<std::uint8_t>>
parse_rdata(std::uint16_t type, std::string_view text, const Name& origin);
/// RDATA in presentation format.
[[nodiscard]] std::string rdata_to_string(std::uint16_t type, std::span<const std::uint8_t> rdata);
/// A whole record as one master-file line: "owner TTL IN TYPE rdata".
[[nodiscard]] std::string rr_to_string(const Rr& rr);
/// Checks that `rdata` is well-formed wire RDATA for `type` (as received in a zone transfer
/// or an UPDATE).
[[nodiscard]] Result<void> check_rdata(std::uint16_t type, std::span<const std::uint8_t> rdata);

/// Every target name carried in the RDATA of `rr` that may need additional-section data
/// (NS, MX, SRV targets), in order.
[[nodiscard]] std::vector<Name> rdata_target_names(const Rr& rr);

/// Parses one whole record, "owner [ttl] [class] type rdata", on one line. Relative names are
/// completed with `origin`; a record without a TTL gets `default_ttl`.
[[nodiscard]] Result<Rr> parse_rr(std::string_view text, const Name& origin,
                                  std::uint32_t default_ttl);

/// The parsed contents of an RFC 1035 master file.
struct ZoneFile {
  std::vector<Rr> records; ///< every record, SOA included, in file order
};

/// Parses a master file ($ORIGIN, $TTL, $INCLUDE refused, relative names, parentheses, owner
/// omitted for the previous one). `origin` is the zone's apex; every record must be at or
/// below it. Errors carry the file name and line. (core/zone_file.cpp)
[[nodiscard]] Result<ZoneFile> parse_zone_file(std::string_view path, const Name& origin);

} // namespace moat
