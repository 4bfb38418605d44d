#pragma once

/// Observations counted into fixed buckets, carried in the actors' stats
/// answers and turned into Prometheus histograms at /metrics. Each actor
/// owns its histograms (its mailbox serializes them); nothing is shared.

#include <caf/meta/type_name.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace flowgate {

struct histogram {
  /// Upper bounds, increasing; an observation x goes to the first bucket
  /// with x <= bound, or to the last (+Inf) one.
  std::vector<double> bounds;
  /// bounds.size() + 1 counts, not cumulative.
  std::vector<uint64_t> counts;
  double sum = 0;

  histogram() = default;
  explicit histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}

  void observe(double x) {
    auto at = std::lower_bound(bounds.begin(), bounds.end(), x) - bounds.begin();
    counts[static_cast<size_t>(at)] += 1;
    sum += x;
  }

  uint64_t count() const {
    uint64_t n = 0;
    for (auto c : counts) {
      n += c;
    }
    return n;
  }
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, histogram& x) {
  return f(caf::meta::type_name("flowgate::histogram"), x.bounds, x.counts, x.sum);
}

/// One activity's attempts on a node: how long they took (seconds) and how
/// many failed (an error result, a timeout or a lost worker).
struct activity_series {
  std::string activity;
  histogram seconds;
  uint64_t failures = 0;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, activity_series& x) {
  return f(caf::meta::type_name("flowgate::activity_series"), x.activity, x.seconds, x.failures);
}

/// Bucket bounds (seconds) for latencies from a millisecond to a minute.
inline std::vector<double> latency_bounds() {
  return {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60};
}

} // namespace flowgate
