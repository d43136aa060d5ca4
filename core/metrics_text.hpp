#pragma once
// The Prometheus text exposition format (version 0.0.4) that both daemons write on their
// metrics listener: "# HELP", "# TYPE", then one line per sample.

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace moat {

using MetricLabels = std::vector<std::pair<std::string, std::string>>;

class MetricsText {
public:
  /// Starts a metric family: `type` is "counter" or "gauge". Names follow Prometheus practice:
  /// moat_dnsd_queries_total.
  void family(std::string_view name, std::string_view type, std::string_view help);
  /// One sample of the family last started (`name` may add a suffix, as histograms do).
  void sample(std::string_view name, const MetricLabels& labels, double value);
  void sample(std::string_view name, double value) { sample(name, {}, value); }

  [[nodiscard]] const std::string& text() const { return text_; }

private:
  std::string text_;
};

} // namespace moat
