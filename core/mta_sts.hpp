#pragma once

#include "core/error.hpp"
#include "core/name.hpp"

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace moat {

/// MTA-STS policy mode (RFC 8461 §5).
enum class StsMode { kEnforce, kTesting, kNone };

[[nodiscard]] Result<StsMode> sts_mode_from_string(std::string_view text); ///< "enforce" | "testing" | "none"
[[nodiscard]] std::string to_string(StsMode mode);

/// Longest max_age RFC 8461 §3.2 allows (one year).
inline constexpr std::uint32_t kMaxStsMaxAge = 31557600;
/// moat's default max_age: one week.
inline constexpr std::uint32_t kDefaultStsMaxAge = 604800;

/// An MTA-STS policy as moat publishes it.
struct StsPolicy {
  StsMode mode = StsMode::kTesting;
  std::uint32_t max_age = kDefaultStsMaxAge;
  std::vector<std::string> mx; ///< "mail.example.test" or "*.example.test", no trailing dot
};

/// Checks an `mx:` pattern (RFC 8461 §3.2, §4.1): a host name of valid labels, lower case,
/// no trailing dot; a wildcard only as the whole left-most label ("*.example.test").
[[nodiscard]] Result<void> check_mx_pattern(std::string_view pattern);

/// Checks max_age: 0 < max_age <= kMaxStsMaxAge (0 is allowed only with mode none).
[[nodiscard]] Result<void> check_policy(const StsPolicy& policy);

/// True when `pattern` matches MX host `host` (RFC 8461 §4.1: a wildcard matches exactly one
/// left-most label).
[[nodiscard]] bool mx_pattern_matches(std::string_view pattern, const Name& host);

/// The policy file: "version: STSv1", "mode: …", one "mx: …" line per pattern, "max_age: …",
/// each line ended by CRLF (RFC 8461 §3.2).
[[nodiscard]] std::string policy_text(const StsPolicy& policy);

/// The policy id published in the `_mta-sts` TXT record: 32 alphanumerics derived from the
/// policy text (hex of the first 16 octets of its SHA-256), so the id changes exactly when the
/// text does.
[[nodiscard]] std::string policy_id(std::string_view policy_text);

/// Parses a policy file back (for checks and for `moat check`); strict about the version line
/// and the keys RFC 8461 §3.2 defines, tolerant of LF-only line ends and unknown keys.
[[nodiscard]] Result<StsPolicy> parse_policy_text(std::string_view text);

} // namespace moat
