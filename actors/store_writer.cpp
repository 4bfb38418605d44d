#include "actors/store_writer.hpp"

#include "actors/log.hpp"
#include "actors/wall_clock.hpp"
#include "messages/actor_threads.hpp"
#include "messages/errors.hpp"
#include "persistence/store.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <chrono>
#include <functional>
#include <vector>

namespace flowgate {

namespace {

/// One queued operation and the promise to answer after commit.
class pending_write {
public:
  virtual ~pending_write() = default;
  /// Applies the operation inside the open transaction; true on success.
  /// `now_ms`: the writer's clock, read under the write lock. A fatal store
  /// error (a damaged file) is also put into `fatal`. `isolated`: in its
  /// own savepoint, so that its failure undoes only its own writes;
  /// otherwise a failure leaves the transaction to be rolled back whole.
  virtual bool apply(write_session& session, int64_t now_ms, caf::error& fatal, bool isolated) = 0;
  /// Answers the requester: the outcome, or `batch_error` if the whole
  /// transaction failed.
  virtual void finish(const caf::error* batch_error) = 0;
  /// The last `apply` was refused by fencing (`lease_lost`: a stale lease
  /// or node incarnation).
  [[nodiscard]] virtual bool fenced_off() const = 0;
};

template <class Op, class R> class pending_op final : public pending_write {
public:
  pending_op(Op op, caf::typed_response_promise<R> rp) : op_(std::move(op)), rp_(std::move(rp)) {}

  bool apply(write_session& session, int64_t now_ms, caf::error& fatal, bool isolated) override {
    if (isolated) {
      if (auto err = session.savepoint()) {
        note_fatal(err, fatal);
        outcome_ = std::move(err);
        return false;
      }
    }
    // An operation that leaves its time at 0 is stamped with the commit's
    // time, read after BEGIN IMMEDIATE: recorded times then follow commit
    // order, also across processes sharing the database. A store with its
    // own clock (PostgreSQL) gives its time at this operation. Stamped
    // again when its batch is applied again (in another transaction).
    if constexpr (requires { op_.now_ms; }) {
      if (op_.now_ms == 0 || stamped_) {
        op_.now_ms = session.clock_ms().value_or(now_ms);
        stamped_ = true;
      }
    }
    outcome_ = session.apply(op_);
    if (!outcome_) {
      note_fatal(outcome_.error(), fatal);
      if (isolated) {
        session.rollback_to_savepoint();
      }
      return false;
    }
    if (isolated) {
      if (auto err = session.release_savepoint()) {
        outcome_ = std::move(err);
        return false;
      }
    }
    return true;
  }

  void finish(const caf::error* batch_error) override {
    if (batch_error != nullptr) {
      rp_.deliver(*batch_error);
    } else if (outcome_) {
      rp_.deliver(std::move(*outcome_));
    } else {
      rp_.deliver(std::move(outcome_.error()));
    }
  }

  [[nodiscard]] bool fenced_off() const override {
    return !outcome_ && code_of(outcome_.error()) == errc::lease_lost;
  }

private:
  static void note_fatal(const caf::error& err, caf::error& fatal) {
    if (!fatal && code_of(err) == errc::store_corrupt) {
      fatal = err;
    }
  }

  Op op_;
  /// The writer set `op_.now_ms` (it did not come with the operation).
  bool stamped_ = false;
  caf::typed_response_promise<R> rp_;
  caf::expected<R> outcome_{caf::error{}};
};

struct store_writer_state {
  // Declared so the state is no aggregate: CAF would try to build it from `self`.
  store_writer_state() = default;

  std::shared_ptr<write_session> session;
  std::vector<std::unique_ptr<pending_write>> batch;
  bool flush_pending = false;
  size_t max_batch = 4096;
  writer_stats stats;
  /// Set once the file is found damaged: every later operation gets it.
  caf::error broken;
  std::function<void(const caf::error&)> on_fatal;
  static inline const char* name = "flowgate.store_writer";
};

using writer_pointer = store_writer_actor::stateful_pointer<store_writer_state>;

/// The file is damaged: nothing more is written to it. Said once.
void break_down(writer_pointer self, const caf::error& err) {
  auto& st = self->state;
  if (st.broken) {
    return;
  }
  st.broken = err;
  st.stats.broken = true;
  log_line("error", "store writer stops writing: " + describe(err), {});
  if (st.on_fatal) {
    st.on_fatal(err);
  }
}

/// Answers a whole batch with `err` (nothing of it was committed).
void fail_batch(writer_pointer self, std::vector<std::unique_ptr<pending_write>>& batch,
                const caf::error& err) {
  self->state.stats.failed_operations += batch.size();
  for (auto& p : batch) {
    p->finish(&err);
  }
}

void flush(writer_pointer self) {
  auto& st = self->state;
  if (st.batch.empty()) {
    return;
  }
  auto batch = std::move(st.batch);
  st.batch.clear();
  auto started = std::chrono::steady_clock::now();
  auto micros_since = [](std::chrono::steady_clock::time_point t) {
    return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t)
        .count());
  };
  st.stats.batches += 1;
  st.stats.operations += batch.size();
  st.stats.largest_batch = std::max<uint64_t>(st.stats.largest_batch, batch.size());
  st.stats.batch_size.observe(static_cast<int64_t>(batch.size()));
  if (st.broken) {
    fail_batch(self, batch, st.broken);
    return;
  }
  auto begin = [&] {
    auto err = st.session->begin();
    // busy_timeout already waited; try a few more times before failing the batch.
    for (int i = 0; err && code_of(err) == errc::store_busy && i < 3; ++i) {
      st.stats.busy_retries += 1;
      err = st.session->begin();
    }
    if (err) {
      if (code_of(err) == errc::store_corrupt) {
        break_down(self, err);
      }
      fail_batch(self, batch, err);
    }
    return !err;
  };
  if (!begin()) {
    return;
  }
  // The store's clock if it has one (PostgreSQL: one clock for every host).
  auto now = st.session->clock_ms().value_or(wall_clock_ms(self->home_system()));
  caf::error fatal;
  // First without savepoints: nearly every batch succeeds whole, and a
  // savepoint per operation costs two statements (on PostgreSQL also a
  // subtransaction each). If any operation fails, the transaction is
  // rolled back and the batch applied again, each operation in its own
  // savepoint, so that a failing operation fails alone.
  bool whole = true;
  for (auto& p : batch) {
    if (!p->apply(*st.session, now, fatal, false)) {
      whole = false;
      break;
    }
  }
  if (whole && !fatal) {
    // What the store sent without waiting (PostgreSQL pipeline) fails here.
    whole = !st.session->flush();
  }
  if (!whole && !fatal) {
    st.stats.isolated_batches += 1;
    st.session->rollback();
    if (!begin()) {
      return;
    }
    now = st.session->clock_ms().value_or(wall_clock_ms(self->home_system()));
    for (auto& p : batch) {
      if (!p->apply(*st.session, now, fatal, true)) {
        st.stats.failed_operations += 1;
        if (p->fenced_off()) {
          st.stats.fenced_writes += 1;
        }
      }
    }
  }
  if (fatal) {
    // A damaged file: the batch is rolled back whole and nobody is told
    // "done".
    st.session->rollback();
    break_down(self, fatal);
    fail_batch(self, batch, fatal);
    return;
  }
  auto committing = std::chrono::steady_clock::now();
  auto commit_err = st.session->commit();
  auto commit_us = micros_since(committing);
  st.stats.commit_us += commit_us;
  st.stats.commit_seconds.observe(static_cast<int64_t>(commit_us));
  st.stats.round_trips = static_cast<uint64_t>(st.session->round_trips());
  st.stats.statements = static_cast<uint64_t>(st.session->statements());
  st.stats.busy_us += micros_since(started);
  if (commit_err) {
    if (code_of(commit_err) == errc::store_corrupt) {
      break_down(self, commit_err);
    }
    fail_batch(self, batch, commit_err);
    return;
  }
  for (auto& p : batch) {
    p->finish(nullptr);
  }
}

template <class R, class Op> caf::result<R> enqueue(writer_pointer self, Op&& op) {
  auto& st = self->state;
  auto rp = self->make_response_promise<R>();
  st.batch.push_back(std::make_unique<pending_op<std::decay_t<Op>, R>>(std::forward<Op>(op), rp));
  if (st.batch.size() >= st.max_batch) {
    flush(self);
  } else if (!st.flush_pending) {
    st.flush_pending = true;
    self->send(self, flush_atom::value);
  }
  return rp;
}

store_writer_actor::behavior_type store_writer(writer_pointer self,
                                               std::shared_ptr<write_session> session,
                                               size_t max_batch,
                                               std::function<void(const caf::error&)> on_fatal) {
  mark_detached_thread(self->home_system());
  self->state.session = std::move(session);
  self->state.max_batch = std::max<size_t>(max_batch, 1);
  self->state.on_fatal = std::move(on_fatal);
  return {
    [=](store_tenant& op) { return enqueue<tenant_record>(self, std::move(op)); },
    [=](seed_tenants& op) { return enqueue<int64_t>(self, std::move(op)); },
    [=](store_config& op) { return enqueue<config_stored>(self, std::move(op)); },
    [=](activate_config& op) { return enqueue<config_activated>(self, std::move(op)); },
    [=](reserve_step& op) { return enqueue<step_reservation>(self, std::move(op)); },
    [=](reserve_steps& op) { return enqueue<std::vector<step_reservation>>(self, std::move(op)); },
    [=](resume_quota_waits& op) { return enqueue<int64_t>(self, std::move(op)); },
    [=](resume_run& op) { return enqueue<resume_outcome>(self, std::move(op)); },
    [=](create_run& op) { return enqueue<run_created>(self, std::move(op)); },
    [=](claim_runs& op) { return enqueue<runs_claimed>(self, std::move(op)); },
    [=](register_node& op) { return enqueue<int64_t>(self, std::move(op)); },
    [=](stop_node& op) { return enqueue<int64_t>(self, std::move(op)); },
    [=](renew_leases& op) { return enqueue<std::vector<run_id>>(self, std::move(op)); },
    [=](release_leases& op) { return enqueue<int64_t>(self, std::move(op)); },
    [=](append_history& op) { return enqueue<history_appended>(self, std::move(op)); },
    [=](signal_run& op) { return enqueue<signal_accepted>(self, std::move(op)); },
    [=](cancel_run& op) { return enqueue<cancel_outcome>(self, std::move(op)); },
    [=](store_subscription& op) { return enqueue<subscription_record>(self, std::move(op)); },
    [=](store_schedule& op) { return enqueue<schedule_record>(self, std::move(op)); },
    [=](publish_node& op) { return enqueue<int64_t>(self, std::move(op)); },
    [=](store_api_key& op) { return enqueue<api_key_record>(self, std::move(op)); },
    [=](revoke_api_key& op) { return enqueue<api_key_record>(self, std::move(op)); },
    [=](delete_schedule& op) { return enqueue<int64_t>(self, std::move(op)); },
    [=](pause_schedule& op) { return enqueue<schedule_record>(self, std::move(op)); },
    [=](fire_schedule& op) { return enqueue<schedule_fired>(self, std::move(op)); },
    [=](stats_atom) { return self->state.stats; },
    [=](flush_atom) {
      self->state.flush_pending = false;
      flush(self);
    },
  };
}

} // namespace

store_writer_actor spawn_store_writer(caf::actor_system& sys,
                                      std::shared_ptr<write_session> session, size_t max_batch,
                                      std::function<void(const caf::error&)> on_fatal) {
  // Its own thread (commits block on fsync), except under the test
  // coordinator, which runs it on the test's thread.
  if (!spawns_detached(sys)) {
    return sys.spawn(store_writer, std::move(session), max_batch, std::move(on_fatal));
  }
  return sys.spawn<caf::detached>(store_writer, std::move(session), max_batch, std::move(on_fatal));
}

} // namespace flowgate
