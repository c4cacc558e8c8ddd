// metrics: owns the numbers Gatehouse exposes at /metrics (Prometheus text format 0.0.4). Each metric
// is declared once, as a namespace-scope object beside the code it counts, and registers itself here;
// render() writes them all. Label values come from fixed sets (routes, outcomes, configured provider
// ids), and each metric keeps at most kMaxSeries label sets, so a scrape stays small whatever clients send.
// Thread-safe: workers count concurrently; a scrape reads while they do.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <initializer_list>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

namespace gatehouse::metrics {

constexpr std::size_t kMaxSeries = 500;

class Metric {
public:
  Metric(std::string_view name, std::string_view help, std::string_view type, std::vector<std::string_view> labels);
  virtual ~Metric(); // leaves the registry
  Metric(const Metric&) = delete;
  Metric& operator=(const Metric&) = delete;
  // "# HELP", "# TYPE" and every series of this metric.
  virtual void render(std::string& out) const = 0;

protected:
  // The series' labels as text (`route="sso",status="200"`) from values in the declared order.
  std::string label_text(std::initializer_list<std::string_view> values) const;
  void header(std::string& out) const;

  std::string name_;
  std::string help_;
  std::string type_;
  std::vector<std::string> labels_;
};

// Labelled series of one atomic number each (Counter, LabeledGauge).
template <class Number>
class SeriesFamily : public Metric {
public:
  // One series' number, to keep and move without a lookup (hot paths); it lives as long as the metric.
  // Past kMaxSeries every new label set shares one unshown cell.
  std::atomic<Number>& series(std::initializer_list<std::string_view> label_values);
  void render(std::string& out) const override;

protected:
  SeriesFamily(std::string_view name, std::string_view help, std::string_view type, std::vector<std::string_view> labels)
      : Metric(name, help, type, std::move(labels)) {}

private:
  mutable std::mutex mutex_;
  std::map<std::string, std::unique_ptr<std::atomic<Number>>> series_;
  std::atomic<Number> overflow_{0};
};
extern template class SeriesFamily<std::uint64_t>;
extern template class SeriesFamily<std::int64_t>;

// A count that only goes up.
class Counter : public SeriesFamily<std::uint64_t> {
public:
  Counter(std::string_view name, std::string_view help, std::vector<std::string_view> labels = {});
  void add(std::initializer_list<std::string_view> label_values, std::uint64_t amount = 1);
};

// Values that go up and down, one per label set (connections per worker).
class LabeledGauge : public SeriesFamily<std::int64_t> {
public:
  LabeledGauge(std::string_view name, std::string_view help, std::vector<std::string_view> labels)
      : SeriesFamily(name, help, "gauge", std::move(labels)) {}
};

// A value that goes up and down: moved by add(), or read at scrape time from whoever knows it (the HA
// admin connection's state). With a source, the source's value is shown.
class Gauge : public Metric {
public:
  // from_source: the series is shown only while a source is set (a value nothing here knows is not 0).
  enum class Reading { counted, from_source };
  Gauge(std::string_view name, std::string_view help, Reading reading = Reading::counted);
  void add(std::int64_t delta) { value_.fetch_add(delta, std::memory_order_relaxed); }
  // One source at a time: the object that knows the value sets it when it starts and clears it (an
  // empty function) before it goes.
  void read_from(std::function<double()> source);
  void render(std::string& out) const override;

private:
  std::atomic<std::int64_t> value_{0};
  Reading reading_;
  mutable std::mutex mutex_;
  std::function<double()> source_;
};

// One more on a gauge for as long as it lives (a relayed websocket, held by its relay).
class GaugeHold {
public:
  explicit GaugeHold(Gauge& gauge) : gauge_(gauge) { gauge_.add(1); }
  ~GaugeHold() { gauge_.add(-1); }
  GaugeHold(const GaugeHold&) = delete;
  GaugeHold& operator=(const GaugeHold&) = delete;

private:
  Gauge& gauge_;
};

// Durations in seconds, counted in fixed buckets.
class Histogram : public Metric {
public:
  Histogram(std::string_view name, std::string_view help, std::vector<double> bounds, std::vector<std::string_view> labels = {});
  void observe(std::initializer_list<std::string_view> label_values, double seconds);
  void render(std::string& out) const override;

private:
  struct Series {
    std::vector<std::uint64_t> buckets; // per bound, not cumulative; the last is +Inf
    double sum = 0;
    std::uint64_t count = 0;
  };
  std::vector<double> bounds_;
  mutable std::mutex mutex_;
  std::map<std::string, Series> series_;
};

// Every declared metric, in the exposition format.
std::string render();

} // namespace gatehouse::metrics
