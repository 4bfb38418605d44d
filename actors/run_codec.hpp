#pragma once

/// The one codec between what the store keeps of a run and what the engine
/// works with: stored history records <-> engine events, and a planned step
/// commit (engine/planner.hpp) -> the store's append operation parts. Used
/// by every driver of a run (the dispatcher's first step, orchestrators)
/// and by replay, so they read and write histories identically.

#include "engine/history.hpp"
#include "engine/planner.hpp"
#include "messages/run_messages.hpp"

#include <caf/expected.hpp>

#include <vector>

namespace flowgate {

/// A stored event for the engine. Errors: `nondeterminism` for a type this
/// engine does not know, `store_failure` for an unreadable payload.
[[nodiscard]] caf::expected<engine::event> from_record(const history_record& r);

/// A stored history for the engine (the first error stops it).
[[nodiscard]] caf::expected<std::vector<engine::event>>
from_records(const std::vector<history_record>& records);

/// An engine event as stored (`created_at_ms` is stamped by the store).
history_record to_record(const engine::event& e);

/// A planned ledger change as the store's operation carries it.
step_change to_step_change(const engine::ledger_change& c);

/// A planned run transition as the store's operation carries it.
run_change to_run_change(const engine::run_transition& t);

/// The planned events and ledger changes of a step commit.
std::vector<history_record> to_records(const std::vector<engine::event>& events);
std::vector<step_change> to_step_changes(const std::vector<engine::ledger_change>& changes);

} // namespace flowgate
