#pragma once

#include "core/error.hpp"

#include <compare>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace moat {

/// An absolute domain name in uncompressed wire form (length-prefixed labels ending with the
/// root label). Case is preserved; equality and ordering ignore ASCII case, and ordering is
/// the DNSSEC canonical order of RFC 4034 §6.1.
class Name {
public:
  /// The root name ".".
  Name() : wire_{0} {}

  /// Parses presentation format ("mail.example.test.", escapes \X and \DDD allowed). A name
  /// without a trailing dot is taken relative to `origin` ("@" is the origin itself); without
  /// an origin it is taken as absolute. Fails on empty labels, labels over 63 octets and
  /// names over 255 octets.
  [[nodiscard]] static Result<Name> parse(std::string_view text, const Name* origin = nullptr);

  /// Takes an uncompressed wire-form name; fails unless it is exactly one well-formed name.
  [[nodiscard]] static Result<Name> from_wire(std::span<const std::uint8_t> wire);

  /// Presentation format with a trailing dot, special characters escaped.
  [[nodiscard]] std::string to_string() const;
  /// Presentation format relative to `origin` ("@" for the origin itself), or absolute when
  /// this name is not below `origin`.
  [[nodiscard]] std::string to_relative_string(const Name& origin) const;

  [[nodiscard]] const std::vector<std::uint8_t>& wire() const { return wire_; }
  /// The number of labels, not counting the root label.
  [[nodiscard]] std::size_t label_count() const;
  [[nodiscard]] bool is_root() const { return wire_.size() == 1; }
  [[nodiscard]] bool is_wildcard() const {
    return wire_.size() >= 2 && wire_[0] == 1 && wire_[1] == '*';
  }

  /// True when this name equals `ancestor` or lies below it.
  [[nodiscard]] bool is_subdomain_of(const Name& ancestor) const;
  /// The name with its first label removed; the root stays the root.
  [[nodiscard]] Name parent() const;
  /// The name with its first `n` labels removed.
  [[nodiscard]] Name strip_labels(std::size_t n) const;
  /// `label` + "." + this name; fails when the result would be too long.
  [[nodiscard]] Result<Name> prepend(std::string_view label) const;
  /// The same name in lower case (what DNSSEC signs and what the store keeps).
  [[nodiscard]] Name lowercased() const;
  /// The first label's bytes.
  [[nodiscard]] std::string_view first_label() const;

  friend bool operator==(const Name& a, const Name& b);
  friend std::strong_ordering operator<=>(const Name& a, const Name& b);

private:
  explicit Name(std::vector<std::uint8_t> wire) : wire_(std::move(wire)) {}
  std::vector<std::uint8_t> wire_;
};

/// `host` as a lower-case host name without the trailing dot ("mail.example.test"), the form
/// certificates and MTA-STS policies use.
[[nodiscard]] std::string host_name_text(const Name& host);

/// `s` with ASCII letters in lower case, nothing else touched: how DNS names, SNI and HTTP
/// tokens compare.
[[nodiscard]] std::string ascii_lower(std::string_view s);

/// True when `pattern` (lower case, no trailing dot) names `host`: the same name, or "*.rest"
/// where "rest" is `host` without its first label (RFC 6125 §6.4.3, RFC 8461 §4.1). Labels come
/// from the wire form, so an escaped dot is no boundary; a wildcard over a single label ("*.test")
/// matches nothing.
[[nodiscard]] bool host_pattern_matches(std::string_view pattern, const Name& host);

/// Hash that agrees with case-insensitive equality, for unordered containers.
struct NameHash {
  std::size_t operator()(const Name& n) const noexcept;
};

} // namespace moat
