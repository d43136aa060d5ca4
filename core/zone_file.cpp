// RFC 1035 §5 master files: split into entries here (comments, quotes, parentheses, directives,
// omitted owners), each entry parsed as one record by parse_rr. Splitting ourselves rather than
// through ldns_rr_new_frm_fp_l gives exact line numbers, refuses an unclosed parenthesis
// instead of reading to the end of the file, and lets every record go through the same checks
// as `moat record add`.
#include "core/live_files.hpp"
#include "core/rr.hpp"

#include <cctype>
#include <charconv>

namespace moat {
namespace {

// A zone of a million names is about 50 MB of text.
constexpr std::size_t kMaxZoneFile = 512u << 20;

/// One logical line of a master file: parentheses and comments removed, newlines inside
/// parentheses turned into blanks.
struct Entry {
  std::string text;
  int line = 0; ///< where the entry starts
};

Result<std::vector<Entry>> split_entries(std::string_view file) {
  std::vector<Entry> entries;
  Entry current;
  int line = 1;
  int paren_line = 0; // line of the outermost open '(' or 0
  int depth = 0;
  bool quoted = false;
  const auto at = [](int n) { return std::to_string(n) + ": "; };
  current.line = 1;
  for (std::size_t i = 0; i < file.size(); ++i) {
    const char c = file[i];
    if (c == '\\' && i + 1 < file.size() && file[i + 1] != '\n') {
      current.text += c;
      current.text += file[++i];
      continue;
    }
    if (c == '"') {
      quoted = !quoted;
      current.text += c;
    } else if (c == '\n') {
      if (quoted)
        return fail(at(line) + "quoted string not closed at the end of the line");
      ++line;
      if (depth > 0) {
        current.text += ' ';
      } else {
        entries.push_back(std::move(current));
        current = Entry{{}, line};
      }
    } else if (quoted) {
      current.text += c;
    } else if (c == ';') {
      while (i + 1 < file.size() && file[i + 1] != '\n')
        ++i;
    } else if (c == '(') {
      if (depth++ == 0)
        paren_line = line;
      current.text += ' ';
    } else if (c == ')') {
      if (depth == 0)
        return fail(at(line) + "')' without a matching '('");
      --depth;
      current.text += ' ';
    } else if (c == '\r') {
      current.text += ' ';
    } else {
      current.text += c;
    }
  }
  if (quoted)
    return fail(at(line) + "quoted string not closed at the end of the file");
  if (depth > 0)
    return fail(at(paren_line) + "'(' opened here is never closed");
  entries.push_back(std::move(current));
  return entries;
}

bool blank(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && blank(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && blank(s.back()))
    s.remove_suffix(1);
  return s;
}

/// A TTL as "3600" or with BIND units ("1h30m", "2d"), at most 2^31 - 1 (RFC 2181 §8).
Result<std::uint32_t> parse_ttl(std::string_view text) {
  if (text.empty())
    return fail("missing TTL");
  std::uint64_t total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::uint64_t n = 0;
    auto [ptr, ec] = std::from_chars(text.data() + i, text.data() + text.size(), n);
    if (ec != std::errc() || n > 0xffffffffull)
      return fail("bad TTL '" + std::string(text) + "'");
    i = static_cast<std::size_t>(ptr - text.data());
    std::uint64_t unit = 1;
    if (i < text.size()) {
      switch (std::tolower(static_cast<unsigned char>(text[i]))) {
      case 's':
        unit = 1;
        break;
      case 'm':
        unit = 60;
        break;
      case 'h':
        unit = 3600;
        break;
      case 'd':
        unit = 86400;
        break;
      case 'w':
        unit = 604800;
        break;
      default:
        return fail("bad TTL '" + std::string(text) + "'");
      }
      ++i;
    }
    total += n * unit;
    if (total > 0x7fffffffull)
      return fail("TTL '" + std::string(text) + "' is above 2147483647");
  }
  return static_cast<std::uint32_t>(total);
}

} // namespace

Result<ZoneFile> parse_zone_file(std::string_view path, const Name& origin) {
  const std::string file_name(path);
  auto content = read_file(file_name, kMaxZoneFile);
  if (!content)
    return std::unexpected(content.error());
  auto entries = split_entries(*content);
  if (!entries)
    return fail(file_name + ":" + entries.error().message);

  Name current_origin = origin;
  std::uint32_t default_ttl = 3600;
  std::string previous_owner;
  ZoneFile out;
  for (const Entry& e : *entries) {
    const auto where = [&] { return file_name + ":" + std::to_string(e.line) + ": "; };
    const std::string_view text = trim(e.text);
    if (text.empty())
      continue;
    if (text.front() == '$') {
      const auto space = text.find_first_of(" \t");
      const std::string_view directive = text.substr(0, space);
      const std::string_view arg =
          space == std::string_view::npos ? std::string_view() : trim(text.substr(space));
      if (directive == "$ORIGIN") {
        auto n = Name::parse(arg, &current_origin);
        if (!n || arg.empty() || arg.find_first_of(" \t") != std::string_view::npos)
          return fail(where() + "bad $ORIGIN '" + std::string(arg) + "'");
        current_origin = *n;
      } else if (directive == "$TTL") {
        auto ttl = parse_ttl(arg);
        if (!ttl)
          return fail(where() + ttl.error().message);
        default_ttl = *ttl;
      } else if (directive == "$INCLUDE") {
        return fail(where() + "$INCLUDE is not supported");
      } else {
        return fail(where() + "unknown directive " + std::string(directive));
      }
      continue;
    }
    // An entry that starts with a blank has the owner of the record before it (RFC 1035 §5.1).
    std::string record;
    if (blank(e.text.front())) {
      if (previous_owner.empty())
        return fail(where() + "the first record has no owner name");
      record = previous_owner + " " + std::string(text);
    } else {
      record = std::string(text);
    }
    auto rr = parse_rr(record, current_origin, default_ttl);
    if (!rr)
      return fail(where() + rr.error().message);
    if (!rr->owner.is_subdomain_of(origin))
      return fail(where() + rr->owner.to_string() + " is outside the zone " + origin.to_string());
    previous_owner = rr->owner.to_string();
    out.records.push_back(std::move(*rr));
  }
  return out;
}

} // namespace moat
