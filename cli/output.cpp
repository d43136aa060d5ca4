#include "cli/output.hpp"

#include <algorithm>
#include <ctime>
#include <iostream>
#include <tuple>

namespace moat::cli {

void print_json(const Json& value) {
  // Names and TXT data are printed with ldns escapes, so they are ASCII; `replace` only guards
  // against a stray non-UTF-8 byte making dump() throw.
  std::cout << value.dump(2, ' ', false, Json::error_handler_t::replace) << '\n';
}

void print_line(const std::string& line) { std::cout << line << '\n'; }

void print_notice(const std::string& text) { std::cerr << "moat: " << text << '\n'; }

std::string iso8601(UnixTime t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  if (gmtime_r(&tt, &tm) == nullptr)
    return std::to_string(t);
  char buf[32];
  std::size_t n = std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return std::string(buf, n);
}

std::string hex_upper(std::span<const std::uint8_t> bytes) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (std::uint8_t b : bytes) {
    out += kDigits[b >> 4];
    out += kDigits[b & 0x0f];
  }
  return out;
}

void sort_canonical(std::vector<Rr>& records) {
  std::ranges::sort(records, [](const Rr& a, const Rr& b) {
    return std::tie(a.owner, a.type, a.rdata) < std::tie(b.owner, b.type, b.rdata);
  });
}

std::string record_summary(const Rr& rr) {
  return rr.owner.to_string() + " " + type_to_string(rr.type) + " " +
         rdata_to_string(rr.type, rr.rdata);
}

Json record_json(const Rr& rr) {
  return {{"owner", rr.owner.to_string()},
          {"type", type_to_string(rr.type)},
          {"ttl", rr.ttl},
          {"rdata", rdata_to_string(rr.type, rr.rdata)}};
}

} // namespace moat::cli
