#include "config/pipeline.hpp"

#include <algorithm>
#include <cmath>

namespace flowgate {

const char* to_string(node_kind k) {
  switch (k) {
  case node_kind::sequence:
    return "sequence";
  case node_kind::activity:
    return "activity";
  case node_kind::for_each:
    return "for_each";
  case node_kind::wait:
    return "wait";
  case node_kind::switch_:
    return "switch";
  case node_kind::child:
    return "child";
  case node_kind::parallel:
    return "parallel";
  }
  return "unknown";
}

int64_t retry_policy::delay_before(int32_t next_attempt) const {
  if (next_attempt < 2) {
    return 0;
  }
  auto delay = static_cast<double>(initial_interval_ms) *
               std::pow(backoff_coefficient, static_cast<double>(next_attempt - 2));
  if (!std::isfinite(delay) || delay > static_cast<double>(max_interval_ms)) {
    return max_interval_ms;
  }
  return static_cast<int64_t>(delay);
}

bool retry_policy::is_retryable(const std::string& type) const {
  return std::find(non_retryable.begin(), non_retryable.end(), type) == non_retryable.end();
}

bool pipeline::has_feature(const std::string& f) const {
  return std::find(features.begin(), features.end(), f) != features.end();
}

std::shared_ptr<const config_snapshot> make_snapshot(std::string tenant, std::string queue,
                                                     std::string version, std::string checksum,
                                                     std::string document, pipeline definition) {
  return std::make_shared<const config_snapshot>(
    config_snapshot{std::move(tenant), std::move(queue), std::move(version), std::move(checksum),
                    std::move(document), std::move(definition)});
}

} // namespace flowgate
