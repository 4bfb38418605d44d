#pragma once

/// Activities: the user code a run executes, registered by name. An
/// activity receives the resolved input, the attempt number, the tenant id
/// and the tenant's `settings` / `restrictions`, and returns an output or
/// an error with a type and a retryable flag. It runs on a worker thread of
/// the activity pool and may block. It must be safe to run more than once
/// per attempt number only in the sense every durable runtime has: an
/// attempt cut off by a crash is followed by a new attempt.
///
/// An attempt whose result will not be used any more (it passed its
/// start-to-close timeout, its run was canceled or its lease lost, or the
/// node is stopping after its drain) is asked to stop: `activity_context::stop_requested()` turns
/// true. A long-running activity checks it and returns early (any outcome; it is discarded), or
/// waits with `activity_context::sleep_for`, which wakes at the request. One that does neither
/// keeps its worker thread until it returns, and a stopping node waits for it before its process
/// exits.

#include "messages/ids.hpp"

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace flowgate {

/// What an activity sees besides its input.
struct activity_context {
  tenant_id tenant;
  run_id run;
  std::string step_path;
  int32_t attempt = 1;
  /// The tenant config's `settings` object (empty if none).
  boost::json::object settings;
  /// The tenant config's `secrets` (name -> value; empty if none). Never
  /// put them in an output or an error: those are stored and shown.
  boost::json::object secrets;
  /// The tenant config's `restrictions`.
  std::vector<std::string> restrictions;
  /// Set by the activity pool when this attempt's result will not be used.
  std::shared_ptr<const std::atomic<bool>> stop;

  /// True once the attempt is asked to stop (see the file comment).
  bool stop_requested() const { return stop != nullptr && stop->load(std::memory_order_relaxed); }

  /// Sleeps `d`, or less if the attempt is asked to stop first (checked
  /// every 20 ms). Returns false if it was asked to stop.
  bool sleep_for(std::chrono::milliseconds d) const;
};

/// An activity's failure.
struct activity_error {
  std::string type;
  std::string message;
  bool retryable = true;
};

/// An activity's answer: an output, or an error.
class activity_outcome {
public:
  /// Success with `output`.
  static activity_outcome success(boost::json::value output = nullptr);
  /// Failure.
  static activity_outcome failure(std::string type, std::string message, bool retryable = true);

  bool ok() const { return ok_; }
  const boost::json::value& output() const { return output_; }
  const activity_error& error() const { return error_; }

private:
  bool ok_ = true;
  boost::json::value output_;
  activity_error error_;
};

/// An activity. Exceptions it throws become retryable errors of type
/// `exception`.
using activity_fn =
  std::function<activity_outcome(const boost::json::value& input, const activity_context& ctx)>;

/// How an activity runs. `blocking` (the default): on a worker thread of
/// the pool, with the start-to-close timeout enforced. `inline_fast`: in
/// the pool actor itself, without a thread hop; only for short functions
/// that never block (no I/O, no sleeping), like the built-ins noop, echo
/// and fail. Timeouts cannot interrupt an inline activity.
enum class activity_mode : uint8_t { blocking, inline_fast };

/// Activities by name. Built-ins: `noop` (output null), `echo` (output =
/// input), `sleep` (input: milliseconds, or {"ms": N}), `fail` (input
/// {"times": N, "type": T, "retryable": bool}: fails attempts 1..N with
/// type T, default `Injected`, then outputs {"attempt": n}).
class activity_registry {
public:
  /// A registry holding the built-ins.
  activity_registry();

  /// Registers (or replaces) an activity. Names: `[A-Za-z0-9_.-]{1,128}`.
  /// Throws std::invalid_argument for a bad name or an empty function.
  void add(const std::string& name, activity_fn fn, activity_mode mode = activity_mode::blocking);

  /// The activity, or nullptr.
  const activity_fn* find(const std::string& name) const;

  /// True if `name` is registered as `inline_fast`.
  bool is_inline(const std::string& name) const;

  /// Registered names, sorted.
  std::vector<std::string> names() const;

private:
  struct entry {
    activity_fn fn;
    activity_mode mode = activity_mode::blocking;
  };
  std::map<std::string, entry> activities_;
};

} // namespace flowgate
