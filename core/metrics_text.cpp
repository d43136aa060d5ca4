#include "core/metrics_text.hpp"

#include <cmath>
#include <cstdio>

namespace moat {
namespace {

// Label values escape backslash, double quote and line feed; HELP text backslash and line feed.
void append_escaped(std::string& out, std::string_view s, bool quotes) {
  for (char c : s) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else if (quotes && c == '"')
      out += "\\\"";
    else
      out += c;
  }
}

} // namespace

void MetricsText::family(std::string_view name, std::string_view type, std::string_view help) {
  text_ += "# HELP ";
  text_ += name;
  text_ += ' ';
  append_escaped(text_, help, false);
  text_ += "\n# TYPE ";
  text_ += name;
  text_ += ' ';
  text_ += type;
  text_ += '\n';
}

void MetricsText::sample(std::string_view name, const MetricLabels& labels, double value) {
  text_ += name;
  if (!labels.empty()) {
    text_ += '{';
    bool first = true;
    for (const auto& [k, v] : labels) {
      if (!first)
        text_ += ',';
      first = false;
      text_ += k;
      text_ += "=\"";
      append_escaped(text_, v, true);
      text_ += '"';
    }
    text_ += '}';
  }
  text_ += ' ';
  char buf[64];
  // Counters are integers; print them without exponent up to 2^53, as Prometheus reads them.
  if (std::isfinite(value) && value == std::floor(value) && std::fabs(value) < 9.007e15)
    std::snprintf(buf, sizeof buf, "%.0f", value);
  else
    std::snprintf(buf, sizeof buf, "%.17g", value);
  text_ += buf;
  text_ += '\n';
}

} // namespace moat
