#include "metrics/metrics.hpp"

#include <cmath>
#include <charconv>

namespace gatehouse::metrics {

namespace {

struct Registry {
  std::mutex mutex;
  std::vector<const Metric*> metrics;
};

// Built on first use: metrics in other files register during static initialisation, in any order.
Registry& registry() {
  static Registry instance;
  return instance;
}

std::string escaped(std::string_view value) {
  std::string out;
  for (const char c : value) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

// The shortest text that reads back as `value` (le="0.1", not "0.10000000000000001").
std::string number(double value) {
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  char text[32];
  const auto written = std::to_chars(text, text + sizeof text, value);
  return std::string(text, written.ptr);
}

void series_line(std::string& out, const std::string& name, const std::string& labels, const std::string& value) {
  out += name;
  if (!labels.empty()) out += "{" + labels + "}";
  out += " " + value + "\n";
}

} // namespace

Metric::Metric(std::string_view name, std::string_view help, std::string_view type, std::vector<std::string_view> labels)
    : name_(name), help_(help), type_(type), labels_(labels.begin(), labels.end()) {
  std::lock_guard lock(registry().mutex);
  registry().metrics.push_back(this);
}

Metric::~Metric() {
  std::lock_guard lock(registry().mutex);
  std::erase(registry().metrics, this);
}

std::string Metric::label_text(std::initializer_list<std::string_view> values) const {
  std::string text;
  std::size_t i = 0;
  for (const auto value : values) {
    if (i >= labels_.size()) break;
    if (!text.empty()) text += ",";
    text += labels_[i++] + "=\"" + escaped(value) + "\"";
  }
  return text;
}

void Metric::header(std::string& out) const {
  out += "# HELP " + name_ + " " + help_ + "\n# TYPE " + name_ + " " + type_ + "\n";
}

template <class Number>
std::atomic<Number>& SeriesFamily<Number>::series(std::initializer_list<std::string_view> label_values) {
  const std::string key = label_text(label_values);
  std::lock_guard lock(mutex_);
  auto found = series_.find(key);
  if (found == series_.end()) {
    if (series_.size() >= kMaxSeries) return overflow_;
    found = series_.emplace(key, std::make_unique<std::atomic<Number>>(0)).first;
  }
  return *found->second;
}

template <class Number>
void SeriesFamily<Number>::render(std::string& out) const {
  header(out);
  std::lock_guard lock(mutex_);
  for (const auto& [labels, value] : series_)
    series_line(out, name_, labels, std::to_string(value->load(std::memory_order_relaxed)));
}

template class SeriesFamily<std::uint64_t>;
template class SeriesFamily<std::int64_t>;

Counter::Counter(std::string_view name, std::string_view help, std::vector<std::string_view> labels)
    : SeriesFamily(name, help, "counter", std::move(labels)) {}

void Counter::add(std::initializer_list<std::string_view> label_values, std::uint64_t amount) {
  series(label_values).fetch_add(amount, std::memory_order_relaxed);
}

Gauge::Gauge(std::string_view name, std::string_view help, Reading reading)
    : Metric(name, help, "gauge", {}), reading_(reading) {}

void Gauge::read_from(std::function<double()> source) {
  std::lock_guard lock(mutex_);
  source_ = std::move(source);
}

void Gauge::render(std::string& out) const {
  std::lock_guard lock(mutex_);
  if (reading_ == Reading::from_source && !source_) return; // nothing here knows it (no admin connection)
  header(out);
  series_line(out, name_, "", source_ ? number(source_()) : std::to_string(value_.load(std::memory_order_relaxed)));
}

Histogram::Histogram(std::string_view name, std::string_view help, std::vector<double> bounds,
                     std::vector<std::string_view> labels)
    : Metric(name, help, "histogram", std::move(labels)), bounds_(std::move(bounds)) {}

void Histogram::observe(std::initializer_list<std::string_view> label_values, double seconds) {
  const std::string key = label_text(label_values);
  std::lock_guard lock(mutex_);
  auto found = series_.find(key);
  if (found == series_.end()) {
    if (series_.size() >= kMaxSeries) return;
    found = series_.emplace(key, Series{std::vector<std::uint64_t>(bounds_.size() + 1, 0), 0, 0}).first;
  }
  std::size_t bucket = 0;
  while (bucket < bounds_.size() && seconds > bounds_[bucket]) ++bucket;
  ++found->second.buckets[bucket];
  found->second.sum += seconds;
  ++found->second.count;
}

void Histogram::render(std::string& out) const {
  header(out);
  std::lock_guard lock(mutex_);
  for (const auto& [labels, series] : series_) {
    const std::string prefix = labels.empty() ? "" : labels + ",";
    std::uint64_t cumulative = 0;
    for (std::size_t i = 0; i <= bounds_.size(); ++i) {
      cumulative += series.buckets[i];
      const std::string bound = i < bounds_.size() ? number(bounds_[i]) : "+Inf";
      series_line(out, name_ + "_bucket", prefix + "le=\"" + bound + "\"", std::to_string(cumulative));
    }
    series_line(out, name_ + "_sum", labels, number(series.sum));
    series_line(out, name_ + "_count", labels, std::to_string(series.count));
  }
}

std::string render() {
  std::string out;
  std::lock_guard lock(registry().mutex);
  for (const auto* metric : registry().metrics) metric->render(out);
  return out;
}

} // namespace gatehouse::metrics
