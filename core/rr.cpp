// Text <-> wire conversion of RDATA and master files, delegated to ldns, whose parsers
// know every registered type. ldns stays inside this file.
#include "core/rr.hpp"

#include <algorithm>
#include <charconv>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>
#include <stdbool.h> // before ldns: it defines true/false as macros otherwise

#include <ldns/ldns.h>

namespace moat {
namespace {

struct RrFree {
  void operator()(ldns_rr* p) const { ldns_rr_free(p); }
};
struct RdfFree {
  void operator()(ldns_rdf* p) const { ldns_rdf_deep_free(p); }
};
struct BufferFree {
  void operator()(ldns_buffer* p) const { ldns_buffer_free(p); }
};
struct FileClose {
  void operator()(FILE* p) const { std::fclose(p); }
};
struct CharFree {
  void operator()(char* p) const { LDNS_FREE(p); }
};
using LdnsRr = std::unique_ptr<ldns_rr, RrFree>;
using LdnsRdf = std::unique_ptr<ldns_rdf, RdfFree>;
using LdnsBuffer = std::unique_ptr<ldns_buffer, BufferFree>;
using File = std::unique_ptr<FILE, FileClose>;
using LdnsString = std::unique_ptr<char, CharFree>;

LdnsRdf name_rdf(const Name& n) {
  return LdnsRdf(ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, n.wire().size(), n.wire().data()));
}

Result<Rr> from_ldns(const ldns_rr* rr) {
  Rr out;
  const ldns_rdf* owner = ldns_rr_owner(rr);
  auto name = Name::from_wire({ldns_rdf_data(owner), ldns_rdf_size(owner)});
  if (!name)
    return std::unexpected(name.error());
  out.owner = name->lowercased();
  out.type = static_cast<std::uint16_t>(ldns_rr_get_type(rr));
  out.ttl = ldns_rr_ttl(rr);
  LdnsBuffer buf(ldns_buffer_new(512));
  if (ldns_rr_rdata2buffer_wire(buf.get(), rr) != LDNS_STATUS_OK)
    return fail("cannot encode RDATA of " + type_to_string(out.type));
  out.rdata.assign(ldns_buffer_begin(buf.get()),
                   ldns_buffer_begin(buf.get()) + ldns_buffer_position(buf.get()));
  if (out.rdata.size() > 65535)
    return fail("RDATA longer than 65535 octets");
  return out;
}

// Builds an ldns record from our wire RDATA, checking it against the type's layout.
Result<LdnsRr> to_ldns(std::uint16_t type, std::span<const std::uint8_t> rdata) {
  if (rdata.size() > 65535)
    return fail("RDATA longer than 65535 octets");
  std::vector<std::uint8_t> wire{0, // root owner
                                 static_cast<std::uint8_t>(type >> 8),
                                 static_cast<std::uint8_t>(type),
                                 0,
                                 1,
                                 0,
                                 0,
                                 0,
                                 0,
                                 static_cast<std::uint8_t>(rdata.size() >> 8),
                                 static_cast<std::uint8_t>(rdata.size())};
  wire.insert(wire.end(), rdata.begin(), rdata.end());
  ldns_rr* raw = nullptr;
  std::size_t pos = 0;
  if (ldns_wire2rr(&raw, wire.data(), wire.size(), &pos, LDNS_SECTION_ANSWER) != LDNS_STATUS_OK ||
      raw == nullptr)
    return fail("malformed " + type_to_string(type) + " RDATA");
  LdnsRr rr(raw);
  if (pos != wire.size())
    return fail("malformed " + type_to_string(type) + " RDATA");
  // ldns stops at the end of the RDATA without complaint; a record missing whole fields
  // (an MX without its exchange) must still be refused.
  const ldns_rr_descriptor* d = ldns_rr_descript(type);
  if (d != nullptr && ldns_rr_rd_count(rr.get()) < ldns_rr_descriptor_minimum(d))
    return fail("truncated " + type_to_string(type) + " RDATA");
  return rr;
}

// True when `text` holds a ';' outside double quotes: ldns would silently drop the rest of
// the line as a comment.
bool has_comment(std::string_view text) {
  bool quoted = false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\')
      ++i;
    else if (text[i] == '"')
      quoted = !quoted;
    else if (text[i] == ';' && !quoted)
      return true;
  }
  return false;
}

// ldns pads an odd number of hex digits with a zero; a digest that lost a digit must be refused
// instead. For the types whose RDATA ends in a hex field, check the digit count.
Result<void> check_hex_tail(std::uint16_t type, std::string_view text) {
  std::size_t leading = 0;
  switch (type) {
  case rrtype::TLSA:
  case 53: // SMIMEA
  case rrtype::DS:
  case rrtype::CDS:
    leading = 3;
    break;
  case 44: // SSHFP
    leading = 2;
    break;
  default:
    return {};
  }
  std::size_t i = 0, words = 0, digits = 0;
  while (i < text.size()) {
    while (i < text.size() && std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    if (i >= text.size())
      break;
    std::size_t start = i;
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i])))
      ++i;
    if (++words > leading)
      digits += i - start;
  }
  if (digits % 2 != 0)
    return fail("odd number of hex digits in " + type_to_string(type) + " data '" +
                std::string(text) + "'");
  return {};
}

} // namespace

Result<std::uint16_t> type_from_string(std::string_view text) {
  std::string upper(text);
  std::ranges::transform(upper, upper.begin(), [](unsigned char c) { return std::toupper(c); });
  if (upper.starts_with("TYPE")) {
    // RFC 3597 generic form; ldns would wrap out-of-range numbers, so read it here.
    std::string_view digits = std::string_view(upper).substr(4);
    unsigned long v = 0;
    auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
    if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() || v == 0 ||
        v > 65535)
      return fail("unknown record type '" + std::string(text) + "'");
    return static_cast<std::uint16_t>(v);
  }
  ldns_rr_type t = ldns_get_rr_type_by_name(upper.c_str());
  if (t == 0)
    return fail("unknown record type '" + std::string(text) + "'");
  return static_cast<std::uint16_t>(t);
}

std::string type_to_string(std::uint16_t type) {
  const ldns_rr_descriptor* d = ldns_rr_descript(type);
  if (d != nullptr && d->_name != nullptr)
    return d->_name;
  return "TYPE" + std::to_string(type);
}

bool is_dnssec_type(std::uint16_t type) {
  using namespace rrtype;
  return type == DNSKEY || type == RRSIG || type == NSEC || type == NSEC3 || type == NSEC3PARAM ||
         type == CDS || type == CDNSKEY;
}

bool is_meta_type(std::uint16_t type) {
  // OPT, TKEY..ANY (249-255), and the meta range 128-255 of RFC 6895 except the few data types
  // assigned there (URI 256 and CAA 257 are above it).
  return type == 0 || type == rrtype::OPT || (type >= 128 && type <= 255) || type == 41;
}

Result<std::vector<std::uint8_t>> parse_rdata(std::uint16_t type, std::string_view text,
                                             const Name& origin) {
  if (text.find_first_of("\n\r") != std::string_view::npos)
    return fail("RDATA must be on one line");
  if (has_comment(text))
    return fail("unexpected ';' in " + type_to_string(type) + " data (quote it)");
  if (auto r = check_hex_tail(type, text); !r)
    return std::unexpected(r.error());
  std::string line = origin.to_string() + " 0 IN " + type_to_string(type) + " " + std::string(text);
  auto origin_rdf = name_rdf(origin);
  ldns_rr* raw = nullptr;
  ldns_status st = ldns_rr_new_frm_str(&raw, line.c_str(), 0, origin_rdf.get(), nullptr);
  LdnsRr rr(raw);
  if (st != LDNS_STATUS_OK || rr == nullptr)
    return fail("bad " + type_to_string(type) + " data '" + std::string(text) +
                "': " + ldns_get_errorstr_by_id(st));
  if (static_cast<std::uint16_t>(ldns_rr_get_type(rr.get())) != type)
    return fail("bad " + type_to_string(type) + " data '" + std::string(text) + "'");
  ldns_rr2canonical(rr.get());
  auto parsed = from_ldns(rr.get());
  if (!parsed)
    return std::unexpected(parsed.error());
  return std::move(parsed->rdata);
}

std::string rdata_to_string(std::uint16_t type, std::span<const std::uint8_t> rdata) {
  auto rr = to_ldns(type, rdata);
  if (!rr) {
    // RFC 3597 generic form for anything ldns cannot lay out.
    std::string out = "\\# " + std::to_string(rdata.size());
    if (!rdata.empty())
      out += " ";
    for (auto b : rdata) {
      char buf[3];
      std::snprintf(buf, sizeof buf, "%02x", b);
      out += buf;
    }
    return out;
  }
  if (ldns_rr_rd_count(rr->get()) == 0)
    return "\\# 0"; // empty RDATA: only the generic form says so unambiguously
  std::string out;
  for (std::size_t i = 0; i < ldns_rr_rd_count(rr->get()); ++i) {
    LdnsString s(ldns_rdf2str(ldns_rr_rdf(rr->get(), i)));
    if (i > 0)
      out += ' ';
    if (s)
      out += s.get();
  }
  return out;
}

std::string rr_to_string(const Rr& rr) {
  return rr.owner.to_string() + '\t' + std::to_string(rr.ttl) + "\tIN\t" + type_to_string(rr.type) +
         '\t' + rdata_to_string(rr.type, rr.rdata);
}

Result<void> check_rdata(std::uint16_t type, std::span<const std::uint8_t> rdata) {
  auto rr = to_ldns(type, rdata);
  if (!rr)
    return std::unexpected(rr.error());
  return {};
}

std::vector<Name> rdata_target_names(const Rr& rr) {
  std::span<const std::uint8_t> rd = rr.rdata;
  std::size_t skip = 0;
  switch (rr.type) {
  case rrtype::NS:
  case rrtype::CNAME:
    skip = 0;
    break;
  case rrtype::MX:
    skip = 2;
    break;
  case rrtype::SRV:
    skip = 6;
    break;
  default:
    return {};
  }
  if (rd.size() <= skip)
    return {};
  auto n = Name::from_wire(rd.subspan(skip));
  if (!n)
    return {};
  return {*n};
}

Result<ZoneFile> parse_zone_file(std::string_view path, const Name& origin) {
  File fp(std::fopen(std::string(path).c_str(), "r"));
  if (!fp)
    return fail("cannot open zone file " + std::string(path) + ": " + std::strerror(errno));
  // Record by record rather than ldns_zone_new_frm_fp_l: that one leaks what it parsed before
  // an error and reports the line after the bad one.
  ldns_rdf* origin_raw = ldns_rdf_new_frm_data(LDNS_RDF_TYPE_DNAME, origin.wire().size(),
                                               origin.wire().data());
  ldns_rdf* prev_raw = nullptr;
  std::uint32_t default_ttl = 3600;
  int line = 0;
  ZoneFile out;
  auto where = [&](int at) { return std::string(path) + ":" + std::to_string(at) + ": "; };
  Result<void> status;
  while (status && !std::feof(fp.get())) {
    ldns_rr* raw = nullptr;
    ldns_status st =
        ldns_rr_new_frm_fp_l(&raw, fp.get(), &default_ttl, &origin_raw, &prev_raw, &line);
    LdnsRr rr(raw);
    // `line` counts the newlines read so far; a last line without one has not been counted.
    int at = std::feof(fp.get()) ? line + 1 : line;
    if (st == LDNS_STATUS_SYNTAX_EMPTY || st == LDNS_STATUS_SYNTAX_TTL ||
        st == LDNS_STATUS_SYNTAX_ORIGIN)
      continue;
    if (st == LDNS_STATUS_SYNTAX_INCLUDE) {
      status = fail(where(at) + "$INCLUDE is not supported");
      break;
    }
    if (st != LDNS_STATUS_OK || rr == nullptr) {
      status = fail(where(at) + ldns_get_errorstr_by_id(st));
      break;
    }
    if (ldns_rr_get_class(rr.get()) != LDNS_RR_CLASS_IN) {
      status = fail(where(at) + "only class IN records are served");
      break;
    }
    ldns_rr2canonical(rr.get());
    auto r = from_ldns(rr.get());
    if (!r) {
      status = fail(where(at) + r.error().message);
      break;
    }
    if (!r->owner.is_subdomain_of(origin)) {
      status = fail(where(at) + r->owner.to_string() + " is outside the zone " +
                    origin.to_string());
      break;
    }
    out.records.push_back(std::move(*r));
  }
  LdnsRdf origin_owner(origin_raw), prev_owner(prev_raw);
  if (!status)
    return std::unexpected(status.error());
  return out;
}

} // namespace moat
