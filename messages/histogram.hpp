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
  /// Upper bounds in the observed unit (integers: a message carries no
  /// floating point, whose infinities CAF 0.17's serializer cannot write),
  /// increasing; an observation x goes to the first bucket with x <= bound,
  /// or to the last (+Inf) one.
  std::vector<int64_t> bounds;
  /// bounds.size() + 1 counts, not cumulative.
  std::vector<uint64_t> counts;
  int64_t sum = 0;
  /// Observed units per exported unit (1'000'000: microseconds observed,
  /// seconds exported).
  int64_t scale = 1;

  histogram() = default;
  histogram(std::vector<int64_t> b, int64_t units_per_export)
      : bounds(std::move(b)), counts(bounds.size() + 1, 0), scale(units_per_export) {}

  void observe(int64_t x) {
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
  return f(caf::meta::type_name("flowgate::histogram"), x.bounds, x.counts, x.sum, x.scale);
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

/// A latency histogram observed in microseconds, exported in seconds:
/// buckets from half a millisecond to a minute.
inline histogram latency_histogram() {
  return histogram{{500, 1'000, 2'500, 5'000, 10'000, 25'000, 50'000, 100'000, 250'000, 500'000,
                    1'000'000, 2'500'000, 5'000'000, 10'000'000, 30'000'000, 60'000'000},
                   1'000'000};
}

} // namespace flowgate
