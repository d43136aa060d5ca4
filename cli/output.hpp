#pragma once

#include "core/clock.hpp"
#include "core/rr.hpp"

#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

/// How the CLI prints: master-file lines and short messages for people, JSON for programs.
namespace moat::cli {

/// JSON objects keep their keys in the order written, so output reads like the documentation.
using Json = nlohmann::ordered_json;

/// Writes `value` as JSON on stdout, followed by a newline.
void print_json(const Json& value);
/// Writes one line on stdout.
void print_line(const std::string& line);
/// Writes one notice line on stderr ("moat: <text>"), for things worth knowing that are not
/// errors.
void print_notice(const std::string& text);

/// "2024-05-01T12:00:00Z".
[[nodiscard]] std::string iso8601(UnixTime t);
/// Upper-case hexadecimal, no separators.
[[nodiscard]] std::string hex_upper(std::span<const std::uint8_t> bytes);

/// Sorts records by owner in DNSSEC canonical order, then type, then RDATA octets.
void sort_canonical(std::vector<Rr>& records);

/// "mail.example.test. MX 10 mx.example.test." — a record without TTL and class, for messages.
[[nodiscard]] std::string record_summary(const Rr& rr);
/// {"owner", "type", "ttl", "rdata"}.
[[nodiscard]] Json record_json(const Rr& rr);

} // namespace moat::cli
