#include "core/name.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>

namespace moat {
namespace {

constexpr std::size_t kMaxWire = 255;
constexpr std::size_t kMaxLabel = 63;

std::uint8_t lower(std::uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

// Offsets of each label's length byte, left to right (root label excluded).
std::vector<std::size_t> label_offsets(const std::vector<std::uint8_t>& w) {
  std::vector<std::size_t> out;
  for (std::size_t i = 0; i < w.size() && w[i] != 0; i += w[i] + 1)
    out.push_back(i);
  return out;
}

} // namespace

Result<Name> Name::parse(std::string_view text, const Name* origin) {
  if (text.empty())
    return fail("empty domain name");
  if (text == "@") {
    if (origin == nullptr)
      return fail("'@' needs an origin");
    return *origin;
  }
  if (text == ".")
    return Name();
  std::vector<std::uint8_t> wire;
  std::string label;
  bool absolute = false;
  auto flush = [&]() -> Result<void> {
    if (label.empty())
      return fail("empty label in domain name '" + std::string(text) + "'");
    if (label.size() > kMaxLabel)
      return fail("label longer than 63 octets in '" + std::string(text) + "'");
    wire.push_back(static_cast<std::uint8_t>(label.size()));
    wire.insert(wire.end(), label.begin(), label.end());
    label.clear();
    return {};
  };
  for (std::size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (c == '\\') {
      if (i + 1 >= text.size())
        return fail("dangling escape in domain name '" + std::string(text) + "'");
      if (std::isdigit(static_cast<unsigned char>(text[i + 1]))) {
        if (i + 3 >= text.size() || !std::isdigit(static_cast<unsigned char>(text[i + 2])) ||
            !std::isdigit(static_cast<unsigned char>(text[i + 3])))
          return fail("bad \\DDD escape in domain name '" + std::string(text) + "'");
        int v = (text[i + 1] - '0') * 100 + (text[i + 2] - '0') * 10 + (text[i + 3] - '0');
        if (v > 255)
          return fail("bad \\DDD escape in domain name '" + std::string(text) + "'");
        label.push_back(static_cast<char>(v));
        i += 3;
      } else {
        label.push_back(text[i + 1]);
        ++i;
      }
    } else if (c == '.') {
      if (auto r = flush(); !r)
        return std::unexpected(r.error());
      if (i + 1 == text.size())
        absolute = true;
    } else if (std::isspace(static_cast<unsigned char>(c)) || c == '\0') {
      return fail("white space in domain name '" + std::string(text) + "'");
    } else {
      label.push_back(c);
    }
  }
  if (!absolute) {
    if (!label.empty()) {
      if (auto r = flush(); !r)
        return std::unexpected(r.error());
    }
    if (origin != nullptr)
      wire.insert(wire.end(), origin->wire_.begin(), origin->wire_.end() - 1);
  }
  wire.push_back(0);
  if (wire.size() > kMaxWire)
    return fail("domain name longer than 255 octets: '" + std::string(text) + "'");
  return Name(std::move(wire));
}

Result<Name> Name::from_wire(std::span<const std::uint8_t> wire) {
  std::size_t i = 0;
  while (i < wire.size()) {
    std::uint8_t len = wire[i];
    if (len == 0) {
      if (i + 1 != wire.size())
        return fail("trailing bytes after wire-format name");
      return Name(std::vector<std::uint8_t>(wire.begin(), wire.end()));
    }
    if (len > kMaxLabel)
      return fail("bad label length in wire-format name");
    i += len + 1;
    if (i >= kMaxWire)
      return fail("wire-format name too long");
  }
  return fail("truncated wire-format name");
}

std::string Name::to_string() const {
  if (is_root())
    return ".";
  std::string out;
  for (std::size_t i = 0; wire_[i] != 0; i += wire_[i] + 1) {
    for (std::size_t j = 1; j <= wire_[i]; ++j) {
      auto c = wire_[i + j];
      if (c == '.' || c == '\\' || c == '"' || c == '(' || c == ')' || c == ';' || c == '@' ||
          c == '$') {
        out.push_back('\\');
        out.push_back(static_cast<char>(c));
      } else if (c <= 0x20 || c >= 0x7f) {
        std::array<char, 5> buf{};
        std::snprintf(buf.data(), buf.size(), "\\%03u", c);
        out += buf.data();
      } else {
        out.push_back(static_cast<char>(c));
      }
    }
    out.push_back('.');
  }
  return out;
}

std::string Name::to_relative_string(const Name& origin) const {
  if (*this == origin)
    return "@";
  if (!is_subdomain_of(origin) || origin.is_root())
    return to_string();
  std::string full = to_string();
  std::string o = origin.to_string();
  return full.substr(0, full.size() - o.size() - 1);
}

std::size_t Name::label_count() const { return label_offsets(wire_).size(); }

bool Name::is_subdomain_of(const Name& ancestor) const {
  if (ancestor.wire_.size() > wire_.size())
    return false;
  // Walk our labels until the remaining suffix has the ancestor's length, then compare.
  std::size_t i = 0;
  while (wire_.size() - i > ancestor.wire_.size())
    i += wire_[i] + 1;
  if (wire_.size() - i != ancestor.wire_.size())
    return false;
  for (std::size_t j = 0; j < ancestor.wire_.size(); ++j)
    if (lower(wire_[i + j]) != lower(ancestor.wire_[j]))
      return false;
  return true;
}

Name Name::parent() const { return strip_labels(1); }

Name Name::strip_labels(std::size_t n) const {
  std::size_t i = 0;
  while (n-- > 0 && wire_[i] != 0)
    i += wire_[i] + 1;
  return Name(
      std::vector<std::uint8_t>(wire_.begin() + static_cast<std::ptrdiff_t>(i), wire_.end()));
}

Result<Name> Name::prepend(std::string_view label) const {
  if (label.empty() || label.size() > kMaxLabel)
    return fail("bad label length");
  if (wire_.size() + label.size() + 1 > kMaxWire)
    return fail("domain name too long");
  std::vector<std::uint8_t> w;
  w.reserve(wire_.size() + label.size() + 1);
  w.push_back(static_cast<std::uint8_t>(label.size()));
  w.insert(w.end(), label.begin(), label.end());
  w.insert(w.end(), wire_.begin(), wire_.end());
  return Name(std::move(w));
}

Name Name::lowercased() const {
  std::vector<std::uint8_t> w = wire_;
  for (std::size_t i = 0; w[i] != 0; i += w[i] + 1)
    for (std::size_t j = 1; j <= w[i]; ++j)
      w[i + j] = lower(w[i + j]);
  return Name(std::move(w));
}

std::string_view Name::first_label() const {
  return {reinterpret_cast<const char*>(wire_.data()) + 1, wire_[0]};
}

bool operator==(const Name& a, const Name& b) {
  if (a.wire_.size() != b.wire_.size())
    return false;
  for (std::size_t i = 0; i < a.wire_.size(); ++i)
    if (lower(a.wire_[i]) != lower(b.wire_[i]))
      return false;
  return true;
}

std::strong_ordering operator<=>(const Name& a, const Name& b) {
  // RFC 4034 §6.1: compare label by label from the right, each label as a lower-cased octet
  // string; a name that runs out of labels first sorts first. Offsets live on the stack: this
  // runs millions of times when a large zone is sorted.
  std::array<std::uint8_t, 128> oa, ob;
  std::size_t na = 0, nb = 0;
  for (std::size_t i = 0; a.wire_[i] != 0; i += a.wire_[i] + 1)
    oa[na++] = static_cast<std::uint8_t>(i);
  for (std::size_t i = 0; b.wire_[i] != 0; i += b.wire_[i] + 1)
    ob[nb++] = static_cast<std::uint8_t>(i);
  while (na > 0 && nb > 0) {
    const std::uint8_t* pa = &a.wire_[oa[--na]];
    const std::uint8_t* pb = &b.wire_[ob[--nb]];
    std::size_t la = pa[0], lb = pb[0];
    for (std::size_t k = 1; k <= std::min(la, lb); ++k) {
      auto ca = lower(pa[k]), cb = lower(pb[k]);
      if (ca != cb)
        return ca <=> cb;
    }
    if (la != lb)
      return la <=> lb;
  }
  return na <=> nb;
}

std::size_t NameHash::operator()(const Name& n) const noexcept {
  std::size_t h = 1469598103934665603ull;
  for (auto c : n.wire()) {
    h ^= lower(c);
    h *= 1099511628211ull;
  }
  return h;
}

std::string host_name_text(const Name& host) {
  std::string text = host.lowercased().to_string();
  if (text.size() > 1 && text.back() == '.')
    text.pop_back();
  return text;
}

bool host_pattern_matches(std::string_view pattern, const Name& host) {
  if (pattern == host_name_text(host))
    return true;
  if (!pattern.starts_with("*.") || host.label_count() < 2 ||
      pattern.find('.', 2) == std::string_view::npos)
    return false;
  return host_name_text(host.parent()) == pattern.substr(2);
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

} // namespace moat
