#pragma once

/// flowgate's error codes and the helpers that build and read them.
/// Every error that crosses an actor boundary is a `caf::error` in the
/// `flowgate` category whose context holds one human-readable string that
/// names the thing and the reason.

#include <caf/error.hpp>

#include <cstdint>
#include <string>

namespace flowgate {

/// Error codes of the `flowgate` category. Values are part of the wire
/// format: append only.
enum class errc : uint8_t {
  none = 0,
  /// A request argument is malformed (bad id, bad option).
  invalid_argument = 1,
  /// A JSON document does not parse.
  malformed_json = 2,
  /// A document parses but violates the format (FORMATS.md).
  invalid_config = 3,
  /// A document or payload exceeds its size limit.
  payload_too_large = 4,
  /// The tenant does not exist.
  unknown_tenant = 5,
  /// The (tenant, queue) has no config, and neither has the default tenant.
  unknown_queue = 6,
  /// The requested config version does not exist.
  unknown_version = 7,
  /// A stored version exists with different content.
  version_conflict = 8,
  /// A requested record does not exist.
  not_found = 9,
  /// The database is locked by another writer; retry later.
  store_busy = 10,
  /// Any other storage failure.
  store_failure = 11,
  /// The database was written by a newer flowgate.
  schema_too_new = 12,
  /// A write under a lease whose epoch is no longer current.
  lease_lost = 13,
  /// Admission refused: active-run quota exceeded.
  quota_exceeded = 14,
  /// Admission refused: the tenant is at its concurrency limit.
  tenant_at_limit = 15,
  /// A deadline passed before the request could be served.
  deadline_exceeded = 16,
  /// Stored history disagrees with what the engine decides.
  nondeterminism = 17,
  /// The run already ended.
  run_finished = 18,
  /// The step quota of the billing period is used up.
  quota_exhausted = 19,
  /// The component is shutting down.
  shutting_down = 20,
  /// A serving node with this id is live already (another process).
  node_id_in_use = 21,
  /// The database file is damaged (or is not a database): fatal, nothing
  /// is written to it; restore it from a backup.
  store_corrupt = 22,
  /// The disk or the database is full: retriable once space is freed.
  store_full = 23,
  /// The operating system reported an I/O error reading or writing the
  /// database: retriable.
  store_io = 24,
  /// A remote request without a valid API key (missing, malformed,
  /// unknown or revoked): nothing was done.
  unauthenticated = 25,
  /// The key is valid but does not allow this request (another tenant, or
  /// an operator request with a tenant's key): nothing was done.
  forbidden = 26,
  /// A remote node could not be reached, or refused the connection (its TLS
  /// handshake failed).
  node_unreachable = 27,
  /// The API key has as many requests in flight at this node as it may
  /// (`FLOWGATE_MAX_KEY_REQUESTS`): nothing was done; retry when some are
  /// answered.
  too_many_requests = 28,
};

/// Name of the code, e.g. "unknown_tenant".
std::string to_string(errc x);

/// An error without context.
caf::error make_error(errc x);

/// An error whose context says what went wrong, in a sentence.
caf::error make_error(errc x, std::string what);

/// The code of a flowgate error, or `errc::none` for other categories.
errc code_of(const caf::error& e);

/// The sentence of a flowgate error; for other errors a generic rendering.
std::string describe(const caf::error& e);

/// True for errors a caller may retry as they are (busy store, a full
/// disk, an I/O error, timeouts).
bool is_retriable(const caf::error& e);

} // namespace flowgate
