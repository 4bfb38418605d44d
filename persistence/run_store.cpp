// The run store's semantics (see run_store.hpp), in the order of a run's
// life: admission and creation, claims, leases and membership, appends
// (with the quota cut and the inbox), signals and cancels, quota.

#include "persistence/run_store.hpp"

#include "config/json_text.hpp"
#include "config/pipeline_parser.hpp"
#include "config/tenant_config.hpp"
#include "messages/errors.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <iterator>
#include <limits>
#include <set>
#include <string_view>
#include <unordered_map>

namespace flowgate::run_store {

namespace {

namespace json = boost::json;

constexpr int64_t never_ms = std::numeric_limits<int64_t>::max();

/// The run by id (any tenant); `not_found` if it does not exist.
caf::expected<run_record> run_by_id(run_backend& b, int64_t id) {
  auto r = b.find_run(id);
  if (!r) {
    return r.error();
  }
  if (!*r) {
    return make_error(errc::not_found, "run " + std::to_string(id) + " does not exist");
  }
  return std::move(**r);
}

/// The run if it exists and belongs to `tenant` (any tenant if empty).
caf::expected<run_record> tenant_run(run_backend& b, const tenant_id& tenant, const run_id& run) {
  auto r = run_by_id(b, run.value);
  if (!r || tenant.value.empty() || r->tenant == tenant) {
    return r;
  }
  // Another tenant's run is reported exactly like a missing one (same code,
  // same sentence): a tenant cannot tell which ids exist.
  return make_error(errc::not_found, "run " + std::to_string(run.value) + " does not exist");
}

/// The tenant's terms; `unknown_tenant` if it does not exist.
caf::expected<tenant_terms> terms_of_tenant(run_backend& b, const std::string& tenant,
                                            int64_t default_limit, std::string& config_text) {
  auto text = b.tenant_config(tenant);
  if (!text) {
    return text.error();
  }
  if (!*text) {
    return make_error(errc::unknown_tenant, "tenant '" + tenant + "' does not exist");
  }
  config_text = std::move(**text);
  return terms_of(tenant, config_text, default_limit);
}

/// Whether a start of `r`'s pipeline is subject to the tenant's soft and
/// hard active-run limits: its features include "quota" (a document
/// without `features` has it; config/pipeline.hpp). Decided from the
/// stored document, cached by checksum (a version's document never
/// changes); a version that is not stored is subject to them.
caf::expected<bool> under_active_run_limits(run_backend& b, const run_record& r) {
  thread_local std::unordered_map<std::string, bool> by_checksum;
  if (auto it = by_checksum.find(r.checksum); it != by_checksum.end() && !r.checksum.empty()) {
    return it->second;
  }
  auto doc = b.pipeline_document(r.config_tenant.value, r.queue.value, r.version.value);
  if (!doc) {
    return doc.error();
  }
  bool subject = true;
  if (*doc) {
    // Validated when it was stored, under the node's document limit then.
    pipeline_limits stored;
    stored.max_document_bytes = std::numeric_limits<size_t>::max();
    auto parsed = parse_pipeline_text(**doc, r.version.value, stored);
    if (!parsed) {
      return parsed.error();
    }
    subject = parsed->definition.has_feature("quota");
  }
  if (by_checksum.size() >= 4096) {
    by_checksum.clear(); // bounded: the versions recently started stay warm
  }
  by_checksum[r.checksum] = subject;
  return subject;
}

/// Writes the heartbeat of (owner, incarnation); `lease_lost` if that
/// registration is no longer live (stopped, or its id taken by a newer
/// process). Incarnation 0 (an unregistered caller) writes nothing.
caf::error beat_or_fence(run_backend& b, const node_id& owner, int64_t incarnation, int64_t now_ms,
                         const char* consequence) {
  if (incarnation <= 0) {
    return {};
  }
  auto beat = b.heartbeat(owner.value, incarnation, now_ms);
  if (!beat) {
    return beat.error();
  }
  if (!*beat) {
    return make_error(errc::lease_lost, "node '" + owner.value + "' incarnation " +
                                          std::to_string(incarnation) +
                                          " is no longer registered (stopped, or its id was "
                                          "taken by a newer process): " +
                                          consequence);
  }
  return {};
}

/// Counts a refused start and answers it (the caller turns it into an error).
caf::expected<run_created> refuse(run_backend& b, const std::string& tenant,
                                  rejection_reason reason, std::string message, int64_t now_ms) {
  if (auto err = b.count_refusal(tenant, reason, now_ms)) {
    return err;
  }
  run_created out;
  out.rejection = reason;
  out.rejection_message = std::move(message);
  return out;
}

/// Whether the ownership lease `o` leaves the tenant's admissions to
/// another node: it is live, not (owner, incarnation)'s, and its owner
/// has claimed within the grace (it is polling and has room; an owner
/// that is full or idle leaves them to any node, so no permit stays
/// unused).
bool owns_elsewhere(const tenant_owner_row& o, const std::string& owner, int64_t incarnation,
                    int64_t now_ms, int64_t grace_ms) {
  return o.expires_at_ms > now_ms && !(o.owner == owner && o.incarnation == incarnation) &&
         o.owner_claimed_at_ms >= now_ms - grace_ms && o.owner_room > 0;
}

/// The highest number of active runs the soft limit allows: soft + 5%.
int64_t soft_cap(int64_t soft) {
  return soft + soft * 5 / 100;
}

caf::error check_unfinished(const run_record& r, const char* what) {
  if (is_terminal(r.status)) {
    return make_error(errc::run_finished, "run " + std::to_string(r.id.value) + " is " +
                                            to_string(r.status) + "; " + what +
                                            " only apply to unfinished runs");
  }
  return {};
}

reserve_step reservation_of(const quota_terms& q, const tenant_id& tenant, int64_t run,
                            const step_change& s, int64_t now_ms) {
  return reserve_step{tenant,          run_id{run}, s.step_path, s.attempt, q.period_start_ms,
                      q.period_end_ms, q.limit,     now_ms};
}

quota_exhausted exhausted_of(const reserve_step& r, const step_reservation& out) {
  return quota_exhausted{
    r.tenant, r.run, r.step_path, out.used, out.limit, out.period_start_ms, out.period_end_ms};
}

/// Moves the run's unconsumed inbox into its history from `seq` on.
caf::expected<std::vector<history_record>>
take_inbox(run_backend& b, int64_t run, const std::string& tenant, int64_t seq, int64_t now_ms) {
  auto entries = b.inbox(run);
  if (!entries) {
    return entries.error();
  }
  std::vector<history_record> out;
  for (auto& e : *entries) {
    history_record h;
    h.seq = seq++;
    h.created_at_ms = now_ms;
    if (e.kind == "cancel") {
      h.type = "run_canceled";
      h.payload = json::serialize(json::object{{"reason", e.payload}});
    } else {
      h.type = "signal_received";
      boost::system::error_code ec;
      auto payload = parse_json(e.payload, ec);
      h.payload = json::serialize(json::object{{"event", e.event}, {"payload", payload}});
    }
    if (auto err = b.insert_event(run, tenant, h, now_ms)) {
      return err;
    }
    if (auto err = b.consume_inbox_entry(e.id, h.seq)) {
      return err;
    }
    out.push_back(std::move(h));
  }
  return out;
}

/// Why an append's fenced update matched no row.
caf::error refused_append(run_backend& b, const append_history& op) {
  auto r = run_by_id(b, op.run.value);
  if (!r) {
    return r.error();
  }
  if (r->lease_owner != op.owner.value || r->epoch != op.epoch ||
      r->lease_incarnation != op.incarnation || r->status != run_status::running) {
    return make_error(
      errc::lease_lost,
      "run " + std::to_string(op.run.value) + ": node '" + op.owner.value + "' (incarnation " +
        std::to_string(op.incarnation) + ") writes under lease epoch " + std::to_string(op.epoch) +
        ", but the run is " + to_string(r->status) + " with lease epoch " +
        std::to_string(r->epoch) +
        (r->lease_owner.empty() ? std::string{" and no owner"}
                                : " held by '" + r->lease_owner + "' (incarnation " +
                                    std::to_string(r->lease_incarnation) + ")"));
  }
  if (r->lease_expires_at_ms == 0) {
    return make_error(errc::lease_lost,
                      "run " + std::to_string(op.run.value) + ": node '" + op.owner.value +
                        "' (incarnation " + std::to_string(op.incarnation) +
                        ") writes under lease epoch " + std::to_string(op.epoch) +
                        ", but that lease expired and was revoked when its permit was counted "
                        "free");
  }
  if (r->lease_expires_at_ms <= op.now_ms) {
    // The holder's lease ran out (it stalled, or could not renew in time):
    // its permit may already be another run's, so its work is not recorded.
    return make_error(errc::lease_lost,
                      "run " + std::to_string(op.run.value) + ": node '" + op.owner.value +
                        "' (incarnation " + std::to_string(op.incarnation) +
                        ") writes under lease epoch " + std::to_string(op.epoch) +
                        ", but that lease expired at " + std::to_string(r->lease_expires_at_ms) +
                        " (now " + std::to_string(op.now_ms) + ")");
  }
  return make_error(errc::store_failure, "run " + std::to_string(op.run.value) +
                                           ": history is at sequence " +
                                           std::to_string(r->next_seq) + ", the writer expected " +
                                           std::to_string(op.expected_seq));
}

} // namespace

caf::expected<tenant_terms> terms_of(const std::string& tenant, const std::string& text,
                                     int64_t default_limit) {
  struct cached {
    std::string text;
    tenant_config config;
  };
  thread_local std::unordered_map<std::string, cached> cache;
  auto it = cache.find(tenant);
  if (it == cache.end() || it->second.text != text) {
    auto parsed = parse_tenant_config_text(text, tenant);
    if (!parsed) {
      return make_error(errc::invalid_config,
                        "tenant '" + tenant + "': stored config: " + describe(parsed.error()));
    }
    if (cache.size() > 100'000) {
      cache.clear();
    }
    it = cache.insert_or_assign(tenant, cached{text, std::move(parsed->config)}).first;
  }
  const auto& c = it->second.config;
  tenant_terms out;
  out.max_running = c.max_concurrent_runs < 0 ? default_limit : c.max_concurrent_runs;
  out.reject = c.admission == admission_mode::reject;
  out.soft = c.soft_limit;
  out.hard = c.hard_limit;
  out.deadline_ms = c.admission_deadline_ms;
  out.weight = std::max<int64_t>(1, c.weight);
  return out;
}

// -- admission and creation --------------------------------------------------------

namespace {

/// The run as `insert_run` stored it (what reading it back would give:
/// the tests compare the two on both backends), without reading it back.
run_record stored_run(const new_run_row& row, int64_t id) {
  run_record out;
  const auto& r = row.run;
  out.id = run_id{id};
  out.tenant = r.tenant;
  out.queue = r.queue;
  out.config_tenant = r.config_tenant;
  out.version = r.version;
  out.checksum = r.checksum;
  out.status = row.status;
  out.node_path = row.node_path;
  out.input = r.input;
  out.idempotency_key = r.idempotency_key;
  out.next_seq = row.next_seq;
  out.wake_at_ms = row.wake_at_ms;
  out.lease_owner = row.lease_owner;
  out.lease_expires_at_ms = row.lease_expires_at_ms;
  out.epoch = row.lease_epoch;
  out.lease_incarnation = row.lease_incarnation;
  out.created_at_ms = row.now_ms;
  out.updated_at_ms = row.now_ms;
  out.started_at_ms = row.started_at_ms;
  return out;
}

/// A queued run's first decision as kept on its row (`first_plan`):
/// {"events": [{"type", "node_path", "attempt", "payload" (JSON text)}],
///  "steps": [{"step_path", "attempt", "status", "scheduled_by"}]}.
/// Event numbers are implied (from 2), times are the claim's.
std::string encode_first_plan(const std::vector<history_record>& events,
                              const std::vector<step_change>& steps) {
  json::array e;
  for (const auto& x : events) {
    e.push_back(json::object{{"type", x.type},
                             {"node_path", x.node_path},
                             {"attempt", x.attempt},
                             {"payload", x.payload}});
  }
  json::array st;
  for (const auto& x : steps) {
    st.push_back(json::object{{"step_path", x.step_path},
                              {"attempt", x.attempt},
                              {"status", to_string(x.status)},
                              {"scheduled_by", x.scheduled_by}});
  }
  return json::serialize(json::object{{"events", std::move(e)}, {"steps", std::move(st)}});
}

/// The decision `encode_first_plan` kept; nullopt if the text is not one
/// (then the run is claimed as if none was kept: its driver decides again).
struct first_plan {
  std::vector<history_record> events;
  std::vector<step_change> steps;
};

std::optional<first_plan> decode_first_plan(const std::string& text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_object()) {
    return std::nullopt;
  }
  const auto& o = v.get_object();
  const auto* events = o.if_contains("events");
  const auto* steps = o.if_contains("steps");
  if (events == nullptr || steps == nullptr || !events->is_array() || !steps->is_array()) {
    return std::nullopt;
  }
  auto text_of = [](const json::object& x, std::string_view key, std::string& out) {
    const auto* f = x.if_contains(key);
    if (f == nullptr || !f->is_string()) {
      return false;
    }
    out = std::string{f->get_string()};
    return true;
  };
  auto int_of = [](const json::object& x, std::string_view key, int32_t& out) {
    const auto* f = x.if_contains(key);
    if (f == nullptr || !f->is_int64()) {
      return false;
    }
    out = static_cast<int32_t>(f->get_int64());
    return true;
  };
  first_plan out;
  int64_t seq = 2;
  for (const auto& x : events->get_array()) {
    if (!x.is_object()) {
      return std::nullopt;
    }
    history_record h;
    h.seq = seq++;
    const auto& e = x.get_object();
    if (!text_of(e, "type", h.type) || !text_of(e, "node_path", h.node_path) ||
        !int_of(e, "attempt", h.attempt) || !text_of(e, "payload", h.payload)) {
      return std::nullopt;
    }
    out.events.push_back(std::move(h));
  }
  for (const auto& x : steps->get_array()) {
    if (!x.is_object()) {
      return std::nullopt;
    }
    step_change c;
    std::string status;
    const auto& e = x.get_object();
    if (!text_of(e, "step_path", c.step_path) || !int_of(e, "attempt", c.attempt) ||
        !text_of(e, "status", status) || !int_of(e, "scheduled_by", c.scheduled_by)) {
      return std::nullopt;
    }
    auto parsed = from_string<step_status>(status);
    if (!parsed) {
      return std::nullopt;
    }
    c.status = *parsed;
    out.steps.push_back(std::move(c));
  }
  if (out.events.empty()) {
    return std::nullopt;
  }
  return out;
}

} // namespace

caf::expected<run_created> apply(run_backend& b, const create_run& op) {
  const auto& r = op.run;
  auto started_steps =
    std::count_if(op.first_steps.begin(), op.first_steps.end(),
                  [](const step_change& s) { return s.status == step_status::started; });
  if (started_steps > 1 || op.first_steps.size() != static_cast<size_t>(started_steps) ||
      (op.first_events.empty() && !op.first_steps.empty())) {
    return make_error(errc::invalid_argument,
                      "the first decision of a new run starts at most one attempt and "
                      "finishes none (engine::first_step_plan)");
  }
  for (size_t i = 0; i < op.first_events.size(); ++i) {
    if (op.first_events[i].seq != 2 + static_cast<int64_t>(i)) {
      return make_error(errc::invalid_argument, "first events of a new run must be numbered "
                                                "from 2 without gaps");
    }
  }
  int32_t depth = 0;
  if (op.parent_run > 0) {
    // One child per parent attempt: asking again finds it.
    auto existing = b.find_child(op.parent_run, op.parent_node_path);
    if (!existing) {
      return existing.error();
    }
    if (*existing && (*existing)->parent_attempt == op.parent_attempt) {
      auto found = run_by_id(b, (*existing)->run);
      if (!found) {
        return found.error();
      }
      return run_created{std::move(*found), false, {}, {}, 0, {}, {}};
    }
    auto parent = b.lineage(op.parent_run);
    if (!parent) {
      return parent.error();
    }
    if (!*parent) {
      return make_error(errc::not_found,
                        "parent run " + std::to_string(op.parent_run) + " does not exist");
    }
    depth = (*parent)->depth + 1;
    if (depth > op.max_child_depth) {
      return make_error(errc::invalid_argument,
                        "a child run of run " + std::to_string(op.parent_run) + " would be " +
                          std::to_string(depth) + " levels deep; the limit is " +
                          std::to_string(op.max_child_depth));
    }
  }
  if (!r.idempotency_key.empty()) {
    auto existing = b.find_run_by_key(r.tenant.value, r.idempotency_key);
    if (!existing) {
      return existing.error();
    }
    if (*existing) {
      return run_created{std::move(**existing), false, {}, {}, 0, {}, {}};
    }
  }
  std::string config_text;
  auto terms = terms_of_tenant(b, r.tenant.value, op.default_limit, config_text);
  if (!terms) {
    return terms.error();
  }
  if (auto err = b.lock_tenant(r.tenant.value)) {
    return err;
  }
  bool active_limits = terms->soft > 0 || terms->hard > 0;
  if (active_limits) {
    auto subject = under_active_run_limits(b, r);
    if (!subject) {
      return subject.error();
    }
    active_limits = *subject;
  }
  if (active_limits) {
    auto active = b.count_active(r.tenant.value);
    if (!active) {
      return active.error();
    }
    auto n = *active;
    if (terms->hard > 0 && n >= terms->hard) {
      return refuse(b, r.tenant.value, rejection_reason::hard_limit,
                    "tenant '" + r.tenant.value + "' has " + std::to_string(n) +
                      " active runs, at its hard limit of " + std::to_string(terms->hard),
                    op.now_ms);
    }
    if (terms->soft > 0 && n >= soft_cap(terms->soft)) {
      return refuse(b, r.tenant.value, rejection_reason::soft_limit,
                    "tenant '" + r.tenant.value + "' has " + std::to_string(n) +
                      " active runs, at its soft limit of " + std::to_string(terms->soft) +
                      " plus the 5% burst (" + std::to_string(soft_cap(terms->soft)) + ")",
                    op.now_ms);
    }
  }
  bool at_limit = false;
  if (terms->max_running > 0) {
    auto live = b.count_live_running(r.tenant.value, op.now_ms);
    if (!live) {
      return live.error();
    }
    at_limit = *live >= terms->max_running;
    if (at_limit && terms->reject) {
      return refuse(b, r.tenant.value, rejection_reason::tenant_at_limit,
                    "tenant '" + r.tenant.value + "' is running " + std::to_string(*live) +
                      " of its " + std::to_string(terms->max_running) +
                      " concurrent runs and its admission mode is 'reject'",
                    op.now_ms);
    }
  }
  // Another live node that is claiming owns the tenant: it admits the run.
  std::string owner_elsewhere;
  if (!op.owner.value.empty() && !at_limit && terms->max_running > 0) {
    auto owner = b.tenant_owner(r.tenant.value);
    if (!owner) {
      return owner.error();
    }
    if (*owner &&
        owns_elsewhere(**owner, op.owner.value, op.incarnation, op.now_ms, op.spread_grace_ms)) {
      owner_elsewhere = (*owner)->owner;
    }
  }
  // At its limit, a run waits PENDING (unclaimed) for a permit.
  bool claimed = !op.owner.value.empty() && !at_limit && owner_elsewhere.empty();
  // A claim is a heartbeat (no lease outlives its holder's liveness); a
  // stale incarnation claims nothing: the run waits PENDING for a live node.
  if (claimed && op.incarnation > 0) {
    auto beat = b.heartbeat(op.owner.value, op.incarnation, op.now_ms);
    if (!beat) {
      return beat.error();
    }
    claimed = *beat;
  }
  // This run takes the creator's last free slot: until its next claim, an
  // owner elsewhere leaves its tenants to the other nodes (as above).
  if (claimed && op.incarnation > 0 && op.room == 1) {
    if (auto err = b.mark_claimed(op.owner.value, op.incarnation, op.now_ms, 0)) {
      return err;
    }
  }
  static const std::vector<history_record> no_events;
  static const std::vector<step_change> no_steps;
  const auto& first_events = claimed ? op.first_events : no_events;
  const auto& first_steps = claimed ? op.first_steps : no_steps;
  // The lease's length is the caller's, its start the store's clock.
  auto expires = op.now_ms + op.lease_ttl_ms;
  new_run_row row;
  row.run = r;
  row.status = claimed ? run_status::running : run_status::pending;
  row.next_seq = 2 + static_cast<int64_t>(first_events.size());
  row.wake_at_ms = claimed ? expires : op.now_ms;
  row.lease_owner = claimed ? op.owner.value : std::string{};
  row.lease_incarnation = claimed ? op.incarnation : 0;
  row.lease_expires_at_ms = claimed ? expires : 0;
  row.lease_epoch = claimed ? 1 : 0;
  row.node_path = first_events.empty() ? std::string{} : first_events.back().node_path;
  row.now_ms = op.now_ms;
  row.started_at_ms = claimed ? op.now_ms : 0;
  row.parent_run = op.parent_run;
  row.parent_node_path = op.parent_node_path;
  row.parent_attempt = op.parent_attempt;
  row.child_depth = depth;
  if (!claimed && !op.first_events.empty()) {
    // Recorded by the claim that gives the run its first lease.
    row.first_plan = encode_first_plan(op.first_events, op.first_steps);
  }
  auto id = b.insert_run(row);
  if (!id) {
    return id.error();
  }
  if (op.parent_run > 0) {
    if (auto err = b.mark_has_children(op.parent_run)) {
      return err;
    }
  }
  history_record started{1, "run_started", "", 0, r.input, op.now_ms};
  // The first attempt is reserved before its event is written: without
  // quota the run is created paused on quota at that step instead.
  for (const auto& s : first_steps) {
    if (s.status != step_status::started) {
      continue;
    }
    auto want = reservation_of(op.quota, r.tenant, *id, s, op.now_ms);
    // (A granted reservation's count is not used here: not read back.)
    auto got = reserve(b, want, op.owner.value, 1, false);
    if (!got) {
      return got.error();
    }
    if (!got->granted) {
      if (auto err = b.insert_event(*id, r.tenant.value, started, op.now_ms)) {
        return err;
      }
      if (auto err = b.pause_new_run(*id, s.step_path, never_ms)) {
        return err;
      }
      if (auto err = b.open_wait(*id, r.tenant.value, wait_reason::quota, s.step_path, "", never_ms,
                                 op.now_ms)) {
        return err;
      }
      auto stored = run_by_id(b, *id);
      if (!stored) {
        return stored.error();
      }
      return run_created{std::move(*stored), true, {}, {}, 0, {}, {}};
    }
  }
  std::vector<history_record> events;
  events.reserve(1 + first_events.size());
  events.push_back(std::move(started));
  events.insert(events.end(), first_events.begin(), first_events.end());
  if (auto err = b.insert_events(*id, r.tenant.value, events, op.now_ms)) {
    return err;
  }
  bool queued = (at_limit || !owner_elsewhere.empty()) && !op.owner.value.empty();
  return run_created{stored_run(row, *id),
                     true,
                     {},
                     {},
                     queued ? terms->deadline_ms : 0,
                     std::move(owner_elsewhere),
                     claimed ? std::move(config_text) : std::string{}};
}

// -- claims ------------------------------------------------------------------------

namespace {

/// Claim classes in claim order (docs/run-model.md): a RUNNING run without
/// a live lease was taken over from a dead owner or handed back; a due
/// WAITING run was woken or resumed; a PENDING run is new.
const run_status claim_classes[] = {run_status::running, run_status::waiting, run_status::pending};

/// Where the claiming node stands among the live serving nodes.
struct node_rank {
  /// Live serving nodes (at least 1).
  int64_t live = 1;
  /// The claimer's position among them by id; -1 if it is not registered
  /// (then it takes no share limit).
  int64_t index = -1;
  /// Per live node: it claimed within the spread grace (it is polling and
  /// has room), so it takes its own share.
  std::vector<bool> active;
};

/// Ranks the claimer among the live nodes.
caf::expected<node_rank> rank_of(run_backend& b, const claim_runs& op) {
  auto nodes = b.live_nodes(op.now_ms);
  if (!nodes) {
    return nodes.error();
  }
  node_rank out;
  out.live = std::max<int64_t>(1, static_cast<int64_t>(nodes->size()));
  for (size_t i = 0; i < nodes->size(); ++i) {
    const auto& n = (*nodes)[i];
    if (n.node == op.owner.value && n.incarnation == op.incarnation) {
      out.index = static_cast<int64_t>(i);
    }
    out.active.push_back(n.claimed_at_ms >= op.now_ms - op.spread_grace_ms);
  }
  return out;
}

/// One tenant's turn in a claim.
struct claim_slot {
  std::string tenant;
  std::string config_text;
  bool resolved = false;
  int64_t weight = 1;
  /// Permits this claim may still take for the tenant; -1 = unlimited.
  int64_t budget = -1;
  /// Of those, within this node's share; -1 = no share limit.
  int64_t share = -1;
  /// Per class: no due run left.
  bool drained[std::size(claim_classes)] = {};
  /// Another transaction held the tenant's lock: this claim takes nothing
  /// of it (a targeted claim tells the other nodes).
  bool busy = false;
  /// Another live, claiming node owns the tenant: this claim takes nothing
  /// of it (a targeted claim tells the owner).
  bool owned_elsewhere = false;
};

/// Resolves a slot's weight and budget: the tenant's limit less its live
/// runs (every process); and this node's share of the limit less what this
/// node holds of it. Shares: limit / live nodes each, and the remainder to
/// nodes chosen by rotation (by tenant and by second), so over time every
/// node gets its part even when the limit is below the node count. Beyond
/// its share a node takes runs only while no other node with a share is
/// claiming (idle or full), so no permit stays unused.
caf::error resolve_slot(run_backend& b, const claim_runs& op, const node_rank& rank,
                        claim_slot& slot) {
  slot.resolved = true;
  auto terms = terms_of(slot.tenant, slot.config_text, op.default_limit);
  if (!terms) {
    return terms.error();
  }
  slot.weight = terms->weight;
  if (terms->max_running <= 0) {
    return {};
  }
  // Tenant ownership: the owner admits the tenant's runs, all of its limit.
  auto owner = b.tenant_owner(slot.tenant);
  if (!owner) {
    return owner.error();
  }
  bool mine = false;
  if (*owner) {
    const auto& o = **owner;
    if (owns_elsewhere(o, op.owner.value, op.incarnation, op.now_ms, op.spread_grace_ms)) {
      slot.owned_elsewhere = true;
      slot.budget = 0;
      return {};
    }
    mine =
      o.expires_at_ms > op.now_ms && o.owner == op.owner.value && o.incarnation == op.incarnation;
  }
  auto locked = b.try_lock_tenant(slot.tenant);
  if (!locked) {
    return locked.error();
  }
  if (!*locked) {
    slot.busy = true;
    slot.budget = 0;
    return {};
  }
  auto live = b.count_live_running(slot.tenant, op.now_ms);
  if (!live) {
    return live.error();
  }
  slot.budget = std::max<int64_t>(0, terms->max_running - *live);
  if (rank.live > 1 && rank.index >= 0 && slot.budget > 0 && !mine) {
    auto limit = terms->max_running;
    auto turn =
      static_cast<int64_t>(std::hash<std::string>{}(slot.tenant) % 1'000'003) + op.now_ms / 1000;
    auto share_of = [&](int64_t index) {
      return limit / rank.live + ((index + turn) % rank.live < limit % rank.live ? 1 : 0);
    };
    auto others_claiming = false;
    for (int64_t i = 0; i < static_cast<int64_t>(rank.active.size()); ++i) {
      others_claiming = others_claiming || (i != rank.index && rank.active[i] && share_of(i) > 0);
    }
    if (!others_claiming) {
      return {};
    }
    auto held = b.count_held(slot.tenant, op.owner.value, op.incarnation, op.now_ms);
    if (!held) {
      return held.error();
    }
    slot.share = std::max<int64_t>(0, share_of(rank.index) - *held);
  }
  return {};
}

/// Whether the tenant has a due run of any claim class.
caf::expected<bool> any_due(run_backend& b, const std::string& tenant, int64_t now_ms) {
  for (auto cls : claim_classes) {
    auto due = b.due_runs(tenant, cls, now_ms, 1);
    if (!due) {
      return due.error();
    }
    if (!due->empty()) {
      return true;
    }
  }
  return false;
}

/// Rendezvous weight of (tenant, node): of the candidate nodes, the one
/// with the highest weight owns the tenant. Every node computes the same
/// owner from the same `nodes` rows, and a node that joins or leaves moves
/// only the tenants whose highest weight is its own. FNV-1a, then the
/// splitmix64 finalizer to spread similar ids.
uint64_t rendezvous_weight(const std::string& tenant, const std::string& node) {
  uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](unsigned char c) {
    h ^= c;
    h *= 1099511628211ULL;
  };
  for (char c : tenant) {
    mix(static_cast<unsigned char>(c));
  }
  mix(0);
  for (char c : node) {
    mix(static_cast<unsigned char>(c));
  }
  h ^= h >> 30;
  h *= 0xbf58476d1ce4e5b9ULL;
  h ^= h >> 27;
  h *= 0x94d049bb133111ebULL;
  h ^= h >> 31;
  return h;
}

/// Settles this node's tenant ownerships in its renewal (see
/// `renew_leases`).
caf::error settle_tenant_owners(run_backend& b, const renew_leases& op) {
  const auto& me = op.owner.value;
  auto expires = op.now_ms + op.lease_ttl_ms;
  if (auto renewed = b.renew_tenants(me, op.incarnation, op.now_ms, expires); !renewed) {
    return renewed.error();
  }
  auto nodes = b.live_nodes(op.now_ms);
  if (!nodes) {
    return nodes.error();
  }
  std::vector<std::string> candidates;
  bool listening = false;
  for (const auto& n : *nodes) {
    if (n.address.empty()) {
      continue;
    }
    candidates.push_back(n.node);
    listening = listening || (n.node == me && n.incarnation == op.incarnation);
  }
  if (!listening) {
    // No other node can reach this one: it owns nothing.
    auto released = b.release_tenants(me, op.incarnation, "");
    return released ? caf::error{} : released.error();
  }
  auto rows = b.tenant_owners();
  if (!rows) {
    return rows.error();
  }
  // In this process's order (a server's collation may differ).
  std::sort(rows->begin(), rows->end(), [](const tenant_owner_row& x, const tenant_owner_row& y) {
    return x.tenant < y.tenant;
  });
  auto tenants = b.tenant_configs();
  if (!tenants) {
    return tenants.error();
  }
  for (const auto& [tenant, text] : *tenants) {
    auto row = std::lower_bound(
      rows->begin(), rows->end(), tenant,
      [](const tenant_owner_row& r, const std::string& t) { return r.tenant < t; });
    bool mine = row != rows->end() && row->tenant == tenant && row->owner == me &&
                row->incarnation == op.incarnation && row->expires_at_ms > op.now_ms;
    auto terms = terms_of(tenant, text, op.default_limit);
    bool limited = terms && terms->max_running > 0;
    std::string best;
    uint64_t best_weight = 0;
    for (const auto& n : candidates) {
      auto w = rendezvous_weight(tenant, n);
      if (best.empty() || w > best_weight || (w == best_weight && n < best)) {
        best = n;
        best_weight = w;
      }
    }
    if (limited && best == me) {
      if (!mine) {
        // Free (never taken, given up or expired) or still another's: in
        // that case the owner gives it up at its renewal, and this one
        // takes it at the next.
        if (auto took = b.take_tenant(tenant, me, op.incarnation, op.now_ms, expires); !took) {
          return took.error();
        }
      }
    } else if (mine) {
      if (auto released = b.release_tenants(me, op.incarnation, tenant); !released) {
        return released.error();
      }
    }
  }
  return {};
}

enum class first_outcome { none, recorded, paused };

/// A claimed run's kept first decision (`claim_runs`): recorded as the
/// append its driver would make at epoch 1 (the attempt reserved under the
/// claimer's terms for the tenant), if the history is still only
/// `run_started`, the inbox is empty and the terms cover the store's clock.
caf::expected<first_outcome> record_first_plan(run_backend& b, const claim_runs& op, claimed_run& c,
                                               runs_claimed& out) {
  if (c.run.next_seq != 2 || c.first_plan.empty() || c.inbox_pending) {
    return first_outcome::none;
  }
  auto terms = std::find_if(op.quotas.begin(), op.quotas.end(), [&](const quota_terms& q) {
    return q.tenant == c.run.tenant && q.period_start_ms <= op.now_ms &&
           op.now_ms < q.period_end_ms;
  });
  if (terms == op.quotas.end()) {
    return first_outcome::none;
  }
  auto plan = decode_first_plan(c.first_plan);
  if (!plan) {
    return first_outcome::none;
  }
  append_history a;
  a.run = c.run.id;
  a.tenant = c.run.tenant;
  a.owner = op.owner;
  a.incarnation = op.incarnation;
  a.epoch = c.run.epoch;
  a.expected_seq = 2;
  a.events = std::move(plan->events);
  a.steps = std::move(plan->steps);
  a.change.status = run_status::running;
  a.change.node_path = a.events.back().node_path;
  a.now_ms = op.now_ms;
  a.quota = *terms;
  auto appended = apply(b, a);
  if (!appended) {
    return appended.error();
  }
  if (appended->quota_paused) {
    out.quota_paused.push_back(appended->exhausted);
    return first_outcome::paused;
  }
  c.run.next_seq = appended->next_seq;
  c.run.node_path = a.change.node_path;
  c.run.updated_at_ms = op.now_ms;
  out.first_recorded.push_back(c.run.id);
  return first_outcome::recorded;
}

} // namespace

caf::expected<runs_claimed> apply(run_backend& b, const claim_runs& op) {
  runs_claimed out;
  // A claim is a heartbeat, so no lease it takes outlives the claimer's
  // liveness; a stale incarnation (stopped, or its id taken) claims nothing.
  if (auto err = beat_or_fence(b, op.owner, op.incarnation, op.now_ms, "it claims nothing")) {
    return err;
  }
  if (op.max_runs <= 0) {
    // The claimer takes nothing more (it drains): its registration shows
    // no claim and no room, so the other nodes' claims take its tenants'
    // runs, and all of their limits, without waiting for it.
    if (auto err = b.mark_claimed(op.owner.value, op.incarnation, 0, 0)) {
      return err;
    }
    return out;
  }
  // The tenants in round-robin order, starting after the cursor.
  std::vector<claim_slot> slots;
  {
    auto add = [&](std::string id, std::string text) {
      claim_slot slot;
      slot.tenant = std::move(id);
      slot.config_text = std::move(text);
      slots.push_back(std::move(slot));
    };
    if (op.tenants.empty()) {
      auto tenants = b.tenant_configs();
      if (!tenants) {
        return tenants.error();
      }
      for (auto& [id, text] : *tenants) {
        add(std::move(id), std::move(text));
      }
    } else {
      // Targeted (a permit of these tenants just freed): only their rows.
      for (const auto& t : op.tenants) {
        auto text = b.tenant_config(t.value);
        if (!text) {
          return text.error();
        }
        if (*text) {
          add(t.value, std::move(**text));
        }
      }
      std::sort(slots.begin(), slots.end(),
                [](const claim_slot& x, const claim_slot& y) { return x.tenant < y.tenant; });
      slots.erase(
        std::unique(slots.begin(), slots.end(),
                    [](const claim_slot& x, const claim_slot& y) { return x.tenant == y.tenant; }),
        slots.end());
    }
  }
  auto first = std::upper_bound(
    slots.begin(), slots.end(), op.after_tenant.value,
    [](const std::string& after, const claim_slot& slot) { return after < slot.tenant; });
  std::rotate(slots.begin(), first, slots.end());
  auto rank = rank_of(b, op);
  if (!rank) {
    return rank.error();
  }
  lease_grant grant{op.owner.value, op.incarnation, op.now_ms, op.now_ms + op.lease_ttl_ms};
  auto full = [&] { return static_cast<int32_t>(out.runs.size()) >= op.max_runs; };
  for (size_t cls = 0; cls < std::size(claim_classes) && !full(); ++cls) {
    // Rounds over the tenants; each takes up to its weight per round.
    for (bool progress = true; progress && !full();) {
      progress = false;
      for (auto& slot : slots) {
        if (full()) {
          break;
        }
        if (!slot.resolved) {
          if (auto err = resolve_slot(b, op, *rank, slot)) {
            return err;
          }
          if (slot.busy && !op.tenants.empty()) {
            // Its admission is being decided elsewhere right now; that
            // node, or one told here, takes a permit freed meanwhile.
            out.left_to_others.emplace_back(slot.tenant);
          }
          if (slot.owned_elsewhere && !op.tenants.empty()) {
            // A permit of it freed here: its owner admits the next run.
            auto due = any_due(b, slot.tenant, op.now_ms);
            if (!due) {
              return due.error();
            }
            if (*due) {
              out.owned_elsewhere.emplace_back(slot.tenant);
            }
          }
        }
        if (slot.budget == 0 || slot.drained[cls]) {
          continue;
        }
        auto want = std::min<int64_t>(slot.weight, op.max_runs - out.runs.size());
        if (slot.budget > 0) {
          want = std::min(want, slot.budget);
        }
        if (slot.share >= 0) {
          want = std::min(want, slot.share);
          if (want == 0) {
            // The other nodes' share. A targeted claim (a permit of the
            // tenant just freed here) says so if a run is due, so that a
            // node with a share claims it now rather than at its poll.
            if (!op.tenants.empty() && !slot.drained[cls] &&
                std::find(out.left_to_others.begin(), out.left_to_others.end(),
                          tenant_id{slot.tenant}) == out.left_to_others.end()) {
              auto due = b.due_runs(slot.tenant, claim_classes[cls], op.now_ms, 1);
              if (!due) {
                return due.error();
              }
              if (!due->empty()) {
                out.left_to_others.emplace_back(slot.tenant);
              }
            }
            slot.drained[cls] = true; // nothing more for this node in this class
            continue;
          }
        }
        auto ids = b.due_runs(slot.tenant, claim_classes[cls], op.now_ms, want);
        if (!ids) {
          return ids.error();
        }
        if (static_cast<int64_t>(ids->size()) < want) {
          slot.drained[cls] = true;
        }
        for (auto id : *ids) {
          auto claimed = b.claim_run(id, grant);
          if (!claimed) {
            return claimed.error();
          }
          if (!*claimed) {
            continue;
          }
          auto kept = record_first_plan(b, op, **claimed, out);
          if (!kept) {
            return kept.error();
          }
          if (*kept == first_outcome::paused) {
            progress = true; // it holds no permit: it waits on quota
            continue;
          }
          out.runs.push_back(std::move((*claimed)->run));
          if (claim_classes[cls] == run_status::running) {
            out.taken_over += 1;
          }
          out.last_tenant = tenant_id{slot.tenant};
          progress = true;
          if (slot.budget > 0) {
            slot.budget -= 1;
          }
          if (slot.share > 0) {
            slot.share -= 1;
          }
        }
      }
    }
  }
  // Records the claim, and the room left after it, on the claimer's
  // registration: other nodes leave it its share, and its tenants while
  // it owns them and has room.
  std::set<std::string_view> with_runs;
  for (const auto& r : out.runs) {
    with_runs.insert(r.tenant.value);
  }
  for (const auto& slot : slots) {
    if (with_runs.count(slot.tenant) != 0) {
      out.tenant_configs.push_back(tenant_config_text{tenant_id{slot.tenant}, slot.config_text});
    }
  }
  auto room = op.room < 0 ? int64_t{1}
                          : std::max<int64_t>(0, op.room - static_cast<int64_t>(out.runs.size()));
  if (auto err = b.mark_claimed(op.owner.value, op.incarnation, op.now_ms, room)) {
    return err;
  }
  return out;
}

// -- leases and membership ---------------------------------------------------------

caf::expected<std::vector<run_id>> apply(run_backend& b, const renew_leases& op) {
  // The heartbeat first: a process whose registration was taken over (or
  // stopped) renews nothing.
  if (auto err = beat_or_fence(b, op.owner, op.incarnation, op.now_ms, "it holds no leases")) {
    return err;
  }
  std::vector<run_id> renewed;
  auto expires = op.now_ms + op.lease_ttl_ms;
  for (const auto& l : op.leases) {
    auto ok =
      b.renew_lease(l.run.value, op.owner.value, op.incarnation, l.epoch, expires, op.now_ms);
    if (!ok) {
      return ok.error();
    }
    if (*ok) {
      renewed.push_back(l.run);
    }
  }
  if (auto err = settle_tenant_owners(b, op)) {
    return err;
  }
  return renewed;
}

caf::expected<int64_t> apply(run_backend& b, const release_leases& op) {
  if (op.leases.empty()) {
    auto released = b.release_all_leases(op.owner.value, op.incarnation, op.now_ms);
    if (!released) {
      return released.error();
    }
    if (auto stopped = b.mark_stopped(op.owner.value, op.incarnation, op.now_ms); !stopped) {
      return stopped.error();
    }
    // A drained node admits nothing more: its tenants' next owners take them.
    if (auto given = b.release_tenants(op.owner.value, op.incarnation, ""); !given) {
      return given.error();
    }
    return *released;
  }
  int64_t released = 0;
  for (const auto& l : op.leases) {
    auto ok = b.release_lease(l.run.value, op.owner.value, op.incarnation, l.epoch, op.now_ms);
    if (!ok) {
      return ok.error();
    }
    released += *ok ? 1 : 0;
  }
  return released;
}

caf::expected<int64_t> apply(run_backend& b, const stop_node& op) {
  auto stopped = b.mark_stopped(op.node.value, op.incarnation, op.now_ms);
  if (!stopped) {
    return stopped.error();
  }
  // A stopped registration holds no live lease: what it still held (a
  // shutdown without a drain) is released for other nodes to take over at
  // once; its orchestrators' later writes are refused (lease_lost).
  if (*stopped) {
    auto released = b.release_all_leases(op.node.value, op.incarnation, op.now_ms);
    if (!released) {
      return released.error();
    }
    if (auto given = b.release_tenants(op.node.value, op.incarnation, ""); !given) {
      return given.error();
    }
  }
  return int64_t{*stopped ? 1 : 0};
}

caf::expected<int64_t> apply(run_backend& b, const register_node& op) {
  auto current = b.registration(op.node.value);
  if (!current) {
    return current.error();
  }
  int64_t incarnation = 0;
  if (*current) {
    const auto& x = **current;
    incarnation = x.incarnation;
    bool gone = op.replaces_pid != 0 && x.pid == op.replaces_pid && x.host == op.host;
    if (!x.stopped && x.incarnation > 0 && x.heartbeat_at_ms + x.ttl_ms > op.now_ms && !gone) {
      return make_error(errc::node_id_in_use,
                        "node id '" + op.node.value + "' is in use by a live process (pid " +
                          std::to_string(x.pid) + (x.host.empty() ? "" : " on " + x.host) +
                          ", incarnation " + std::to_string(x.incarnation) + ", heartbeat " +
                          std::to_string(op.now_ms - x.heartbeat_at_ms) +
                          " ms ago); stop it or give this node another --node-id");
    }
  }
  if (auto err = b.put_registration(op, incarnation + 1)) {
    return err;
  }
  return incarnation + 1;
}

// -- appends -----------------------------------------------------------------------

namespace {

/// A child run's end as its parent attempt's outcome event (and ledger
/// change): its output, or a retryable failure naming the child.
std::pair<history_record, step_change>
child_outcome(int64_t child, const std::string& path, int32_t attempt, run_status status,
              const std::string& output, const std::string& error_type,
              const std::string& error_message, int64_t seq, int64_t now_ms) {
  if (status == run_status::completed) {
    return {history_record{seq, "step_completed", path, attempt, output.empty() ? "null" : output,
                           now_ms},
            step_change{path, attempt, step_status::completed, "", "", -1}};
  }
  auto type = status == run_status::canceled ? std::string{"canceled"}
                                             : (error_type.empty() ? "child_failed" : error_type);
  auto message = "child run " + std::to_string(child) + " " + to_string(status) +
                 (error_message.empty() ? std::string{} : ": " + error_message);
  return {history_record{seq, "step_failed", path, attempt,
                         json::serialize(
                           json::object{{"type", type}, {"message", message}, {"retryable", true}}),
                         now_ms},
          step_change{path, attempt, step_status::failed, type, message, -1}};
}

/// A child run ended: its end goes into the parent's history if the parent
/// waits for it (else the parent finds it when it asks to wait).
caf::error notify_parent(run_backend& b, int64_t child, int64_t parent, const std::string& path,
                         int32_t attempt, run_status status, const std::string& output,
                         const std::string& error_type, const std::string& error_message,
                         int64_t now_ms) {
  auto slot = b.take_child_wakeup(parent, path, attempt, now_ms);
  if (!slot) {
    return slot.error();
  }
  if (!*slot) {
    return {};
  }
  auto [e, step] = child_outcome(child, path, attempt, status, output, error_type, error_message,
                                 (*slot)->first, now_ms);
  if (auto err = b.insert_event(parent, (*slot)->second, e, now_ms)) {
    return err;
  }
  auto finished = b.finish_attempt(parent, step, now_ms);
  if (!finished) {
    return finished.error();
  }
  return {};
}

/// Cancels the unfinished child runs of `parent` (and theirs).
caf::error cancel_children(run_backend& b, const std::string& tenant, int64_t parent,
                           const std::string& why, int64_t now_ms) {
  auto children = b.unfinished_children(parent);
  if (!children) {
    return children.error();
  }
  for (auto child : *children) {
    auto c = apply(b, cancel_run{tenant_id{tenant}, run_id{child},
                                 "parent run " + std::to_string(parent) + " " + why, now_ms});
    if (!c && code_of(c.error()) != errc::run_finished) {
      return c.error();
    }
  }
  return {};
}

/// A run just paused on quota with a pending inbox: a cancellation in it
/// applies now (the run holds no lease any more); signals wait.
caf::expected<history_appended> cancel_paused(run_backend& b, const append_history& op,
                                              history_appended out) {
  auto entries = b.inbox(op.run.value);
  if (!entries) {
    return entries.error();
  }
  auto cancel = std::find_if(entries->begin(), entries->end(),
                             [](const inbox_entry& e) { return e.kind == "cancel"; });
  if (cancel == entries->end()) {
    return out;
  }
  auto canceled = apply(b, cancel_run{op.tenant, op.run, cancel->payload, op.now_ms});
  if (!canceled) {
    return canceled.error();
  }
  out.next_seq = canceled->run.next_seq;
  return out;
}

} // namespace

caf::expected<history_appended> apply(run_backend& b, const append_history& op) {
  // Reservations first, in order: the first attempt refused cuts the append
  // before the event that scheduled it and pauses the run on quota. (An
  // error further down rolls the reservations back with the savepoint.)
  const std::vector<history_record>* append_events = &op.events;
  const std::vector<step_change>* append_steps = &op.steps;
  const run_change* change = &op.change;
  std::vector<history_record> cut_events;
  std::vector<step_change> cut_steps;
  run_change pause;
  history_appended out;
  for (size_t i = 0; i < op.steps.size(); ++i) {
    const auto& s = op.steps[i];
    if (s.status != step_status::started) {
      continue;
    }
    auto want = reservation_of(op.quota, op.tenant, op.run.value, s, op.now_ms);
    // (A granted reservation's count is not used here: not read back.)
    auto got = reserve(b, want, op.owner.value, op.epoch, false);
    if (!got) {
      return got.error();
    }
    if (got->duplicate) {
      return make_error(errc::store_failure, "run " + std::to_string(op.run.value) + ": step '" +
                                               s.step_path + "' attempt " +
                                               std::to_string(s.attempt) + " cannot start twice");
    }
    if (got->granted) {
      continue;
    }
    // The planner named the event that schedules the attempt: the append
    // is cut just before it (no engine knowledge here).
    if (s.scheduled_by < 0 || s.scheduled_by >= static_cast<int32_t>(op.events.size())) {
      return make_error(errc::invalid_argument,
                        "run " + std::to_string(op.run.value) + ": step '" + s.step_path +
                          "' attempt " + std::to_string(s.attempt) +
                          " names no event of the append that schedules it");
    }
    cut_events.assign(op.events.begin(), op.events.begin() + s.scheduled_by);
    cut_steps.assign(op.steps.begin(), op.steps.begin() + static_cast<std::ptrdiff_t>(i));
    bool in_flight =
      op.in_flight > 0 || std::any_of(cut_steps.begin(), cut_steps.end(), [](const step_change& x) {
        return x.status == step_status::started;
      });
    if (in_flight) {
      // Attempts of the run are in flight (concurrent branches): it stays
      // under its lease until their outcomes are recorded.
      pause.status = run_status::running;
      pause.node_path = s.step_path;
      out.quota_held = true;
    } else {
      pause.status = run_status::waiting;
      pause.wait_reason = wait_reason::quota;
      pause.node_path = s.step_path;
      pause.wake_at_ms = never_ms;
      pause.release_lease = true;
      pause.open_wait = wait_reason::quota;
      out.quota_paused = true;
    }
    append_events = &cut_events;
    append_steps = &cut_steps;
    change = &pause;
    out.exhausted = exhausted_of(want, *got);
    break;
  }
  // Waiting for child runs of which some already ended: the run stays
  // under its lease and their ends are appended now. The run's row is
  // locked before the children are read, so a child ending concurrently
  // either sees the run waiting (and appends its end itself) or is seen
  // ended here.
  std::vector<history_record> kept_events;
  std::vector<step_change> kept_steps;
  run_change keep;
  if (!out.quota_paused && change->status == run_status::waiting &&
      change->wait_reason == wait_reason::child) {
    if (auto err = b.lock_run(op.run.value)) {
      return err;
    }
    auto ended = b.ended_children(op.run.value);
    if (!ended) {
      return ended.error();
    }
    if (!ended->empty()) {
      kept_events = *append_events;
      kept_steps = *append_steps;
      auto seq = op.expected_seq + static_cast<int64_t>(append_events->size());
      for (const auto& ch : *ended) {
        auto [e, step] =
          child_outcome(ch.run, ch.parent_node_path, ch.parent_attempt, ch.status, ch.output,
                        ch.error_type, ch.error_message, seq++, op.now_ms);
        kept_events.push_back(e);
        kept_steps.push_back(step);
        out.inbox.push_back(std::move(e));
      }
      keep.status = run_status::running;
      keep.node_path = change->node_path;
      append_events = &kept_events;
      append_steps = &kept_steps;
      change = &keep;
      out.kept = true;
    }
  }
  const auto& c = *change;
  bool terminal = is_terminal(c.status);
  bool leaving = terminal || c.release_lease;
  // The fence and the run update in one statement: it only matches while
  // `owner` holds the lease at `epoch` and the history is where it expects.
  fenced_run_update u;
  u.run = op.run.value;
  u.owner = op.owner.value;
  u.incarnation = op.incarnation;
  u.epoch = op.epoch;
  u.expected_seq = op.expected_seq;
  u.events = static_cast<int64_t>(append_events->size());
  u.now_ms = op.now_ms;
  u.change = &c;
  u.leaving = leaving;
  u.terminal = terminal;
  auto row = b.fenced_update(u);
  if (!row) {
    return row.error();
  }
  if (!*row) {
    return refused_append(b, op);
  }
  auto tenant = (*row)->tenant;
  bool inbox_pending = (*row)->inbox_pending;
  auto parent = (*row)->parent_run;
  auto parent_path = (*row)->parent_node_path;
  auto parent_attempt = (*row)->parent_attempt;
  bool has_children = (*row)->has_children;
  auto next_seq = op.expected_seq;
  for (const auto& e : *append_events) {
    if (e.seq != next_seq) {
      return make_error(errc::store_failure, "run " + std::to_string(op.run.value) + ": event " +
                                               e.type + " has sequence " + std::to_string(e.seq) +
                                               ", expected " + std::to_string(next_seq));
    }
    ++next_seq;
  }
  if (auto err = b.insert_events(op.run.value, tenant, *append_events, op.now_ms)) {
    return err;
  }
  for (const auto& s : *append_steps) {
    if (s.status == step_status::started) {
      continue; // its ledger row was written with its reservation
    }
    auto finished = b.finish_attempt(op.run.value, s, op.now_ms);
    if (!finished) {
      return finished.error();
    }
    if (!*finished) {
      return make_error(errc::store_failure, "run " + std::to_string(op.run.value) + ": step '" +
                                               s.step_path + "' attempt " +
                                               std::to_string(s.attempt) +
                                               " is not started, cannot be " + to_string(s.status));
    }
  }
  if (op.resolve_waits || terminal) {
    if (auto err = b.resolve_waits(op.run.value, terminal ? "finished" : "continued", op.now_ms)) {
      return err;
    }
  }
  if (c.open_wait != wait_reason::none) {
    if (auto err = b.open_wait(op.run.value, tenant, c.open_wait, c.node_path, c.wait_event,
                               c.wake_at_ms, op.now_ms)) {
      return err;
    }
  }
  if (c.status == run_status::canceled) {
    if (auto err = b.cancel_started_attempts(op.run.value, op.now_ms)) {
      return err;
    }
  }
  if (c.status == run_status::failed) {
    // Attempts of other branches still in flight end with the run.
    if (auto err = b.cancel_started_attempts(op.run.value, op.now_ms)) {
      return err;
    }
  }
  if (terminal) {
    // Children end with their parent; a child's end is its parent's news.
    if (has_children) {
      if (auto err = cancel_children(b, tenant, op.run.value, to_string(c.status), op.now_ms)) {
        return err;
      }
    }
    if (parent > 0) {
      if (auto err = notify_parent(b, op.run.value, parent, parent_path, parent_attempt, c.status,
                                   c.output, c.error_type, c.error_message, op.now_ms)) {
        return err;
      }
    }
  }
  for (const auto& s : *append_steps) {
    if (s.status != step_status::cut_off) {
      continue;
    }
    // A child attempt cut off before its child was recorded: a child run
    // made for it (the driver died between the two commits) is canceled.
    auto orphan = b.find_child(op.run.value, s.step_path);
    if (!orphan) {
      return orphan.error();
    }
    if (*orphan && (*orphan)->parent_attempt == s.attempt && !is_terminal((*orphan)->status)) {
      auto c2 = apply(b, cancel_run{tenant_id{tenant}, run_id{(*orphan)->run},
                                    "its parent attempt was cut off", op.now_ms});
      if (!c2) {
        return c2.error();
      }
    }
  }
  if (has_children && !terminal && !out.kept && !out.quota_paused) {
    // Children that ended while the run was held (concurrent branches keep
    // the lease while a child runs): their ends are appended like inbox
    // entries. A run that just released its lease is due again now.
    auto ended = b.ended_children(op.run.value);
    if (!ended) {
      return ended.error();
    }
    for (const auto& ch : *ended) {
      auto [e, step] =
        child_outcome(ch.run, ch.parent_node_path, ch.parent_attempt, ch.status, ch.output,
                      ch.error_type, ch.error_message, next_seq++, op.now_ms);
      if (auto err = b.insert_event(op.run.value, tenant, e, op.now_ms)) {
        return err;
      }
      auto finished = b.finish_attempt(op.run.value, step, op.now_ms);
      if (!finished) {
        return finished.error();
      }
      out.inbox.push_back(std::move(e));
    }
    if (!ended->empty()) {
      if (auto err = b.set_next_seq(op.run.value, next_seq)) {
        return err;
      }
      if (leaving) {
        if (auto err = b.wake_run(op.run.value, op.now_ms)) {
          return err;
        }
      }
    }
  }
  out.next_seq = next_seq;
  out.appended = static_cast<int64_t>(append_events->size()) -
                 (out.kept ? static_cast<int64_t>(out.inbox.size()) : 0);
  if (inbox_pending && out.quota_paused) {
    // Without quota the run cannot take its inbox: signals stay there until
    // it resumes, a cancellation applies at once (no live lease now).
    return cancel_paused(b, op, std::move(out));
  }
  if (inbox_pending && !terminal && c.wait_reason != wait_reason::nondeterminism) {
    if (leaving) {
      // A signal or cancel arrived while the run was held: due again now.
      // Not a run held for an operator: it would be claimed and held again
      // in a loop (a cancel then applies at once, without a live lease).
      if (auto err = b.wake_run(op.run.value, op.now_ms)) {
        return err;
      }
    } else {
      auto inbox = take_inbox(b, op.run.value, tenant, next_seq, op.now_ms);
      if (!inbox) {
        return inbox.error();
      }
      out.next_seq += static_cast<int64_t>(inbox->size());
      for (auto& rec : *inbox) {
        out.inbox.push_back(std::move(rec));
      }
      if (auto err = b.set_inbox_taken(op.run.value, out.next_seq)) {
        return err;
      }
    }
  }
  return out;
}

// -- signals and cancels -----------------------------------------------------------

caf::expected<signal_accepted> apply(run_backend& b, const signal_run& op) {
  auto run = tenant_run(b, op.tenant, op.run);
  if (!run) {
    return run.error();
  }
  if (auto err = check_unfinished(*run, "signals")) {
    return err;
  }
  auto id = b.insert_inbox_entry(op.run.value, run->tenant.value, "signal", op.event, op.payload,
                                 op.now_ms);
  if (!id) {
    return id.error();
  }
  // A run waiting for an event is due at once; any other run reads its
  // inbox at its next append.
  if (auto err = b.mark_inbox_pending(op.run.value, op.now_ms,
                                      run->status == run_status::waiting &&
                                        run->wait_reason == wait_reason::event)) {
    return err;
  }
  return signal_accepted{op.run, *id, run->status,
                         run->lease_expires_at_ms > op.now_ms ? run->lease_owner : std::string{}};
}

caf::expected<cancel_outcome> apply(run_backend& b, const cancel_run& op) {
  auto run = tenant_run(b, op.tenant, op.run);
  if (!run) {
    return run.error();
  }
  if (auto err = check_unfinished(*run, "cancellations")) {
    return err;
  }
  if (run->lease_expires_at_ms > op.now_ms) {
    // A live lease holder drives the run: it takes the cancellation from the
    // inbox at its next step boundary.
    auto id =
      b.insert_inbox_entry(op.run.value, run->tenant.value, "cancel", "", op.reason, op.now_ms);
    if (!id) {
      return id.error();
    }
    if (auto err = b.mark_inbox_pending(op.run.value, op.now_ms, false)) {
      return err;
    }
    return cancel_outcome{std::move(*run), false};
  }
  history_record e{
    run->next_seq, "run_canceled", "", 0, json::serialize(json::object{{"reason", op.reason}}),
    op.now_ms};
  if (auto err = b.insert_event(op.run.value, run->tenant.value, e, op.now_ms)) {
    return err;
  }
  if (auto err = b.cancel_run_row(op.run.value, op.reason, op.now_ms)) {
    return err;
  }
  if (auto err = b.cancel_started_attempts(op.run.value, op.now_ms)) {
    return err;
  }
  if (auto err = b.resolve_waits(op.run.value, "canceled", op.now_ms)) {
    return err;
  }
  if (auto err = b.drop_inbox(op.run.value)) {
    return err;
  }
  if (auto err = cancel_children(b, run->tenant.value, op.run.value, "canceled", op.now_ms)) {
    return err;
  }
  auto link = b.lineage(op.run.value);
  if (!link) {
    return link.error();
  }
  if (*link && (*link)->parent > 0) {
    if (auto err = notify_parent(b, op.run.value, (*link)->parent, (*link)->parent_node_path,
                                 (*link)->parent_attempt, run_status::canceled, "", "canceled",
                                 op.reason, op.now_ms)) {
      return err;
    }
  }
  auto stored = run_by_id(b, op.run.value);
  if (!stored) {
    return stored.error();
  }
  return cancel_outcome{std::move(*stored), true};
}

// -- billing and quota -------------------------------------------------------------

caf::expected<subscription_record> apply(run_backend& b, const store_subscription& op) {
  const auto& x = op.subscription;
  auto exists = b.tenant_config(x.tenant.value);
  if (!exists) {
    return exists.error();
  }
  if (!*exists) {
    return make_error(errc::unknown_tenant, "tenant '" + x.tenant.value + "' does not exist");
  }
  if (auto err = b.put_subscription(x, op.now_ms)) {
    return err;
  }
  auto out = x;
  out.updated_at_ms = op.now_ms;
  return out;
}

caf::expected<step_reservation> reserve(run_backend& b, const reserve_step& op,
                                        const std::string& node, int64_t epoch,
                                        bool count_granted) {
  step_reservation out;
  out.limit = op.limit;
  out.period_start_ms = op.period_start_ms;
  out.period_end_ms = op.period_end_ms;
  if (op.period_end_ms <= op.period_start_ms) {
    return make_error(errc::invalid_argument, "run " + std::to_string(op.run.value) + ": step '" +
                                                op.step_path + "' attempt " +
                                                std::to_string(op.attempt) +
                                                " has no usage period to be reserved against");
  }
  auto used_now = [&] {
    return b.usage_counter(op.tenant.value, op.period_start_ms, op.period_end_ms);
  };
  // The ledger row first: it is keyed by (run, step, attempt), so an
  // attempt reserved before (a replay, a retried request) is found here and
  // not counted again. Two statements in the common case.
  auto inserted = b.insert_attempt(op, node, epoch);
  if (!inserted) {
    return inserted.error();
  }
  if (!*inserted) {
    auto used = used_now();
    if (!used) {
      return used.error();
    }
    out.used = used->used;
    out.granted = true;
    out.duplicate = true;
    return out;
  }
  // The decision: count the attempt only while used < limit (or unlimited).
  // The counter's update and the read that explains a refusal are two
  // statements: on PostgreSQL (READ COMMITTED) each sees what was committed
  // when it began, so a counter another node created or changed in between
  // is no refusal; only a counter read at or above the limit is.
  bool at_limit = false;
  for (int round = 0; round < 4 && !at_limit; ++round) {
    auto taken = b.take_usage_unit(op.tenant.value, op.period_start_ms, op.period_end_ms, op.limit,
                                   op.now_ms, count_granted);
    if (!taken) {
      return taken.error();
    }
    if (*taken) {
      out.used = **taken;
      out.granted = true;
      return out;
    }
    auto used = used_now();
    if (!used) {
      return used.error();
    }
    out.used = used->used;
    if (used->exists) {
      at_limit = op.limit >= 0 && used->used >= op.limit;
      continue; // else: it changed after the update looked; decide again
    }
    // The period's first reservation: create its counter, then decide.
    if (auto err = b.create_usage_counter(op.tenant.value, op.period_start_ms, op.period_end_ms,
                                          op.limit, op.now_ms)) {
      return err;
    }
  }
  if (!at_limit) {
    return make_error(errc::store_busy, "tenant '" + op.tenant.value +
                                          "': the usage counter kept changing while step '" +
                                          op.step_path + "' was reserved; try again");
  }
  // Refused: the attempt does not start, so it has no ledger row.
  if (auto err = b.delete_attempt(op.run.value, op.step_path, op.attempt)) {
    return err;
  }
  return out;
}

caf::expected<std::vector<step_reservation>> apply(run_backend& b, const reserve_steps& op) {
  std::vector<step_reservation> out;
  out.reserve(op.steps.size());
  for (auto r : op.steps) {
    if (r.now_ms == 0) {
      r.now_ms = op.now_ms;
    }
    auto got = reserve(b, r, std::string{}, 0);
    if (!got) {
      return got.error();
    }
    out.push_back(*got);
  }
  return out;
}

namespace {

/// Marks the run's open quota wait `resuming` (exactly once) and makes the
/// run due. The wait stays open, and counts against the quota left, until
/// the run's next append (which reserves the step) resolves it. Returns
/// false if another resume got there first.
caf::expected<bool> resume_paused(run_backend& b, int64_t run, int64_t now_ms) {
  auto marked = b.mark_resuming(run);
  if (!marked) {
    return marked.error();
  }
  if (!*marked) {
    return false;
  }
  return b.resume_run_row(run, now_ms);
}

} // namespace

caf::expected<int64_t> apply(run_backend& b, const resume_quota_waits& op) {
  const auto& t = op.terms;
  if (t.period_end_ms <= t.period_start_ms) {
    return make_error(errc::invalid_argument, "resuming quota waits of tenant '" + t.tenant.value +
                                                "' needs a usage period");
  }
  int64_t room = op.max_runs;
  if (t.limit >= 0) {
    auto used = b.usage_counter(t.tenant.value, t.period_start_ms, t.period_end_ms);
    if (!used) {
      return used.error();
    }
    // Runs resumed earlier that have not reserved their step yet count too.
    auto pending = b.count_resuming(t.tenant.value);
    if (!pending) {
      return pending.error();
    }
    room = std::min(room, t.limit - used->used - *pending);
  }
  if (room <= 0) {
    return int64_t{0};
  }
  auto runs = b.quota_waits(t.tenant.value, room);
  if (!runs) {
    return runs.error();
  }
  int64_t resumed = 0;
  for (auto run : *runs) {
    auto ok = resume_paused(b, run, op.now_ms);
    if (!ok) {
      return ok.error();
    }
    resumed += *ok ? 1 : 0;
  }
  return resumed;
}

caf::expected<resume_outcome> apply(run_backend& b, const resume_run& op) {
  const auto& t = op.terms;
  auto run = tenant_run(b, t.tenant, op.run);
  if (!run) {
    return run.error();
  }
  if (run->status != run_status::waiting || run->wait_reason != wait_reason::quota) {
    auto state = std::string{to_string(run->status)} +
                 (run->wait_reason == wait_reason::none
                    ? ""
                    : std::string{" ("} + to_string(run->wait_reason) + ")");
    return make_error(errc::invalid_argument, "run " + std::to_string(op.run.value) + " is " +
                                                state + ", not waiting on quota");
  }
  resume_outcome out;
  if (t.limit >= 0) {
    auto used = b.usage_counter(t.tenant.value, t.period_start_ms, t.period_end_ms);
    if (!used) {
      return used.error();
    }
    if (used->used >= t.limit) {
      out.exhausted = quota_exhausted{
        t.tenant, op.run, run->node_path, used->used, t.limit, t.period_start_ms, t.period_end_ms};
      return out;
    }
  }
  auto ok = resume_paused(b, op.run.value, op.now_ms);
  if (!ok) {
    return ok.error();
  }
  out.resumed = *ok;
  return out;
}

} // namespace flowgate::run_store
