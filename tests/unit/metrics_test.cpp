// metrics: the exposition text Prometheus reads (format 0.0.4): labels escaped, histograms cumulative
// with +Inf, _sum and _count, and a metric's label sets bounded.
#include "metrics/metrics.hpp"

#include <gtest/gtest.h>

namespace {

using gatehouse::metrics::Counter;
using gatehouse::metrics::Gauge;
using gatehouse::metrics::Histogram;

std::string rendered_lines_of(const std::string& name) {
  std::string lines;
  const std::string all = gatehouse::metrics::render();
  std::size_t at = 0;
  while (at < all.size()) {
    const auto end = all.find('\n', at);
    const std::string line = all.substr(at, end - at);
    if (line.find(name) != std::string::npos) lines += line + "\n";
    at = end + 1;
  }
  return lines;
}

Counter test_counter("test_counter_total", "A counter for the test", {"route", "status"});
Gauge test_gauge("test_gauge", "A gauge for the test");
Histogram test_histogram("test_seconds", "A histogram for the test", {0.5, 1}, {"provider"});

TEST(Metrics, CountersAreTypedOnceAndTheirLabelsEscaped) {
  test_counter.add({"sso", "200"});
  test_counter.add({"sso", "200"}, 2);
  test_counter.add({"we\"ird\\\n", "500"});
  EXPECT_EQ(rendered_lines_of("test_counter_total"),
            "# HELP test_counter_total A counter for the test\n"
            "# TYPE test_counter_total counter\n"
            "test_counter_total{route=\"sso\",status=\"200\"} 3\n"
            "test_counter_total{route=\"we\\\"ird\\\\\\n\",status=\"500\"} 1\n");
}

TEST(Metrics, GaugesShowTheirSourceOrTheirOwnValue) {
  test_gauge.add(2);
  test_gauge.add(-1);
  EXPECT_NE(rendered_lines_of("test_gauge").find("test_gauge 1\n"), std::string::npos);
  test_gauge.read_from([] { return 7.0; });
  EXPECT_NE(rendered_lines_of("test_gauge").find("test_gauge 7\n"), std::string::npos);
  test_gauge.read_from({});
  // A value only a source knows is not shown as 0 while nothing knows it.
  Gauge sourced("test_sourced", "Known only to a source", Gauge::Reading::from_source);
  EXPECT_EQ(rendered_lines_of("test_sourced"), "");
  sourced.read_from([] { return 1.0; });
  EXPECT_NE(rendered_lines_of("test_sourced").find("test_sourced 1\n"), std::string::npos);
  sourced.read_from({});
}

TEST(Metrics, LabeledGaugesGoUpAndDownPerLabelSet) {
  gatehouse::metrics::LabeledGauge per_worker("test_per_worker", "A labelled gauge for the test", {"worker"});
  auto& first = per_worker.series({"0"});
  auto& second = per_worker.series({"1"});
  first += 3;
  second += 1;
  first -= 1;
  EXPECT_EQ(&per_worker.series({"0"}), &first); // one cell per label set, found again
  EXPECT_EQ(rendered_lines_of("test_per_worker"),
            "# HELP test_per_worker A labelled gauge for the test\n"
            "# TYPE test_per_worker gauge\n"
            "test_per_worker{worker=\"0\"} 2\n"
            "test_per_worker{worker=\"1\"} 1\n");
}

TEST(Metrics, HistogramsAreCumulativeWithInfSumAndCount) {
  test_histogram.observe({"idp1"}, 0.2);
  test_histogram.observe({"idp1"}, 0.7);
  test_histogram.observe({"idp1"}, 30);
  EXPECT_EQ(rendered_lines_of("test_seconds"),
            "# HELP test_seconds A histogram for the test\n"
            "# TYPE test_seconds histogram\n"
            "test_seconds_bucket{provider=\"idp1\",le=\"0.5\"} 1\n"
            "test_seconds_bucket{provider=\"idp1\",le=\"1\"} 2\n"
            "test_seconds_bucket{provider=\"idp1\",le=\"+Inf\"} 3\n"
            "test_seconds_sum{provider=\"idp1\"} 30.9\n"
            "test_seconds_count{provider=\"idp1\"} 3\n");
}

TEST(Metrics, AMetricKeepsAtMostItsBoundOfLabelSets) {
  Counter many("test_many_total", "Many label sets", {"value"});
  for (int i = 0; i < 2000; ++i) many.add({std::to_string(i)});
  const auto lines = rendered_lines_of("test_many_total{");
  EXPECT_EQ(static_cast<std::size_t>(std::count(lines.begin(), lines.end(), '\n')), gatehouse::metrics::kMaxSeries);
}

} // namespace
