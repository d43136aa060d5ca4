#include "core/tlsrpt_mail.hpp"

#include "core/gzip.hpp"
#include "core/name.hpp"

#include <algorithm>
#include <cctype>

namespace moat {
namespace {

constexpr int kMaxDepth = 8;
constexpr std::size_t kMaxParts = 100;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front())))
    s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back())))
    s.remove_suffix(1);
  return s;
}

/// One MIME entity: the headers moat needs, and the body.
struct Entity {
  std::string content_type;  ///< lower case, without parameters; "text/plain" when absent
  std::string boundary;      ///< for multipart types
  std::string transfer_encoding; ///< lower case
  std::string_view body;
};

/// The value of parameter `name` in a Content-Type ("...; boundary=\"x\"").
std::string parameter(std::string_view value, std::string_view name) {
  std::size_t pos = value.find(';');
  while (pos != std::string_view::npos) {
    std::string_view rest = value.substr(pos + 1);
    std::size_t end = rest.find(';');
    std::string_view item = trim(rest.substr(0, end));
    pos = end == std::string_view::npos ? end : pos + 1 + end;
    std::size_t eq = item.find('=');
    if (eq == std::string_view::npos || ascii_lower(trim(item.substr(0, eq))) != name)
      continue;
    std::string_view v = trim(item.substr(eq + 1));
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"')
      v = v.substr(1, v.size() - 2);
    return std::string(v);
  }
  return {};
}

/// Splits headers from body (at the first empty line) and reads the MIME headers, unfolding
/// continuation lines.
Entity read_entity(std::string_view text) {
  Entity e;
  e.content_type = "text/plain";
  std::size_t at = 0;
  std::string current; // the header being unfolded
  auto take = [&](const std::string& header) {
    std::size_t colon = header.find(':');
    if (colon == std::string::npos)
      return;
    std::string name = ascii_lower(trim(std::string_view(header).substr(0, colon)));
    std::string_view value = trim(std::string_view(header).substr(colon + 1));
    if (name == "content-type") {
      e.content_type = ascii_lower(trim(value.substr(0, value.find(';'))));
      e.boundary = parameter(value, "boundary");
    } else if (name == "content-transfer-encoding") {
      e.transfer_encoding = ascii_lower(value);
    }
  };
  while (at < text.size()) {
    std::size_t eol = text.find('\n', at);
    std::string_view line = text.substr(at, eol == std::string_view::npos ? eol : eol - at);
    at = eol == std::string_view::npos ? text.size() : eol + 1;
    if (!line.empty() && line.back() == '\r')
      line.remove_suffix(1);
    if (line.empty())
      break;
    if ((line.front() == ' ' || line.front() == '\t') && !current.empty()) {
      current += ' ';
      current += trim(line);
      continue;
    }
    take(current);
    current.assign(line);
  }
  take(current);
  e.body = text.substr(at);
  return e;
}

Result<std::string> base64_decode(std::string_view in) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z')
      return c - 'A';
    if (c >= 'a' && c <= 'z')
      return c - 'a' + 26;
    if (c >= '0' && c <= '9')
      return c - '0' + 52;
    if (c == '+')
      return 62;
    if (c == '/')
      return 63;
    return -1;
  };
  std::string out;
  std::uint32_t acc = 0;
  int bits = 0;
  bool padding = false;
  for (char c : in) {
    if (c == '\r' || c == '\n' || c == ' ' || c == '\t')
      continue;
    if (c == '=') {
      padding = true;
      continue;
    }
    const int v = value(c);
    if (v < 0 || padding)
      return fail("the report part is not valid base64");
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

Result<void> collect(std::string_view text, int depth, std::vector<std::string>& out,
                     std::size_t& parts) {
  if (depth > kMaxDepth)
    return fail("the message nests MIME parts more than " + std::to_string(kMaxDepth) + " deep");
  if (++parts > kMaxParts)
    return fail("the message has more than " + std::to_string(kMaxParts) + " MIME parts");
  Entity e = read_entity(text);
  if (e.content_type == "application/tlsrpt+gzip" || e.content_type == "application/tlsrpt+json") {
    if (e.transfer_encoding == "base64") {
      auto decoded = base64_decode(e.body);
      if (!decoded)
        return std::unexpected(decoded.error());
      out.push_back(std::move(*decoded));
    } else if (e.transfer_encoding.empty() || e.transfer_encoding == "7bit" ||
               e.transfer_encoding == "8bit" || e.transfer_encoding == "binary") {
      out.emplace_back(e.body);
    } else {
      return fail("the report part has Content-Transfer-Encoding " + e.transfer_encoding +
                  ", which moat does not decode");
    }
    return {};
  }
  if (!e.content_type.starts_with("multipart/") || e.boundary.empty())
    return {};
  // Parts lie between lines "--boundary"; "--boundary--" ends them (RFC 2046 §5.1.1).
  const std::string delimiter = "--" + e.boundary;
  std::string_view body = e.body;
  std::size_t start = std::string_view::npos;
  std::size_t at = 0;
  while (at <= body.size()) {
    std::size_t eol = body.find('\n', at);
    std::string_view line = body.substr(at, eol == std::string_view::npos ? eol : eol - at);
    const std::size_t line_start = at;
    at = eol == std::string_view::npos ? body.size() + 1 : eol + 1;
    std::string_view bare = line;
    if (!bare.empty() && bare.back() == '\r')
      bare.remove_suffix(1);
    while (!bare.empty() && (bare.back() == ' ' || bare.back() == '\t'))
      bare.remove_suffix(1);
    if (!bare.starts_with(delimiter))
      continue;
    const bool last = bare.substr(delimiter.size()) == "--";
    if (!last && bare.size() != delimiter.size())
      continue;
    if (start != std::string_view::npos) {
      // The line break before the delimiter belongs to the delimiter.
      std::size_t end = line_start;
      if (end > start && body[end - 1] == '\n')
        --end;
      if (end > start && body[end - 1] == '\r')
        --end;
      if (auto r = collect(body.substr(start, end - start), depth + 1, out, parts); !r)
        return r;
    }
    if (last)
      return {};
    start = std::min(at, body.size());
  }
  // No closing delimiter (a message cut short, or a careless writer): the last part runs to
  // the end.
  if (start != std::string_view::npos)
    return collect(body.substr(start), depth + 1, out, parts);
  return {};
}

} // namespace

Result<std::vector<std::string>> tlsrpt_bodies(std::string_view content) {
  std::string_view t = trim(content);
  if (looks_gzipped(content) || t.starts_with('{'))
    return std::vector<std::string>{std::string(content)};
  std::vector<std::string> out;
  std::size_t parts = 0;
  if (auto r = collect(content, 0, out, parts); !r)
    return std::unexpected(r.error());
  if (out.empty())
    return fail("neither a report (gzip or JSON) nor a mail message with one (no part of type "
                "application/tlsrpt+gzip or application/tlsrpt+json)");
  return out;
}

} // namespace moat
