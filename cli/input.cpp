#include "cli/input.hpp"

#include "cli/app.hpp"

#include <algorithm>

namespace moat::cli {
namespace {

// A TXT character-string holds at most 255 octets (RFC 1035 §3.3).
constexpr std::size_t kMaxCharacterString = 255;

// One shell word as TXT character-strings. Words with escapes are quoted whole: splitting them
// could cut an escape in half, and ldns reports an over-long string clearly.
std::string quote_txt_word(std::string_view word) {
  if (word.find('\\') != std::string_view::npos || word.size() <= kMaxCharacterString)
    return '"' + std::string(word) + '"';
  std::string out;
  for (std::size_t i = 0; i < word.size(); i += kMaxCharacterString) {
    if (!out.empty())
      out += ' ';
    out += '"' + std::string(word.substr(i, kMaxCharacterString)) + '"';
  }
  return out;
}

} // namespace

Name parse_domain_name(std::string_view text) {
  Name name = unwrap(Name::parse(text));
  if (name.is_root())
    throw CliError("the root zone cannot be a moat domain");
  return name.lowercased();
}

Name parse_owner(std::string_view text, const Name& apex) {
  Name owner = unwrap(Name::parse(text, &apex)).lowercased();
  if (!owner.is_subdomain_of(apex))
    throw CliError(owner.to_string() + " is outside the domain " + apex.to_string());
  return owner;
}

std::uint16_t parse_type(std::string_view text) { return unwrap(type_from_string(text)); }

std::string join_rdata_words(std::uint16_t type, const std::vector<std::string>& words) {
  std::string out;
  for (const std::string& word : words) {
    if (!out.empty())
      out += ' ';
    if (type == rrtype::TXT && word.find('"') == std::string::npos)
      out += quote_txt_word(word);
    else
      out += word;
  }
  return out;
}

std::vector<std::uint8_t>
parse_rdata_words(std::uint16_t type, const std::vector<std::string>& words, const Name& origin) {
  if (words.empty())
    throw CliError("no RDATA given for " + type_to_string(type));
  return unwrap(parse_rdata(type, join_rdata_words(type, words), origin));
}

NameServers parse_name_servers(const Name& apex, const std::vector<std::string>& specs,
                               std::uint32_t ttl) {
  NameServers out;
  std::vector<Rr> glue;
  for (const std::string& spec : specs) {
    auto eq = spec.find('=');
    std::string_view text = std::string_view(spec).substr(0, eq);
    Name name = unwrap(Name::parse(text)).lowercased();
    if (name.is_root())
      throw CliError("--ns " + spec + ": the root cannot be a name server");
    if (std::ranges::find(out.names, name) == out.names.end()) {
      out.names.push_back(name);
      out.records.push_back(Rr{apex, rrtype::NS, ttl, name.wire()});
    }
    if (eq == std::string::npos)
      continue;
    std::string_view addr = std::string_view(spec).substr(eq + 1);
    if (!name.is_subdomain_of(apex))
      throw CliError("--ns " + spec + ": " + name.to_string() + " is outside " + apex.to_string() +
                     ", so its address belongs in its own zone (drop '=" + std::string(addr) +
                     "')");
    std::uint16_t type = addr.find(':') != std::string_view::npos ? rrtype::AAAA : rrtype::A;
    auto rdata = parse_rdata(type, addr, apex);
    if (!rdata || addr.empty())
      throw CliError("--ns " + spec + ": '" + std::string(addr) +
                     "' is not an IPv4 or IPv6 address");
    Rr rr{name, type, ttl, std::move(*rdata)};
    if (std::ranges::find(glue, rr) == glue.end())
      glue.push_back(std::move(rr));
  }
  if (out.names.empty())
    throw CliError("at least one --ns is needed");
  out.records.insert(out.records.end(), glue.begin(), glue.end());
  return out;
}

Name mailbox_name(std::string_view email) {
  auto at = email.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 == email.size())
    throw CliError("bad --soa-email '" + std::string(email) + "': expected user@domain");
  std::string text;
  for (char c : email.substr(0, at)) {
    if (c == '.' || c == '\\')
      text += '\\';
    text += c;
  }
  text += '.';
  text += email.substr(at + 1);
  if (!text.ends_with('.'))
    text += '.';
  auto name = Name::parse(text);
  if (!name)
    throw CliError("bad --soa-email '" + std::string(email) + "': " + name.error().message);
  return name->lowercased();
}

} // namespace moat::cli
