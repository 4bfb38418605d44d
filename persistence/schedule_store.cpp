// Schedules in the run store (persistence/run_store.hpp): put, pause,
// delete and fire, each inside the caller's transaction. A fire locks the
// schedule's row, plans from the row's own next fire time
// (config/schedule.hpp) and moves it in the same transaction, so two nodes
// firing at once fire each time once; the runs' idempotency keys
// (`schedule:<id>:<fire ms>`) make a repeated fire find the same run.

#include "config/billing.hpp"
#include "config/schedule.hpp"
#include "messages/errors.hpp"
#include "persistence/run_store.hpp"

#include <algorithm>

namespace flowgate::run_store {

namespace {

/// The first fire time after `now_ms`, or 0 (paused, or it fires no more).
int64_t first_fire(const schedule_spec& spec, bool paused, int64_t now_ms) {
  return paused ? 0 : next_fire(spec.cron, spec.zone, now_ms).value_or(0);
}

/// Stores `rec` paused or not, firing next from `now_ms`, nothing buffered.
caf::expected<schedule_record> restart(run_backend& b, schedule_record rec,
                                       const schedule_spec& spec, bool paused, int64_t now_ms) {
  rec.paused = paused;
  rec.next_fire_ms = first_fire(spec, paused, now_ms);
  rec.buffered_fire_ms = 0;
  rec.updated_at_ms = now_ms;
  if (auto err = b.put_schedule(rec)) {
    return err;
  }
  return rec;
}

/// Whether the schedule's previous run is unfinished.
caf::expected<bool> previous_unfinished(run_backend& b, int64_t run) {
  if (run <= 0) {
    return false;
  }
  auto r = b.find_run(run);
  if (!r) {
    return r.error();
  }
  return *r && !is_terminal((*r)->status);
}

} // namespace

caf::expected<schedule_record> apply(run_backend& b, const store_schedule& op) {
  const auto& x = op.schedule;
  auto exists = b.tenant_config(x.tenant.value);
  if (!exists) {
    return exists.error();
  }
  if (!*exists) {
    return make_error(errc::unknown_tenant, "tenant '" + x.tenant.value + "' does not exist");
  }
  if (auto err = check_schedule_id(x.id)) {
    return err;
  }
  auto spec = parse_schedule_text(x.document);
  if (!spec) {
    return spec.error();
  }
  auto old = b.find_schedule(x.tenant.value, x.id, true);
  if (!old) {
    return old.error();
  }
  schedule_record rec;
  if (*old) {
    rec = **old;
  } else {
    rec.tenant = x.tenant;
    rec.id = x.id;
    rec.created_at_ms = op.now_ms;
  }
  rec.document = x.document;
  rec.revision += 1;
  return restart(b, std::move(rec), *spec, spec->paused, op.now_ms);
}

caf::expected<int64_t> apply(run_backend& b, const delete_schedule& op) {
  return b.delete_schedule(op.tenant.value, op.id);
}

caf::expected<schedule_record> apply(run_backend& b, const pause_schedule& op) {
  auto row = b.find_schedule(op.tenant.value, op.id, true);
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return unknown_schedule(op.tenant.value, op.id);
  }
  auto rec = **row;
  if (rec.paused == op.paused) {
    return rec;
  }
  auto spec = parse_schedule_text(rec.document);
  if (!spec) {
    return spec.error();
  }
  return restart(b, std::move(rec), *spec, op.paused, op.now_ms);
}

caf::expected<schedule_fired> apply(run_backend& b, const fire_schedule& op) {
  schedule_fired out;
  auto row = b.find_schedule(op.tenant.value, op.id, true);
  if (!row) {
    return row.error();
  }
  if (!*row || (*row)->paused || (*row)->revision != op.revision) {
    out.stale = true;
    if (*row) {
      out.schedule = **row;
    }
    return out;
  }
  auto rec = **row;
  auto spec = parse_schedule_text(rec.document);
  if (!spec) {
    return spec.error();
  }
  auto plan = plan_fires(*spec, rec.next_fire_ms, op.now_ms);
  std::vector<int64_t> candidates;
  if (rec.buffered_fire_ms > 0) {
    candidates.push_back(rec.buffered_fire_ms);
  }
  candidates.insert(candidates.end(), plan.fires.begin(), plan.fires.end());
  if (candidates.empty() && plan.next_fire_ms == rec.next_fire_ms) {
    out.stale = true;
    out.schedule = rec;
    return out;
  }
  std::vector<std::string> notes;
  for (auto t : candidates) {
    bool buffered = t == rec.buffered_fire_ms;
    if (spec->overlap != overlap_policy::allow) {
      auto busy = previous_unfinished(b, rec.last_run);
      if (!busy) {
        return busy.error();
      }
      if (*busy) {
        if (buffered) {
          continue; // still waiting for the previous run
        }
        if (spec->overlap == overlap_policy::buffer_one && rec.buffered_fire_ms == 0) {
          rec.buffered_fire_ms = t;
          notes.push_back("fire " + format_rfc3339(t) + " buffered behind run " +
                          std::to_string(rec.last_run));
        } else {
          ++out.skipped;
          notes.push_back("fire " + format_rfc3339(t) + " skipped: run " +
                          std::to_string(rec.last_run) + " is unfinished");
        }
        rec.last_fire_ms = std::max(rec.last_fire_ms, t);
        continue;
      }
    }
    if (!op.config_error.empty()) {
      if (!buffered) {
        ++out.skipped;
        notes.push_back("fire " + format_rfc3339(t) + " skipped: " + op.config_error);
        rec.last_fire_ms = std::max(rec.last_fire_ms, t);
      }
      continue;
    }
    if (buffered) {
      rec.buffered_fire_ms = 0;
    }
    rec.last_fire_ms = std::max(rec.last_fire_ms, t);
    create_run cr;
    cr.run.tenant = rec.tenant;
    cr.run.queue = queue_name{spec->queue};
    cr.run.config_tenant = rec.tenant;
    cr.run.version = config_version{op.version};
    cr.run.checksum = op.checksum;
    cr.run.input = spec->input;
    cr.run.idempotency_key = schedule_run_key(rec.id, t);
    cr.now_ms = op.now_ms;
    cr.default_limit = op.default_limit;
    auto made = apply(b, cr);
    if (!made) {
      return made.error();
    }
    if (made->rejection != rejection_reason::none) {
      ++out.skipped;
      notes.push_back("fire " + format_rfc3339(t) + " refused: " + made->rejection_message);
      continue;
    }
    rec.last_run = made->run.id.value;
    if (made->created) {
      ++rec.runs_started;
    }
    out.runs.push_back(made->run.id.value);
    notes.push_back("fire " + format_rfc3339(t) + " started run " +
                    std::to_string(made->run.id.value));
  }
  if (plan.dropped > 0) {
    notes.push_back(std::to_string(plan.dropped) + " missed fire time(s) not run (catch_up: " +
                    std::string{to_string(spec->catch_up)} + ")");
  }
  if (plan.fires.empty() && plan.dropped == 0 && plan.next_fire_ms == (*row)->next_fire_ms &&
      out.runs.empty() && rec.buffered_fire_ms == (*row)->buffered_fire_ms) {
    // Only a buffered fire still waiting for the previous run: no change.
    out.stale = true;
    out.schedule = **row;
    return out;
  }
  rec.fires_skipped += out.skipped + plan.dropped;
  rec.next_fire_ms = plan.next_fire_ms;
  if (!notes.empty()) {
    rec.last_outcome.clear();
    for (const auto& n : notes) {
      rec.last_outcome += (rec.last_outcome.empty() ? "" : "; ") + n;
    }
  }
  rec.updated_at_ms = op.now_ms;
  if (auto err = b.put_schedule(rec)) {
    return err;
  }
  out.schedule = std::move(rec);
  return out;
}

} // namespace flowgate::run_store
