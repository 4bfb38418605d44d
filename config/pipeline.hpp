#pragma once

/// The pipeline model (FORMATS.md "Pipeline") and the immutable snapshot a
/// run executes. Plain C++ and Boost.JSON: the engine, the registry and the
/// tools share it.

#include <boost/json/value.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace flowgate {

/// What a pipeline node does.
enum class node_kind : uint8_t { sequence, activity, for_each, wait, switch_, child, parallel };

/// Name of a node kind as written in documents.
const char* to_string(node_kind k);

/// When an activity attempt fails: whether and when to try again.
struct retry_policy {
  int32_t max_attempts = 1;
  int64_t initial_interval_ms = 1000;
  double backoff_coefficient = 2.0;
  int64_t max_interval_ms = 100'000;
  /// Error types that end the node at once.
  std::vector<std::string> non_retryable;

  /// Delay before attempt `next_attempt` (>= 2):
  /// min(initial x coefficient^(next_attempt - 2), max).
  int64_t delay_before(int32_t next_attempt) const;

  /// True if an error of `type` may be retried under this policy.
  bool is_retryable(const std::string& type) const;
};

/// What a timed-out event wait does.
enum class wait_timeout_action : uint8_t { fail, continue_run };

/// One node of the pipeline tree. Reached only through a
/// `std::shared_ptr<const config_snapshot>`, so never mutated after parsing.
struct pipeline_node {
  node_kind kind = node_kind::sequence;
  /// `[a-z0-9_]{1,64}`; empty for sequences.
  std::string id;
  /// Sequence: the children in order. for_each: exactly one body node.
  /// switch: one node per case (in `case_keys` order), then the default.
  /// parallel: the branches in order.
  std::vector<pipeline_node> children;

  // -- activity -------------------------------------------------------------
  std::string activity;
  /// Input template: any JSON; `{"$ref": pointer}` objects are substituted.
  boost::json::value input;
  retry_policy retry;
  /// Start-to-close timeout per attempt; 0 = none.
  int64_t timeout_ms = 0;

  // -- for_each -------------------------------------------------------------
  /// JSON pointer of the items array.
  std::string items_pointer;
  /// At most this many items in flight (1 = one after another).
  int32_t concurrency = 1;

  // -- wait -----------------------------------------------------------------
  /// Named event to wait for; empty for a timer.
  std::string event;
  /// Event wait timeout; 0 = wait forever.
  int64_t wait_timeout_ms = 0;
  wait_timeout_action on_timeout = wait_timeout_action::fail;
  /// Timer duration for a timer wait.
  int64_t timer_ms = 0;

  // -- switch ---------------------------------------------------------------
  /// JSON pointer of the value that selects a case.
  std::string switch_pointer;
  /// The cases' values as written (the keys of `cases`), in document order.
  std::vector<std::string> case_keys;
  /// The last child is the `default` branch.
  bool has_default = false;

  // -- child ----------------------------------------------------------------
  /// The queue of the child run's pipeline (same tenant); `input` and
  /// `retry` are the child start's, as for an activity.
  std::string child_queue;
  /// Empty: resolved like `run start` when the child starts.
  std::string child_version;

  const pipeline_node& body() const { return children.front(); }
};

/// A validated pipeline document.
struct pipeline {
  std::string name;
  /// What the pipeline's runs take part in (FORMATS.md):
  /// - "quota": a start of it is subject to the tenant's soft and hard
  ///   active-run limits (`quota.soft_limit`, `quota.hard_limit`); without
  ///   it such a start is never refused by them (its runs still count).
  /// - "metrics": its runs get per-pipeline (tenant, queue, version) series
  ///   at /metrics.
  /// A document without `features` has {"quota"}: what every pipeline did
  /// before the list had effects. Step attempts are billed and concurrency
  /// limits apply whatever the list says.
  std::vector<std::string> features;
  pipeline_node root;
  /// Number of nodes in the tree.
  size_t node_count = 0;

  bool has_feature(const std::string& f) const;
};

/// The parsed, validated, deeply immutable pipeline a run executes, with
/// its identity. Create with `make_snapshot`; share by pointer.
struct config_snapshot {
  std::string tenant;
  std::string queue;
  std::string version;
  /// `sha256:<hex>` of the canonical document.
  std::string checksum;
  /// The canonical document text.
  std::string document;
  pipeline definition;
};

/// Wraps a validated pipeline in an immutable, shareable snapshot.
std::shared_ptr<const config_snapshot> make_snapshot(std::string tenant, std::string queue,
                                                     std::string version, std::string checksum,
                                                     std::string document, pipeline definition);

} // namespace flowgate
