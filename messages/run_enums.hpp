#pragma once

/// The closed vocabularies of runs: run status, wait reason, step status,
/// rejection reason and done reason. Plain C++ (no CAF), so the engine uses
/// them too.
///
/// On the wire an enum travels as its underlying `uint8_t` (CAF 0.17
/// serializes enums by value; an `inspect` overload for an enum would be
/// ambiguous with that rule), so the numeric values are part of the wire
/// format: append only. `to_string` gives the text stored in the database
/// and printed by the CLI (CAF's `deep_to_string` picks it up);
/// `from_string` parses that text and refuses anything else. A value that
/// arrives from outside the process is checked with `is_valid` before use.
/// They travel inside the records and requests; none is registered as a
/// message type of its own (CAF would register `std::vector<E>` with it,
/// whose deserializer reads into an uninitialized enum).

#include <array>
#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string_view>

namespace flowgate {

/// A run's status as stored (the `runs.status` column).
enum class run_status : uint8_t {
  pending = 0,
  running = 1,
  waiting = 2,
  completed = 3,
  failed = 4,
  canceled = 5,
};

/// Why a WAITING run waits (the `runs.wait_reason` column); `none` when it
/// does not.
enum class wait_reason : uint8_t {
  none = 0,
  /// For a signal (`wait_for_event`).
  event = 1,
  /// For a timer step's fire time.
  timer = 2,
  /// For a retry's backoff.
  retry = 3,
  /// Held after a non-determinism detection until an operator acts.
  nondeterminism = 4,
  /// Paused because the step quota of the billing period is used up.
  quota = 5,
  /// A quota pause resumed, due to be claimed.
  resumed = 6,
  /// For a child run (a `child` node's attempt) to finish; holds no lease
  /// and no permit.
  child = 7,
};

/// A step attempt's state in the ledger (`run_steps.status`).
enum class step_status : uint8_t {
  started = 0,
  completed = 1,
  failed = 2,
  /// Its node died or lost the lease before the attempt reported.
  cut_off = 3,
  /// The run was canceled while the attempt was open.
  canceled = 4,
};

/// Why a new run was refused at admission (`tenant_rejections.reason`);
/// `none` when it was not.
enum class rejection_reason : uint8_t {
  none = 0,
  /// At `max_concurrent_runs` with admission `reject`.
  tenant_at_limit = 1,
  /// Over the soft active-run limit (plus its burst).
  soft_limit = 2,
  /// At the hard active-run limit.
  hard_limit = 3,
};

/// Why a run left a node's orchestrator (`run_finished`).
enum class done_reason : uint8_t {
  completed = 0,
  failed = 1,
  canceled = 2,
  /// WAITING: on a timer, a signal, a retry, quota or an operator.
  waiting = 3,
  /// Still RUNNING, its lease given up (a drain).
  handed_back = 4,
  /// Another node holds the lease now.
  lost = 5,
  /// A failure that is not the run's own (store, snapshot); the lease is
  /// left to expire and the run is replayed later.
  abandoned = 6,
};

/// How many `done_reason` values there are (counts indexed by reason).
inline constexpr size_t done_reason_count = static_cast<size_t>(done_reason::abandoned) + 1;

namespace detail {

template <class E, size_t N>
constexpr const char* enum_text(E x, const std::array<const char*, N>& names) {
  auto i = static_cast<size_t>(x);
  return i < N ? names[i] : "unknown";
}

template <class E, size_t N>
std::optional<E> enum_parse(std::string_view text, const std::array<const char*, N>& names) {
  for (size_t i = 0; i < N; ++i) {
    if (text == names[i]) {
      return static_cast<E>(i);
    }
  }
  return std::nullopt;
}

constexpr std::array<const char*, 6> run_status_names{"PENDING",   "RUNNING", "WAITING",
                                                      "COMPLETED", "FAILED",  "CANCELED"};
constexpr std::array<const char*, 8> wait_reason_names{
  "", "event", "timer", "retry", "nondeterminism", "quota", "resumed", "child"};
constexpr std::array<const char*, 5> step_status_names{"started", "completed", "failed", "cut_off",
                                                       "canceled"};
constexpr std::array<const char*, 4> rejection_reason_names{"", "tenant_at_limit", "soft_limit",
                                                            "hard_limit"};
constexpr std::array<const char*, 7> done_reason_names{
  "completed", "failed", "canceled", "waiting", "handed_back", "lost", "abandoned"};

} // namespace detail

constexpr const char* to_string(run_status x) {
  return detail::enum_text(x, detail::run_status_names);
}
constexpr const char* to_string(wait_reason x) {
  return detail::enum_text(x, detail::wait_reason_names);
}
constexpr const char* to_string(step_status x) {
  return detail::enum_text(x, detail::step_status_names);
}
constexpr const char* to_string(rejection_reason x) {
  return detail::enum_text(x, detail::rejection_reason_names);
}
constexpr const char* to_string(done_reason x) {
  return detail::enum_text(x, detail::done_reason_names);
}

/// Parses the stored text; nullopt for anything else. The empty text is
/// `wait_reason::none` and `rejection_reason::none`.
template <class E> std::optional<E> from_string(std::string_view text);

template <> inline std::optional<run_status> from_string<run_status>(std::string_view text) {
  return detail::enum_parse<run_status>(text, detail::run_status_names);
}
template <> inline std::optional<wait_reason> from_string<wait_reason>(std::string_view text) {
  return detail::enum_parse<wait_reason>(text, detail::wait_reason_names);
}
template <> inline std::optional<step_status> from_string<step_status>(std::string_view text) {
  return detail::enum_parse<step_status>(text, detail::step_status_names);
}
template <>
inline std::optional<rejection_reason> from_string<rejection_reason>(std::string_view text) {
  return detail::enum_parse<rejection_reason>(text, detail::rejection_reason_names);
}
template <> inline std::optional<done_reason> from_string<done_reason>(std::string_view text) {
  return detail::enum_parse<done_reason>(text, detail::done_reason_names);
}

/// A run status as users type it, in any case (`running`, `Completed`);
/// nullopt for anything else (the CLI's `--status`, the API's `?status=`).
inline std::optional<run_status> run_status_from_any_case(std::string_view text) {
  char upper[16];
  if (text.size() > sizeof upper) {
    return std::nullopt;
  }
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    upper[i] = c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
  }
  return from_string<run_status>(std::string_view{upper, text.size()});
}

/// True for a value the enum names (a value from the wire may not be).
constexpr bool is_valid(run_status x) {
  return static_cast<size_t>(x) < detail::run_status_names.size();
}
constexpr bool is_valid(wait_reason x) {
  return static_cast<size_t>(x) < detail::wait_reason_names.size();
}
constexpr bool is_valid(step_status x) {
  return static_cast<size_t>(x) < detail::step_status_names.size();
}
constexpr bool is_valid(rejection_reason x) {
  return static_cast<size_t>(x) < detail::rejection_reason_names.size();
}
constexpr bool is_valid(done_reason x) {
  return static_cast<size_t>(x) < detail::done_reason_names.size();
}

/// COMPLETED, FAILED and CANCELED.
constexpr bool is_terminal(run_status x) {
  return x == run_status::completed || x == run_status::failed || x == run_status::canceled;
}

/// What a run that left its orchestrator became, as a done reason (a
/// RUNNING run left with its lease given up: handed back).
constexpr done_reason done_reason_of(run_status x) {
  switch (x) {
  case run_status::completed:
    return done_reason::completed;
  case run_status::failed:
    return done_reason::failed;
  case run_status::canceled:
    return done_reason::canceled;
  case run_status::waiting:
    return done_reason::waiting;
  default:
    return done_reason::handed_back;
  }
}

/// Print the stored text (test diagnostics, logs).
std::ostream& operator<<(std::ostream& out, run_status x);
std::ostream& operator<<(std::ostream& out, wait_reason x);
std::ostream& operator<<(std::ostream& out, step_status x);
std::ostream& operator<<(std::ostream& out, rejection_reason x);
std::ostream& operator<<(std::ostream& out, done_reason x);

} // namespace flowgate
