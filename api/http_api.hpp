#pragma once

/// The HTTP/JSON API's requests and answers, without the sockets
/// (api/http_server.hpp carries them): one HTTP request in, one response
/// out, by the same gateway requests and keys as the CAF clients. Every
/// call goes to the node's door (actors/gateway_door.hpp) with the key of
/// `Authorization: Bearer KEY`, so the door's rules hold unchanged: no or a
/// bad key is 401, a tenant key may act on its own tenant only (another
/// tenant's name is 403; another tenant's run is 404 like a missing one),
/// operator requests need an operator key. The endpoints are in
/// docs/openapi.yaml and the README:
///
///   GET  /healthz                                        (no key)
///   GET  /metrics                                        Prometheus text
///   POST /v1/runs                                        start
///   GET  /v1/runs?tenant=&status=&after=&limit=          list
///   GET  /v1/runs/{run}                                  status
///   GET  /v1/runs/{run}/history
///   GET  /v1/runs/{run}/wait?timeout_ms=&until=          long poll
///   POST /v1/runs/{run}/signal | cancel | resume
///   GET  /v1/tenants                                     (operator)
///   GET|PUT /v1/tenants/{tenant}
///   GET  /v1/tenants/{tenant}/stats | configs | quota | quota/reconcile
///   GET|POST /v1/tenants/{tenant}/subscriptions
///   PUT|GET /v1/tenants/{tenant}/queues/{queue}/versions/{version}
///   POST /v1/tenants/{tenant}/queues/{queue}/versions/{version}/activate
///   GET  /v1/tenants/{tenant}/queues/{queue}/config      (the runnable one)
///   POST /v1/quota/scan                                  (operator)
///
/// Answers are the CLI's `--json` objects (api/views.hpp). An error is
/// `{"error": {"code": ERRC, "message": SENTENCE}}` with the HTTP status of
/// its code (`status_of`). Request bodies are JSON objects whose fields are
/// checked: an unknown field is a 400 naming it, never ignored.
///
/// `handle_request` blocks the calling thread (one gateway request, or a
/// wait polling the run every 50 ms until its bound or `stopping`); the
/// server runs it off its I/O thread.

#include "api/metrics.hpp"
#include "messages/errors.hpp"
#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <atomic>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace flowgate {

struct http_request {
  std::string method;
  /// Path and query, as sent (`/v1/runs?status=RUNNING`).
  std::string target;
  /// The `Authorization` header.
  std::string authorization;
  /// The `Idempotency-Key` header (a start's body may name one instead).
  std::string idempotency_key;
  std::string body;
};

struct http_response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  /// Extra headers (`Allow`, `Retry-After`, `WWW-Authenticate`).
  std::vector<std::pair<std::string, std::string>> headers;
};

/// What `handle_request` needs besides the request.
struct http_api_setup {
  /// The node's door: checks each request's key.
  gateway_actor door;
  /// Bound of one gateway request.
  int64_t request_timeout_ms = 15'000;
  /// Bound of a `wait` (its `timeout_ms` may not exceed it).
  int64_t max_wait_ms = 300'000;
  /// `GET /metrics` (api/metrics.hpp); none without.
  std::optional<metrics_sources> metrics;
};

/// The HTTP status of an error code: 400 bad input, 401/403 keys, 404
/// missing, 409 conflicts, 413 too large, 429 limits, 503 busy or
/// stopping, 500 for a store failure.
int status_of(errc code);

/// The JSON error response `{"error":{"code","message"}}` with `status`;
/// 401 names the Bearer scheme, 429 and 503 carry `Retry-After`.
http_response error_response(int status, errc code, const std::string& message);

/// The error response for `err`, with the status of its code.
http_response error_response(const caf::error& err);

/// Answers one request. `stopping` ends a wait early (node shutdown) with
/// 503 `shutting_down`.
http_response handle_request(caf::actor_system& sys, const http_api_setup& setup,
                             const http_request& req, const std::atomic<bool>& stopping);

} // namespace flowgate
