#pragma once

#include "core/name.hpp"
#include "core/rr.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

/// Turning command-line words into moat's types. Every function throws CliError with a message
/// naming the bad input.
namespace moat::cli {

/// A domain (zone apex) given on the command line, taken as absolute, lower-cased; the root is
/// refused.
[[nodiscard]] Name parse_domain_name(std::string_view text);

/// A record owner relative to `apex` ("@" is the apex, "mail" is mail.<apex>, a name with a
/// trailing dot is absolute), lower-cased; refused unless at or below the apex.
[[nodiscard]] Name parse_owner(std::string_view text, const Name& apex);

/// "MX", "txt", "TYPE65280" → type code.
[[nodiscard]] std::uint16_t parse_type(std::string_view text);

/// The presentation-format RDATA given as shell words, joined with single spaces. For TXT, a
/// word without double quotes becomes one character-string of its own (split every 255
/// octets), so `TXT "v=spf1 -all"` is one string and `TXT hello world` two; words with double
/// quotes are passed on as written.
[[nodiscard]] std::string join_rdata_words(std::uint16_t type,
                                           const std::vector<std::string>& words);

/// Parses the RDATA words of `type`; relative names inside are completed with `origin`.
[[nodiscard]] std::vector<std::uint8_t>
parse_rdata_words(std::uint16_t type, const std::vector<std::string>& words, const Name& origin);

/// The apex NS RRset and glue built from `--ns NAME[=ADDR]` options.
struct NameServers {
  std::vector<Name> names; ///< in the order given, without duplicates
  std::vector<Rr> records; ///< the NS records, then one A or AAAA per in-domain ADDR
};

/// Each spec is NAME or NAME=ADDR. NAME is absolute (a trailing dot is optional); ADDR (IPv4 or
/// IPv6) is only accepted when NAME is inside `apex`, and adds an address record for it.
[[nodiscard]] NameServers
parse_name_servers(const Name& apex, const std::vector<std::string>& specs, std::uint32_t ttl);

/// "user@example.test" → the SOA RNAME "user.example.test." (dots of the local part escaped).
[[nodiscard]] Name mailbox_name(std::string_view email);

} // namespace moat::cli
