// The store's floor: the write operations a node's store_writer commits for
// each S-step noop run (its creation, claimed by the node with its first
// attempt reserved; one append per step after it, the step before
// completed and the next scheduled and reserved; the append that ends the
// run), applied on one thread straight to the write session, no actors.
// Each transaction holds B creations and one append of every run in
// flight, as the writer's group commit mixes them. The figures are what
// one writer thread cannot go below on this store and machine, and the
// writer is a node's one serial stage.
//
// Usage: flowgate-bench-store [--runs N] [--steps S] [--batch B] [--tenants T]
//                             [--synchronous off|normal|full] [--db PATH|URL]

#include "config/billing.hpp"
#include "config/node_settings.hpp"
#include "messages/errors.hpp"
#include "persistence/open_store.hpp"
#include "persistence/sqlite.hpp"

#include <caf/expected.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <optional>
#include <string>
#include <unistd.h>
#include <vector>

using namespace flowgate;
using clock_type = std::chrono::steady_clock;

namespace {

const char* help = R"(Usage: flowgate-bench-store [options]

The store's floor: what a node's store writer commits for each S-step noop
run (its creation, claimed with its first attempt reserved, then one
append per step), applied straight to the write session on one thread, no
actors. Each transaction holds B creations and one append of every run in
flight.

  --runs N          runs (100000)
  --batch B         runs per transaction (200, about the store_writer's
                    average batch in flowgate-bench --steps 1)
  --steps S         noop steps per run (1): each step after the first is one
                    more append (the step before completed, this one
                    scheduled and reserved)
  --tenants T       tenants the runs are spread over (100)
  --tenant-limit N  max_concurrent_runs of every tenant (0 = none): a run
                    created at its tenant's limit is queued, and each
                    transaction ends with a claim of the tenants whose
                    permits its completions freed (as a node's targeted
                    claim rides behind the append that ends a run)
  --synchronous M   off | normal | full (full)
  --rows-only       (SQLite) instead, the same rows written by the fewest
                    statements a run could make, with no reads and no
                    flowgate code between them: per run one INSERT per
                    table and one UPDATE per row changed, a run's events of
                    one append in one INSERT. SQLite's own floor for them
  --db PATH|URL     database file (default: a fresh temporary file, removed
                    after), or an empty PostgreSQL database (postgresql://...)
)";

struct options {
  int64_t runs = 100'000;
  int64_t batch = 200;
  int64_t tenants = 100;
  int64_t steps = 1;
  bool rows_only = false;
  int64_t tenant_limit = 0;
  sync_mode sync = sync_mode::full;
  std::string db;
};

/// CPU time (user + system) of the calling thread, in microseconds.
int64_t thread_cpu_us() {
  rusage ru{};
  getrusage(RUSAGE_THREAD, &ru);
  return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1'000'000 + ru.ru_utime.tv_usec +
         ru.ru_stime.tv_usec;
}

long peak_rss_kb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_maxrss;
}

int64_t wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

int64_t now_us() {
  return std::chrono::duration_cast<std::chrono::microseconds>(clock_type::now().time_since_epoch())
    .count();
}

template <class T> T must(caf::expected<T> x, const char* what) {
  if (!x) {
    std::cerr << "flowgate-bench-store: " << what << ": " << describe(x.error()) << "\n";
    std::exit(1);
  }
  return std::move(*x);
}

void must(const caf::error& err, const char* what) {
  if (err) {
    std::cerr << "flowgate-bench-store: " << what << ": " << describe(err) << "\n";
    std::exit(1);
  }
}

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << help;
      std::exit(0);
    }
    if (a == "--rows-only") {
      o.rows_only = true;
      continue;
    }
    if (i + 1 >= argc) {
      std::cerr << "flowgate-bench-store: " << a << " needs a value\n" << help;
      return false;
    }
    std::string v = argv[++i];
    auto count = [&](int64_t& out, int64_t min) {
      char* end = nullptr;
      auto n = std::strtoll(v.c_str(), &end, 10);
      if (end == v.c_str() || *end != '\0' || n < min) {
        std::cerr << "flowgate-bench-store: " << a << " must be an integer >= " << min << ", not '"
                  << v << "'\n";
        return false;
      }
      out = n;
      return true;
    };
    bool ok = true;
    if (a == "--runs") {
      ok = count(o.runs, 1);
    } else if (a == "--batch") {
      ok = count(o.batch, 1);
    } else if (a == "--steps") {
      ok = count(o.steps, 1);
    } else if (a == "--tenant-limit") {
      ok = count(o.tenant_limit, 0);
    } else if (a == "--tenants") {
      ok = count(o.tenants, 1);
    } else if (a == "--synchronous") {
      auto m = parse_sync_mode(v);
      if (!m) {
        std::cerr << "flowgate-bench-store: " << describe(m.error()) << "\n";
        return false;
      }
      o.sync = *m;
    } else if (a == "--db") {
      o.db = v;
    } else {
      std::cerr << "flowgate-bench-store: unknown option " << a << "\n" << help;
      return false;
    }
    if (!ok) {
      return false;
    }
  }
  return true;
}

const char* scheduled_payload = R"({"activity":"noop","input":{},"timeout_ms":0})";

/// What a node's dispatcher writes for a new run it drives (actors/
/// dispatcher.cpp `create`): claimed, its first attempt reserved.
create_run creation(const options& o, int64_t i, int64_t incarnation, const quota_terms& q,
                    int64_t now) {
  create_run op;
  auto tenant = "t" + std::to_string(i % o.tenants);
  op.run.tenant = tenant_id{tenant};
  op.run.queue = queue_name{"bench"};
  op.run.config_tenant = tenant_id{tenant};
  op.run.version = config_version{"1"};
  op.run.checksum = "c";
  op.run.input = R"({"n":)" + std::to_string(i) + "}";
  op.owner = node_id{"bench"};
  op.incarnation = incarnation;
  op.lease_ttl_ms = 30'000;
  op.now_ms = now;
  op.first_events = {history_record{2, "step_scheduled", "s1", 1, scheduled_payload, 0}};
  op.first_steps = {step_change{"s1", 1, step_status::started, "", "", 0}};
  op.quota = q;
  op.quota.tenant = tenant_id{tenant};
  op.room = 1'000'000;
  return op;
}

/// A run in flight: where its history and its steps are.
struct open_run {
  run_record run;
  int64_t step = 1;
};

std::string step_name(int64_t k) {
  return "s" + std::to_string(k);
}

/// What its orchestrator appends when step `r.step` completed: the next
/// step scheduled and reserved (one unit under `q`), or after the last one
/// the run's end, the lease given back.
append_history append_after(const open_run& r, int64_t steps, int64_t incarnation,
                            const quota_terms& q, int64_t now) {
  append_history op;
  op.run = r.run.id;
  op.tenant = r.run.tenant;
  op.owner = node_id{"bench"};
  op.incarnation = incarnation;
  op.epoch = r.run.epoch;
  op.expected_seq = r.run.next_seq;
  auto seq = r.run.next_seq;
  op.events = {history_record{seq, "step_completed", step_name(r.step), 1, "{}", 0}};
  op.steps = {step_change{step_name(r.step), 1, step_status::completed, "", "", -1}};
  if (r.step < steps) {
    auto next = step_name(r.step + 1);
    op.events.push_back(history_record{seq + 1, "step_scheduled", next, 1, scheduled_payload, 0});
    op.steps.push_back(step_change{next, 1, step_status::started, "", "", 1});
    op.change.status = run_status::running;
    op.change.node_path = next;
    op.quota = q;
    op.quota.tenant = r.run.tenant;
  } else {
    op.events.push_back(history_record{seq + 1, "run_completed", "", 0, "{}", 0});
    op.change.status = run_status::completed;
    op.change.release_lease = true;
  }
  op.now_ms = now;
  return op;
}

/// --rows-only: the rows the store's operations leave for each run, written
/// by the fewest statements a run could make (no reads, no checks, no
/// flowgate code): what SQLite itself takes for them on this machine.
struct rows_only_writer {
  sqlite::connection& db;
  int64_t period_start = 0;
  int64_t period_end = 0;

  void events(int64_t run, const std::string& tenant, int64_t seq, const char* type1,
              const std::string& path1, const char* payload1, const char* type2,
              const std::string& path2, const char* payload2, int64_t now) {
    auto& st = db.cached("INSERT INTO run_events (run_id, seq, tenant_id, event_type, node_path, "
                         "attempt, payload, created_at_ms) VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, "
                         "?10), (?1, ?7, ?3, ?8, ?9, 1, ?11, ?10)");
    st.bind_all(run, seq, tenant, type1, path1, payload1, seq + 1, type2, path2, now, payload2);
    must(st.run(), "insert events");
  }

  void start_attempt(int64_t run, const std::string& tenant, const std::string& step,
                     int64_t incarnation, int64_t now) {
    auto& st = db.cached("INSERT INTO run_steps (run_id, step_path, attempt, tenant_id, status, "
                         "period_start_ms, period_end_ms, node_id, lease_epoch, started_at_ms) "
                         "VALUES (?1, ?2, 1, ?3, 'started', ?4, ?5, 'bench', ?6, ?7)");
    st.bind_all(run, step, tenant, period_start, period_end, incarnation, now);
    must(st.run(), "insert an attempt");
    auto& u = db.cached("UPDATE usage_periods SET used_count = used_count + 1, updated_at_ms = "
                        "?4 WHERE tenant_id = ?1 AND period_start_ms = ?2 AND period_end_ms = ?3");
    u.bind_all(tenant, period_start, period_end, now);
    must(u.run(), "count an attempt");
  }

  void finish_attempt(int64_t run, const std::string& step, int64_t now) {
    auto& st = db.cached("UPDATE run_steps SET status = 'completed', finished_at_ms = ?3 WHERE "
                         "run_id = ?1 AND step_path = ?2 AND attempt = 1");
    st.bind_all(run, step, now);
    must(st.run(), "finish an attempt");
  }

  int64_t create(const create_run& c, int64_t incarnation, int64_t now) {
    auto& st = db.cached(
      "INSERT INTO runs (tenant_id, queue, config_tenant_id, config_version, config_checksum, "
      "status, input, next_seq, wake_at_ms, lease_owner, lease_expires_at_ms, lease_epoch, "
      "created_at_ms, updated_at_ms, started_at_ms, node_path, lease_incarnation) VALUES (?1, ?2, "
      "?1, ?3, ?4, 'RUNNING', ?5, 3, ?6, 'bench', ?6, 1, ?7, ?7, ?7, 's1', ?8)");
    const auto& r = c.run;
    st.bind_all(r.tenant.value, r.queue.value, r.version.value, r.checksum, r.input, now + 30'000,
                now, incarnation);
    must(st.run(), "insert a run");
    auto id = db.last_insert_rowid();
    events(id, r.tenant.value, 1, "run_started", "", r.input.c_str(), "step_scheduled", "s1",
           scheduled_payload, now);
    start_attempt(id, r.tenant.value, "s1", incarnation, now);
    return id;
  }

  /// One append after step `step` of `steps`; true when the run ended.
  bool append(int64_t run, const std::string& tenant, int64_t step, int64_t steps,
              int64_t incarnation, int64_t now) {
    auto seq = 1 + 2 * step;
    finish_attempt(run, step_name(step), now);
    bool last = step == steps;
    if (!last) {
      auto next = step_name(step + 1);
      events(run, tenant, seq, "step_completed", step_name(step), "{}", "step_scheduled", next,
             scheduled_payload, now);
      start_attempt(run, tenant, next, incarnation, now);
      auto& st = db.cached("UPDATE runs SET next_seq = ?2, node_path = ?3, updated_at_ms = ?4 "
                           "WHERE run_id = ?1");
      st.bind_all(run, seq + 2, next, now);
      must(st.run(), "advance a run");
      return false;
    }
    events(run, tenant, seq, "step_completed", step_name(step), "{}", "run_completed", "", "{}",
           now);
    auto& st = db.cached(
      "UPDATE runs SET next_seq = ?2, status = 'COMPLETED', node_path = '', lease_owner = NULL, "
      "lease_expires_at_ms = 0, lease_incarnation = 0, updated_at_ms = ?3, finished_at_ms = ?3 "
      "WHERE run_id = ?1");
    st.bind_all(run, seq + 2, now);
    must(st.run(), "end a run");
    return true;
  }
};

} // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    return 2;
  }
  bool temp = o.db.empty();
  if (temp) {
    o.db = (std::filesystem::temp_directory_path() /
            ("flowgate-bench-store-" + std::to_string(getpid()) + ".db"))
             .string();
  }
  node_settings s;
  s.db_path = o.db;
  s.synchronous = o.sync;
  auto start_ms = wall_ms();
  auto w = must(open_store_writer(s, start_ms), "cannot open the store");
  auto& session = *w;
  auto tenant_config = o.tenant_limit > 0
                         ? R"({"max_concurrent_runs": )" + std::to_string(o.tenant_limit) + "}"
                         : std::string{"{}"};
  // Tenants and the node, committed before the clock starts.
  must(session.begin(), "begin");
  for (int64_t t = 0; t < o.tenants; ++t) {
    must(session.apply(store_tenant{
           tenant_record{tenant_id{"t" + std::to_string(t)}, "", "solo", tenant_config, 0, 0}, 5}),
         "store a tenant");
  }
  auto incarnation =
    must(session.apply(register_node{node_id{"bench"}, "host", 1'000'000, "", 30'000, start_ms, 0}),
         "register the node");
  must(session.commit(), "commit");
  quota_terms q;
  auto [period_start, period_end] = calendar_month(start_ms);
  q.period_start_ms = period_start;
  q.period_end_ms = period_end;
  q.limit = -1; // unlimited, still counted (as flowgate-bench's tenants)

  // --rows-only: the schema and the tenants as above, then the session
  // gives way to a bare connection on the same file.
  std::optional<sqlite::connection> bare;
  std::optional<rows_only_writer> rows;
  int64_t statements = 0;
  if (o.rows_only) {
    if (o.tenant_limit > 0) {
      std::cerr << "flowgate-bench-store: --rows-only writes no admission; without "
                   "--tenant-limit\n";
      return 2;
    }
    if (is_postgres_location(o.db)) {
      std::cerr << "flowgate-bench-store: --rows-only is for SQLite\n";
      return 2;
    }
    w.reset();
    bare = must(sqlite::connection::open(sqlite::open_options{o.db, 5000, o.sync, false}),
                "cannot open the store");
    rows.emplace(rows_only_writer{*bare, period_start, period_end});
    must(bare->exec("BEGIN IMMEDIATE"), "begin");
    for (int64_t t = 0; t < o.tenants; ++t) {
      auto& st = bare->cached("INSERT INTO usage_periods (tenant_id, period_start_ms, "
                              "period_end_ms, used_count, step_limit, updated_at_ms) VALUES "
                              "(?1, ?2, ?3, 0, -1, ?4)");
      st.bind_all("t" + std::to_string(t), period_start, period_end, start_ms);
      must(st.run(), "create a usage counter");
    }
    must(bare->exec("COMMIT"), "commit");
  }
  int64_t queued = 0, claimed = 0; // --tenant-limit
  auto begin = [&] { must(rows ? bare->exec("BEGIN IMMEDIATE") : w->begin(), "begin"); };
  auto commit = [&] { must(rows ? bare->exec("COMMIT") : w->commit(), "commit"); };
  // Creates run `i`: false if it was not created as a node creates it.
  auto create = [&](int64_t i, int64_t now, std::vector<open_run>& out) {
    auto op = creation(o, i, incarnation, q, now);
    if (rows) {
      auto id = rows->create(op, incarnation, now);
      open_run r{std::move(op.run), 1};
      r.run.id = run_id{id};
      r.run.next_seq = 3;
      out.push_back(std::move(r));
      return true;
    }
    auto c = must(w->apply(op), "create a run");
    if (c.created && c.run.status == run_status::pending && o.tenant_limit > 0) {
      queued += 1; // at its tenant's limit: a freed permit's claim takes it
      return true;
    }
    if (!c.created || c.run.lease_owner != "bench" || c.run.next_seq != 3) {
      return false;
    }
    out.push_back(open_run{std::move(c.run), 1});
    return true;
  };
  // Claims queued runs of the tenants whose permits `freed` holds (one
  // entry per permit), as a node does after the appends that freed them.
  auto claim = [&](const std::vector<tenant_id>& freed, int64_t now, std::vector<open_run>& out) {
    claim_runs op;
    op.owner = node_id{"bench"};
    op.incarnation = incarnation;
    op.now_ms = now;
    op.lease_ttl_ms = 30'000;
    op.max_runs = static_cast<int32_t>(freed.size());
    op.room = 1'000'000;
    for (const auto& t : freed) {
      if (std::find(op.tenants.begin(), op.tenants.end(), t) == op.tenants.end()) {
        op.tenants.push_back(t);
        op.quotas.push_back(q);
        op.quotas.back().tenant = t;
      }
    }
    auto won = must(w->apply(op), "claim");
    for (auto& r : won.runs) {
      if (std::find(won.first_recorded.begin(), won.first_recorded.end(), r.id) ==
          won.first_recorded.end()) {
        return false;
      }
      out.push_back(open_run{std::move(r), 1});
      queued -= 1;
      claimed += 1;
    }
    return true;
  };
  // Appends run `r`'s next step (or its end): false if it did not advance.
  auto advance = [&](open_run& r, int64_t now) {
    if (rows) {
      rows->append(r.run.id.value, r.run.tenant.value, r.step, o.steps, incarnation, now);
      r.run.next_seq += 2;
      return true;
    }
    auto h = must(w->apply(append_after(r, o.steps, incarnation, q, now)), "append");
    if (h.next_seq != r.run.next_seq + 2 || h.quota_paused) {
      return false;
    }
    r.run.next_seq = h.next_seq;
    return true;
  };

  int64_t create_us = 0, append_us = 0, claim_us = 0, commit_us = 0, commit_cpu_us = 0;
  int64_t transactions = 0, appends = 0;
  std::vector<open_run> open; // each advances by one append per transaction
  auto cpu0 = thread_cpu_us();
  auto t0 = now_us();
  int64_t next = 0;
  while (next < o.runs || !open.empty()) {
    auto now = wall_ms();
    begin();
    auto a0 = now_us();
    std::vector<open_run> still;
    for (int64_t i = next; i < std::min(o.runs, next + o.batch); ++i) {
      if (!create(i, now, still)) {
        std::cerr << "flowgate-bench-store: run " << i
                  << " was not created claimed with its first step\n";
        return 1;
      }
    }
    next = std::min(o.runs, next + o.batch);
    auto a1 = now_us();
    std::vector<tenant_id> freed;
    for (auto& r : open) {
      if (!advance(r, now)) {
        std::cerr << "flowgate-bench-store: run " << r.run.id.value << " did not advance\n";
        return 1;
      }
      ++appends;
      if (r.step < o.steps) {
        r.step += 1;
        still.push_back(std::move(r));
      } else if (queued > 0) {
        freed.push_back(r.run.tenant);
      }
    }
    auto a2 = now_us();
    if (!freed.empty() && !claim(freed, now, still)) {
      std::cerr << "flowgate-bench-store: a claimed run's first step was not recorded\n";
      return 1;
    }
    auto claimed_at = now_us();
    claim_us += claimed_at - a2;
    auto c0 = thread_cpu_us();
    commit();
    commit_cpu_us += thread_cpu_us() - c0;
    auto a3 = now_us();
    create_us += a1 - a0;
    append_us += a2 - a1;
    commit_us += a3 - claimed_at;
    transactions += 1;
    open = std::move(still);
  }
  if (queued != 0) {
    std::cerr << "flowgate-bench-store: " << queued << " runs were left queued\n";
    return 1;
  }
  auto wall_us = now_us() - t0;
  auto cpu_us = thread_cpu_us() - cpu0;
  statements = w ? w->statements() : 0;
  auto runs = static_cast<double>(o.runs);
  auto per_run = [&](int64_t us) { return static_cast<double>(us) / runs; };
  std::printf("flowgate-bench-store: runs=%lld steps=%lld batch=%lld tenants=%lld "
              "synchronous=%s store=%s%s\n",
              static_cast<long long>(o.runs), static_cast<long long>(o.steps),
              static_cast<long long>(o.batch), static_cast<long long>(o.tenants), to_string(o.sync),
              is_postgres_location(o.db) ? "postgresql" : "sqlite",
              o.rows_only ? " rows-only" : "");
  auto secs = static_cast<double>(wall_us) / 1e6;
  std::printf("  runs/s           %.0f (one thread, no actors: one writer's ceiling)\n",
              runs / secs);
  std::printf("  step attempts/s  %.0f\n", runs * static_cast<double>(o.steps) / secs);
  std::printf("  per run          %.1f us wall, %.1f us CPU of this thread (the database "
              "server's is not included)\n",
              per_run(wall_us), per_run(cpu_us));
  std::printf("    creation       %.1f us (claimed, first attempt reserved)\n", per_run(create_us));
  std::printf("    appends        %.1f us (%.1f per run: each next step reserved, then the "
              "run's end)\n",
              per_run(append_us), static_cast<double>(appends) / runs);
  if (o.tenant_limit > 0) {
    std::printf("    claims         %.1f us (%lld runs queued at their tenant's limit of %lld, "
                "then claimed)\n",
                per_run(claim_us), static_cast<long long>(claimed),
                static_cast<long long>(o.tenant_limit));
  }
  std::printf("    commits        %.1f us wall, %.1f us CPU (%lld transactions)\n",
              per_run(commit_us), per_run(commit_cpu_us), static_cast<long long>(transactions));
  if (statements > 0) {
    std::printf("  server statements %.1f per run\n", static_cast<double>(statements) / runs);
  }
  std::printf("  peak RSS         %.1f MB\n", static_cast<double>(peak_rss_kb()) / 1024.0);
  rows.reset();
  bare.reset();
  w.reset();
  if (temp) {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::filesystem::remove(o.db + suffix);
    }
  }
  return 0;
}
