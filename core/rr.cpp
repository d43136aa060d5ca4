// Text <-> wire conversion of RDATA and master files, delegated to ldns, whose parsers
// know every registered type. ldns stays inside this file.
#include "core/rr.hpp"

#include <algorithm>
#include <charconv>
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
struct CharFree {
  void operator()(char* p) const { LDNS_FREE(p); }
};
using LdnsRr = std::unique_ptr<ldns_rr, RrFree>;
using LdnsRdf = std::unique_ptr<ldns_rdf, RdfFree>;
using LdnsBuffer = std::unique_ptr<ldns_buffer, BufferFree>;
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


// Splits presentation-format text at blanks, keeping a quoted string (escapes included) as one
// token; parentheses count as blanks.
std::vector<std::string_view> tokens_of(std::string_view text) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  const auto blank = [](char c) {
    return c == ' ' || c == '\t' || c == '(' || c == ')' || c == '\n' || c == '\r';
  };
  while (i < text.size()) {
    while (i < text.size() && blank(text[i]))
      ++i;
    if (i >= text.size())
      break;
    const std::size_t start = i;
    bool quoted = false;
    while (i < text.size() && (quoted || !blank(text[i]))) {
      if (text[i] == '\\')
        ++i;
      else if (text[i] == '"')
        quoted = !quoted;
      ++i;
    }
    out.push_back(text.substr(start, std::min(i, text.size()) - start));
  }
  return out;
}

// The largest value of an integer RDATA field, or 0 when the field is not an integer.
std::uint64_t integer_field_max(ldns_rdf_type t) {
  switch (t) {
  case LDNS_RDF_TYPE_INT8:
  case LDNS_RDF_TYPE_ALG:
  case LDNS_RDF_TYPE_CERTIFICATE_USAGE:
  case LDNS_RDF_TYPE_SELECTOR:
  case LDNS_RDF_TYPE_MATCHING_TYPE:
    return 0xff;
  case LDNS_RDF_TYPE_INT16:
  case LDNS_RDF_TYPE_CERT_ALG:
    return 0xffff;
  case LDNS_RDF_TYPE_INT32:
    return 0xffffffff;
  default:
    return 0;
  }
}

// Fields that are always exactly one token, so the fields after them can still be lined up
// with the tokens of the text.
bool single_token_field(ldns_rdf_type t) {
  return integer_field_max(t) != 0 || t == LDNS_RDF_TYPE_DNAME || t == LDNS_RDF_TYPE_A ||
         t == LDNS_RDF_TYPE_AAAA || t == LDNS_RDF_TYPE_TYPE || t == LDNS_RDF_TYPE_CLASS ||
         t == LDNS_RDF_TYPE_TAG || t == LDNS_RDF_TYPE_PERIOD || t == LDNS_RDF_TYPE_TIME;
}

// ldns reads integer fields with strtol and keeps the low bits: "MX 70000 mail" would be stored
// as MX 4464. Every integer field ahead of the first multi-token field (hex, base64, strings)
// is checked against its width here; those fields come first in every common type.
Result<void> check_integer_fields(std::uint16_t type, std::string_view text) {
  const ldns_rr_descriptor* d = ldns_rr_descript(type);
  if (d == nullptr || text.starts_with("\\#"))
    return {};
  const auto tokens = tokens_of(text);
  const std::size_t fields = std::min(tokens.size(), ldns_rr_descriptor_maximum(d));
  for (std::size_t i = 0; i < fields; ++i) {
    const ldns_rdf_type t = ldns_rr_descriptor_field_type(d, i);
    if (!single_token_field(t))
      break;
    const std::uint64_t max = integer_field_max(t);
    const std::string_view tok = tokens[i];
    if (max == 0 || tok.empty() || !std::ranges::all_of(tok, [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    std::uint64_t v = 0;
    auto [ptr, ec] = std::from_chars(tok.data(), tok.data() + tok.size(), v);
    if (ec != std::errc() || v > max)
      return fail("bad " + type_to_string(type) + " data '" + std::string(text) + "': field " +
                  std::to_string(i + 1) + " (" + std::string(tok) + ") is larger than " +
                  std::to_string(max));
  }
  return {};
}

// The RDATA part of a whole record "owner [ttl] [class] type rdata": what follows the first
// token after the owner that names `type`.
std::string_view rdata_part(std::string_view record, std::uint16_t type) {
  const std::string mnemonic = type_to_string(type);
  const std::string generic = "TYPE" + std::to_string(type);
  const auto tokens = tokens_of(record);
  for (std::size_t i = 1; i < tokens.size(); ++i) {
    const auto same = [&](std::string_view a, std::string_view b) {
      return a.size() == b.size() &&
             std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::toupper(static_cast<unsigned char>(x)) == y;
             });
    };
    if (same(tokens[i], mnemonic) || same(tokens[i], generic)) {
      const std::size_t end = static_cast<std::size_t>(tokens[i].data() - record.data()) +
                              tokens[i].size();
      return record.substr(end);
    }
  }
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
  if (auto r = check_integer_fields(type, text); !r)
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

Result<Rr> parse_rr(std::string_view text, const Name& origin, std::uint32_t default_ttl) {
  if (text.find_first_of("\n\r") != std::string_view::npos)
    return fail("a record must be on one line");
  if (has_comment(text))
    return fail("unexpected ';' in a record (quote it)");
  const std::string line(text);
  auto origin_rdf = name_rdf(origin);
  ldns_rr* raw = nullptr;
  const ldns_status st =
      ldns_rr_new_frm_str(&raw, line.c_str(), default_ttl, origin_rdf.get(), nullptr);
  LdnsRr rr(raw);
  if (st != LDNS_STATUS_OK || rr == nullptr)
    return fail(ldns_get_errorstr_by_id(st));
  if (ldns_rr_get_class(rr.get()) != LDNS_RR_CLASS_IN)
    return fail("only class IN records are served");
  const auto type = static_cast<std::uint16_t>(ldns_rr_get_type(rr.get()));
  const std::string_view rdata_text = rdata_part(text, type);
  if (auto r = check_hex_tail(type, rdata_text); !r)
    return std::unexpected(r.error());
  if (auto r = check_integer_fields(type, rdata_text); !r)
    return std::unexpected(r.error());
  ldns_rr2canonical(rr.get());
  return from_ldns(rr.get());
}

} // namespace moat
