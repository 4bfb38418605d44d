#pragma once

/// `quota_accountant`: the node's authority on step quotas.
///
/// Protocol (messages/interfaces.hpp, `quota_accountant_actor`):
/// - `get_atom, tenant` -> `quota_terms`: the tenant's billing period and
///   step limit now (config/billing.hpp: subscription status priority,
///   calendar-month fallback, limit from price > product metadata > tier).
///   Cached per tenant until the period ends or `terms_ttl_ms` passed, so a
///   subscription changed by another process applies within the TTL.
///   Errors: `unknown_tenant`.
/// - `reserve_step` -> `step_reservation`: reserves one attempt under the
///   tenant's terms (the request's period and limit are replaced by them).
///   Reservations are batched: while one batch is in the writer, new ones
///   queue and go as one `reserve_steps` operation when it returns, so the
///   decisions are taken inside the write transaction and the reply comes
///   after commit.
/// - `put_atom, tenant`: the tenant's subscriptions or tier changed; drop
///   its cached terms.
///
/// Orchestrators and the dispatcher ask for terms and put them into the
/// store operation that records an attempt (`append_history`,
/// `create_run`), so an attempt's reservation and its ledger row commit
/// together with the history event (one commit per step, not two).
///
/// Log lines (JSON, with tenant and period): calendar fallback (info),
/// ignored metadata or subscriptions (warn), a standalone reservation
/// granted (debug) or refused (warn).

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

namespace flowgate {

/// How long a driver (an orchestrator, a dispatcher's claim) puts terms
/// the accountant gave into its store operations before asking again: a
/// changed subscription reaches its reservations within this (plus the
/// accountant's own `terms_ttl_ms`).
inline constexpr int64_t terms_max_age_ms = 1'000;

struct accountant_setup {
  store_writer_actor writer;
  store_reader_actor reader;
  int64_t terms_ttl_ms = 10'000;
};

quota_accountant_actor spawn_quota_accountant(caf::actor_system& sys, accountant_setup setup);

/// Log fields naming a tenant and a period (RFC 3339).
std::vector<std::pair<std::string, std::string>> period_fields(const quota_terms& t);

} // namespace flowgate
