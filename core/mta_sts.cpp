// MTA-STS policies (RFC 8461): validation, the policy file, its id, and parsing it back.
#include "core/mta_sts.hpp"

#include <algorithm>
#include <charconv>
#include <openssl/evp.h>

namespace moat {
namespace {

// RFC 8461 §3.3 lets senders cap the policy size; 64 KiB is far above any real policy.
constexpr std::size_t kMaxPolicyText = 64 << 10;

bool is_ldh(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

} // namespace

Result<StsMode> sts_mode_from_string(std::string_view text) {
  if (text == "enforce")
    return StsMode::kEnforce;
  if (text == "testing")
    return StsMode::kTesting;
  if (text == "none")
    return StsMode::kNone;
  return fail("unknown MTA-STS mode '" + std::string(text) + "' (enforce, testing or none)");
}

std::string to_string(StsMode mode) {
  switch (mode) {
  case StsMode::kEnforce:
    return "enforce";
  case StsMode::kTesting:
    return "testing";
  case StsMode::kNone:
    return "none";
  }
  return "none";
}

Result<void> check_mx_pattern(std::string_view pattern) {
  const auto bad = [&](std::string_view why) {
    return fail("bad mx pattern '" + std::string(pattern) + "': " + std::string(why));
  };
  if (pattern.empty())
    return bad("empty");
  if (pattern.size() > 253)
    return bad("longer than 253 characters");
  if (pattern.back() == '.')
    return bad("no trailing dot allowed");
  std::size_t labels = 0;
  std::size_t start = 0;
  while (start <= pattern.size()) {
    auto end = pattern.find('.', start);
    if (end == std::string_view::npos)
      end = pattern.size();
    const auto label = pattern.substr(start, end - start);
    if (label.empty())
      return bad("empty label");
    if (label.size() > 63)
      return bad("label longer than 63 characters");
    if (label == "*") {
      if (labels != 0)
        return bad("a wildcard may only be the whole left-most label");
    } else {
      if (!std::ranges::all_of(label, is_ldh))
        return bad("labels are lower-case letters, digits and hyphens");
      if (label.front() == '-' || label.back() == '-')
        return bad("a label may not start or end with a hyphen");
    }
    ++labels;
    start = end + 1;
  }
  if (labels < 2)
    return bad("needs at least two labels");
  if (pattern.starts_with("*.") && labels < 3)
    return bad("a wildcard needs at least two labels after it");
  return {};
}

Result<void> check_policy(const StsPolicy& policy) {
  if (policy.max_age > kMaxStsMaxAge)
    return fail("max_age " + std::to_string(policy.max_age) + " is above the RFC 8461 limit of " +
                std::to_string(kMaxStsMaxAge) + " seconds");
  if (policy.max_age == 0 && policy.mode != StsMode::kNone)
    return fail("max_age 0 is only allowed with mode none");
  if (policy.mx.empty() && policy.mode != StsMode::kNone)
    return fail("an MTA-STS policy in mode " + to_string(policy.mode) + " needs at least one mx");
  for (const auto& p : policy.mx)
    if (auto ok = check_mx_pattern(p); !ok)
      return ok;
  return {};
}

bool mx_pattern_matches(std::string_view pattern, const Name& host) {
  return host_pattern_matches(pattern, host);
}

std::string policy_text(const StsPolicy& policy) {
  std::string text = "version: STSv1\r\nmode: " + to_string(policy.mode) + "\r\n";
  for (const auto& p : policy.mx)
    text += "mx: " + p + "\r\n";
  text += "max_age: " + std::to_string(policy.max_age) + "\r\n";
  return text;
}

std::string policy_id(std::string_view text) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(text.data(), text.size(), digest, &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string id;
  for (unsigned i = 0; i < 16 && i < len; ++i) {
    id += kHex[digest[i] >> 4];
    id += kHex[digest[i] & 0xf];
  }
  return id;
}

Result<StsPolicy> parse_policy_text(std::string_view text) {
  if (text.size() > kMaxPolicyText)
    return fail("policy is larger than 64 KiB");
  StsPolicy policy;
  policy.mx.clear();
  bool have_version = false, have_mode = false, have_max_age = false;
  std::size_t line_no = 0;
  while (!text.empty()) {
    auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    ++line_no;
    if (line.empty())
      continue;
    const auto colon = line.find(':');
    if (colon == std::string_view::npos)
      return fail("policy line " + std::to_string(line_no) + " has no ':'");
    const auto key = trim(line.substr(0, colon));
    const auto value = trim(line.substr(colon + 1));
    if (!have_version) {
      if (key != "version" || value != "STSv1")
        return fail("policy does not start with 'version: STSv1'");
      have_version = true;
    } else if (key == "mode") {
      auto mode = sts_mode_from_string(value);
      if (!mode)
        return std::unexpected(mode.error());
      policy.mode = *mode;
      have_mode = true;
    } else if (key == "max_age") {
      std::uint64_t age = 0;
      auto [ptr, ec] = std::from_chars(value.data(), value.data() + value.size(), age);
      if (ec != std::errc() || ptr != value.data() + value.size() || value.size() > 10 ||
          age > kMaxStsMaxAge)
        return fail("policy max_age '" + std::string(value) + "' is not a number up to " +
                    std::to_string(kMaxStsMaxAge));
      policy.max_age = static_cast<std::uint32_t>(age);
      have_max_age = true;
    } else if (key == "mx") {
      if (auto ok = check_mx_pattern(value); !ok)
        return std::unexpected(ok.error());
      policy.mx.emplace_back(value);
    }
    // Other keys are extensions (RFC 8461 §3.2): ignored.
  }
  if (!have_version)
    return fail("policy is empty");
  if (!have_mode)
    return fail("policy has no mode");
  if (!have_max_age)
    return fail("policy has no max_age");
  if (auto ok = check_policy(policy); !ok)
    return std::unexpected(ok.error());
  return policy;
}

} // namespace moat
