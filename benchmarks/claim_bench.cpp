// Claim cost against the backlog: one claim of `--batch` runs on a database
// holding N queued (PENDING) runs over T tenants, for N = 1,000 and 100,000
// by default. Each claim runs in its own write transaction, as the store
// writer runs it; the runs it won are handed back (untimed) so the backlog
// stays the same for the next one.
//
// Baseline, measured in the same run on the same database: the claim before
// the run-model change (a candidate query over every due run of every
// tenant, a correlated live-run count per candidate, json_extract per row,
// sorted by wake time; then the same fenced update per run).
//
// Prints per backlog: claim p50 / p99 / mean (microseconds), the baseline's,
// and their ratio (baseline / claim); peak RSS.

#include "messages/errors.hpp"
#include "persistence/sqlite.hpp"
#include "persistence/sqlite_store.hpp"

#include <sys/resource.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

using namespace flowgate;
using clock_type = std::chrono::steady_clock;

namespace {

const char* const help = R"(Usage: flowgate-bench-claim [--backlogs N,N,...] [--tenants T]
                            [--batch B] [--claims K] [--tenant-limit L]

Measures one claim (B runs, default 256) on a fresh database with each
backlog of queued runs (default 1000,100000) spread over T tenants (default
100), K claims each (default 50), against the previous claim (its candidate
query and the same updates) on the same data. --tenant-limit: each tenant's max_concurrent_runs
(default 0 = unlimited).
)";

struct options {
  std::vector<int64_t> backlogs{1'000, 100'000};
  int64_t tenants = 100;
  int64_t batch = 256;
  int64_t claims = 50;
  int64_t tenant_limit = 0;
};

bool parse_int(const std::string& v, int64_t& out) {
  auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
  return ec == std::errc{} && end == v.data() + v.size() && out > 0;
}

bool parse(int argc, char** argv, options& o) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") {
      std::cout << help;
      std::exit(0);
    }
    if (i + 1 >= argc) {
      std::cerr << "flowgate-bench-claim: " << a << " needs a value\n" << help;
      return false;
    }
    std::string v = argv[++i];
    bool ok = true;
    if (a == "--backlogs") {
      o.backlogs.clear();
      size_t start = 0;
      while (ok && start <= v.size()) {
        auto comma = v.find(',', start);
        int64_t n = 0;
        ok = parse_int(v.substr(start, comma - start), n);
        o.backlogs.push_back(n);
        start = comma == std::string::npos ? v.size() + 1 : comma + 1;
      }
    } else if (a == "--tenants") {
      ok = parse_int(v, o.tenants);
    } else if (a == "--batch") {
      ok = parse_int(v, o.batch);
    } else if (a == "--claims") {
      ok = parse_int(v, o.claims);
    } else if (a == "--tenant-limit") {
      ok = parse_int(v, o.tenant_limit);
    } else {
      std::cerr << "flowgate-bench-claim: unknown option " << a << "\n" << help;
      return false;
    }
    if (!ok) {
      std::cerr << "flowgate-bench-claim: " << a << " needs positive integers\n";
      return false;
    }
  }
  return true;
}

struct figures {
  double p50 = 0;
  double p99 = 0;
  double mean = 0;
};

figures summarize(std::vector<double> us) {
  std::sort(us.begin(), us.end());
  figures f;
  f.p50 = us[us.size() / 2];
  f.p99 = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  for (auto x : us) {
    f.mean += x;
  }
  f.mean /= static_cast<double>(us.size());
  return f;
}

void require(const caf::error& err, const char* what) {
  if (err) {
    std::cerr << "flowgate-bench-claim: " << what << ": " << describe(err) << "\n";
    std::exit(1);
  }
}

int run_backlog(const options& o, int64_t backlog) {
  auto dir =
    std::filesystem::temp_directory_path() / ("flowgate-claim-bench-" + std::to_string(getpid()));
  std::filesystem::create_directories(dir);
  auto path = (dir / "claim.db").string();
  sqlite_store_options opts{path, sync_mode::normal, 1000};
  auto writer = open_sqlite_writer(opts, 1);
  if (!writer) {
    require(writer.error(), "open");
  }
  auto db = sqlite::connection::open(sqlite::open_options{path, 5000, sync_mode::normal, false});
  if (!db) {
    require(db.error(), "open");
  }
  auto config = o.tenant_limit > 0
                  ? "{\"max_concurrent_runs\": " + std::to_string(o.tenant_limit) + "}"
                  : std::string{"{}"};
  require(db->exec("BEGIN"), "begin");
  require(db->exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
                   std::to_string(o.tenants) +
                   ") INSERT INTO tenants (tenant_id, config_json, created_at_ms, "
                   "updated_at_ms) SELECT 't' || i, '" +
                   config + "', 1, 1 FROM n"),
          "tenants");
  require(db->exec("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < " +
                   std::to_string(backlog) +
                   ") INSERT INTO runs (tenant_id, queue, config_tenant_id, config_version, "
                   "config_checksum, status, created_at_ms, updated_at_ms, wake_at_ms) SELECT "
                   "'t' || (1 + i % " +
                   std::to_string(o.tenants) + "), 'q', 't1', '1', 'c', 'PENDING', i, i, i FROM n"),
          "runs");
  require(db->exec("COMMIT"), "commit");
  constexpr int64_t now = 1'000'000'000;
  std::vector<double> claim_us;
  std::vector<double> baseline_us;
  tenant_id cursor;
  for (int64_t k = 0; k < o.claims; ++k) {
    claim_runs op;
    op.owner = node_id{"bench"};
    op.now_ms = now;
    op.lease_ttl_ms = 30'000;
    op.max_runs = static_cast<int32_t>(o.batch);
    op.after_tenant = cursor;
    auto t0 = clock_type::now();
    require((*writer)->begin(), "begin");
    auto won = (*writer)->apply(op);
    if (!won) {
      require(won.error(), "claim");
    }
    require((*writer)->commit(), "commit");
    claim_us.push_back(std::chrono::duration<double, std::micro>(clock_type::now() - t0).count());
    cursor = won->last_tenant;
    if (won->runs.empty()) {
      std::cerr << "flowgate-bench-claim: a claim won no run (due: "
                << *db->query_int("SELECT count(*) FROM runs WHERE status = 'PENDING'")
                << ", tenants: " << *db->query_int("SELECT count(*) FROM tenants") << ")\n";
      return 1;
    }
    // Hand the runs back (untimed), due again after the others.
    require(
      db->exec("UPDATE runs SET status = 'PENDING', lease_owner = NULL, "
               "lease_expires_at_ms = 0, lease_incarnation = 0, wake_at_ms = created_at_ms + " +
               std::to_string((k + 1) * backlog) + " WHERE lease_owner = 'bench'"),
      "hand back");
    // The previous claim on the same data: its candidate query, then the
    // same fenced update per run, in one transaction.
    auto b0 = clock_type::now();
    require(db->exec("BEGIN IMMEDIATE"), "begin");
    auto st = db->prepare(
      "SELECT c.run_id, c.tenant_id FROM (SELECT r.run_id, r.tenant_id, r.wake_at_ms, "
      "CASE WHEN coalesce(json_extract(t.config_json, '$.max_concurrent_runs'), -1) < 0 "
      "THEN 0 ELSE json_extract(t.config_json, '$.max_concurrent_runs') END AS lim "
      "FROM runs r JOIN tenants t ON t.tenant_id = r.tenant_id "
      "WHERE r.status IN ('PENDING', 'RUNNING', 'WAITING') AND r.wake_at_ms <= ?1 "
      "AND r.lease_expires_at_ms <= ?1) AS c "
      "WHERE c.lim = 0 OR (SELECT count(*) FROM runs x WHERE x.tenant_id = c.tenant_id "
      "AND x.status = 'RUNNING' AND x.lease_expires_at_ms > ?1) < c.lim "
      "ORDER BY c.wake_at_ms, c.run_id LIMIT ?2");
    auto update = db->prepare(
      "UPDATE runs SET status = 'RUNNING', wait_reason = NULL, lease_owner = ?2, "
      "lease_expires_at_ms = ?4, wake_at_ms = ?4, lease_epoch = lease_epoch + 1, "
      "updated_at_ms = ?3, started_at_ms = coalesce(started_at_ms, ?3) "
      "WHERE run_id = ?1 AND status IN ('PENDING', 'RUNNING', 'WAITING') AND wake_at_ms <= ?3 "
      "AND lease_expires_at_ms <= ?3 RETURNING *");
    if (!st || !update) {
      require(!st ? st.error() : update.error(), "baseline");
    }
    st->bind_all(now, o.batch * 8);
    std::vector<int64_t> ids;
    for (;;) {
      auto row = st->step();
      if (!row) {
        require(row.error(), "baseline");
      }
      if (!*row) {
        break;
      }
      ids.push_back(st->column_int64(0));
    }
    st->reset();
    int64_t taken = 0;
    for (auto id : ids) {
      if (taken == o.batch) {
        break;
      }
      update->bind_all(id, std::string{"old"}, now, now + 30'000);
      auto row = update->step();
      if (!row) {
        require(row.error(), "baseline");
      }
      taken += *row ? 1 : 0;
      update->reset();
    }
    require(db->exec("COMMIT"), "commit");
    baseline_us.push_back(
      std::chrono::duration<double, std::micro>(clock_type::now() - b0).count());
    require(db->exec("UPDATE runs SET status = 'PENDING', lease_owner = NULL, "
                     "lease_expires_at_ms = 0, wake_at_ms = created_at_ms + " +
                     std::to_string((k + 1) * backlog) + " WHERE lease_owner = 'old'"),
            "hand back");
  }
  auto c = summarize(claim_us);
  auto b = summarize(baseline_us);
  std::printf("backlog %7lld runs, %lld tenants, batch %lld: claim p50 %8.0f us  p99 %8.0f us  "
              "mean %8.0f us (%.1f us/run) | previous claim p50 %8.0f us  "
              "mean %8.0f us | ratio %.2fx\n",
              static_cast<long long>(backlog), static_cast<long long>(o.tenants),
              static_cast<long long>(o.batch), c.p50, c.p99, c.mean,
              c.mean / static_cast<double>(o.batch), b.p50, b.mean, b.mean / c.mean);
  writer->reset();
  std::filesystem::remove_all(dir);
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  if (!parse(argc, argv, o)) {
    return 2;
  }
  for (auto backlog : o.backlogs) {
    if (auto rc = run_backlog(o, backlog); rc != 0) {
      return rc;
    }
  }
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  std::printf("peak RSS %.1f MB\n", static_cast<double>(ru.ru_maxrss) / 1024.0);
  return 0;
}
