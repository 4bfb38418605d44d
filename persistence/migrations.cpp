#include "persistence/migrations.hpp"

#include "messages/errors.hpp"

namespace flowgate {

namespace {

const migration migrations[] = {
  {1, "initial schema", R"sql(
CREATE TABLE tenants (
  tenant_id     TEXT PRIMARY KEY,
  name          TEXT NOT NULL DEFAULT '',
  tier          TEXT NOT NULL DEFAULT 'solo' CHECK (tier IN ('solo', 'pro', 'premium')),
  config_json   TEXT NOT NULL DEFAULT '{}',
  created_at_ms INTEGER NOT NULL,
  updated_at_ms INTEGER NOT NULL
) WITHOUT ROWID;

CREATE TABLE pipeline_configs (
  tenant_id     TEXT NOT NULL REFERENCES tenants (tenant_id),
  queue         TEXT NOT NULL,
  version       TEXT NOT NULL,
  checksum      TEXT NOT NULL,
  pipeline_name TEXT NOT NULL,
  document      TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, queue, version)
) WITHOUT ROWID;

CREATE TABLE active_configs (
  tenant_id       TEXT NOT NULL,
  queue           TEXT NOT NULL,
  version         TEXT NOT NULL,
  activated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, queue),
  FOREIGN KEY (tenant_id, queue, version)
    REFERENCES pipeline_configs (tenant_id, queue, version)
) WITHOUT ROWID;

CREATE TABLE runs (
  run_id              INTEGER PRIMARY KEY,
  tenant_id           TEXT NOT NULL REFERENCES tenants (tenant_id),
  queue               TEXT NOT NULL,
  config_tenant_id    TEXT NOT NULL,
  config_version      TEXT NOT NULL,
  config_checksum     TEXT NOT NULL,
  status              TEXT NOT NULL CHECK (status IN
                        ('PENDING', 'RUNNING', 'WAITING', 'COMPLETED', 'FAILED', 'CANCELED')),
  wait_reason         TEXT,
  node_path           TEXT NOT NULL DEFAULT '',
  input               TEXT NOT NULL DEFAULT 'null',
  output              TEXT,
  error_type          TEXT,
  error_message       TEXT,
  idempotency_key     TEXT,
  next_seq            INTEGER NOT NULL DEFAULT 1,
  wake_at_ms          INTEGER NOT NULL DEFAULT 0,
  lease_owner         TEXT,
  lease_expires_at_ms INTEGER NOT NULL DEFAULT 0,
  lease_epoch         INTEGER NOT NULL DEFAULT 0,
  created_at_ms       INTEGER NOT NULL,
  updated_at_ms       INTEGER NOT NULL,
  started_at_ms       INTEGER,
  finished_at_ms      INTEGER
);
CREATE INDEX runs_due ON runs (status, wake_at_ms);
CREATE INDEX runs_tenant_status ON runs (tenant_id, status);
CREATE INDEX runs_lease_owner ON runs (lease_owner) WHERE lease_owner IS NOT NULL;
CREATE UNIQUE INDEX runs_idempotency ON runs (tenant_id, idempotency_key)
  WHERE idempotency_key IS NOT NULL;

CREATE TABLE run_events (
  run_id        INTEGER NOT NULL,
  seq           INTEGER NOT NULL,
  tenant_id     TEXT NOT NULL,
  event_type    TEXT NOT NULL,
  node_path     TEXT NOT NULL DEFAULT '',
  attempt       INTEGER NOT NULL DEFAULT 0,
  payload       TEXT NOT NULL DEFAULT 'null',
  created_at_ms INTEGER NOT NULL,
  PRIMARY KEY (run_id, seq)
) WITHOUT ROWID;

CREATE TABLE run_steps (
  run_id          INTEGER NOT NULL,
  step_path       TEXT NOT NULL,
  attempt         INTEGER NOT NULL,
  tenant_id       TEXT NOT NULL,
  status          TEXT NOT NULL CHECK (status IN
                    ('started', 'completed', 'failed', 'cut_off', 'canceled')),
  period_start_ms INTEGER NOT NULL DEFAULT 0,
  period_end_ms   INTEGER NOT NULL DEFAULT 0,
  node_id         TEXT,
  lease_epoch     INTEGER NOT NULL DEFAULT 0,
  started_at_ms   INTEGER NOT NULL,
  finished_at_ms  INTEGER,
  error_type      TEXT,
  error_message   TEXT,
  PRIMARY KEY (run_id, step_path, attempt)
) WITHOUT ROWID;
CREATE INDEX run_steps_tenant_period ON run_steps (tenant_id, period_start_ms, period_end_ms);

CREATE TABLE run_waits (
  wait_id        INTEGER PRIMARY KEY,
  run_id         INTEGER NOT NULL,
  tenant_id      TEXT NOT NULL,
  kind           TEXT NOT NULL CHECK (kind IN ('quota', 'event', 'timer', 'nondeterminism')),
  node_path      TEXT NOT NULL,
  event_name     TEXT,
  wake_at_ms     INTEGER,
  created_at_ms  INTEGER NOT NULL,
  resolved_at_ms INTEGER,
  resolution     TEXT
);
CREATE INDEX run_waits_open ON run_waits (kind, tenant_id, wait_id) WHERE resolved_at_ms IS NULL;
CREATE INDEX run_waits_run ON run_waits (run_id);

CREATE TABLE usage_periods (
  tenant_id       TEXT NOT NULL,
  period_start_ms INTEGER NOT NULL,
  period_end_ms   INTEGER NOT NULL,
  used_count      INTEGER NOT NULL DEFAULT 0 CHECK (used_count >= 0),
  step_limit      INTEGER NOT NULL DEFAULT -1,
  updated_at_ms   INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, period_start_ms, period_end_ms)
) WITHOUT ROWID;

CREATE TABLE subscriptions (
  tenant_id               TEXT NOT NULL,
  subscription_id         TEXT NOT NULL,
  status                  TEXT NOT NULL,
  current_period_start_ms INTEGER,
  current_period_end_ms   INTEGER,
  price_metadata          TEXT NOT NULL DEFAULT '{}',
  product_metadata        TEXT NOT NULL DEFAULT '{}',
  updated_at_ms           INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, subscription_id)
) WITHOUT ROWID;

CREATE TABLE nodes (
  node_id         TEXT PRIMARY KEY,
  address         TEXT NOT NULL DEFAULT '',
  pid             INTEGER NOT NULL DEFAULT 0,
  started_at_ms   INTEGER NOT NULL,
  heartbeat_at_ms INTEGER NOT NULL,
  stopped_at_ms   INTEGER
) WITHOUT ROWID;
)sql"},
  {2, "run inbox", R"sql(
-- Signals and cancellations for a run, written by any process; the run's
-- lease holder moves them into the history (consumed_seq = their event).
CREATE TABLE run_signals (
  signal_id     INTEGER PRIMARY KEY,
  run_id        INTEGER NOT NULL REFERENCES runs (run_id),
  tenant_id     TEXT NOT NULL,
  kind          TEXT NOT NULL CHECK (kind IN ('signal', 'cancel')),
  event_name    TEXT NOT NULL DEFAULT '',
  payload       TEXT NOT NULL DEFAULT 'null',
  created_at_ms INTEGER NOT NULL,
  consumed_seq  INTEGER
);
CREATE INDEX run_signals_pending ON run_signals (run_id, signal_id) WHERE consumed_seq IS NULL;
-- 1 while the run has unconsumed inbox entries: appends check it in the row
-- they update anyway instead of querying run_signals every time.
ALTER TABLE runs ADD COLUMN inbox_pending INTEGER NOT NULL DEFAULT 0;
)sql"},
  {3, "admission counters", R"sql(
-- New runs refused per tenant and reason (tenant_at_limit, soft_limit,
-- hard_limit), counted in the transaction that decided.
CREATE TABLE tenant_rejections (
  tenant_id     TEXT NOT NULL,
  reason        TEXT NOT NULL,
  rejected      INTEGER NOT NULL DEFAULT 0,
  updated_at_ms INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, reason)
) WITHOUT ROWID;
)sql"},
  {4, "cheaper step ledger", R"sql(
-- Every step attempt inserts a ledger row; a (tenant, period) index put
-- each insert in one of as many index leaves as there are active tenants
-- and halved the rate of reservations. Reconciliation finds a tenant's
-- ledger rows through its runs instead (runs_tenant_status, then the
-- ledger's primary key, which starts with run_id).
DROP INDEX IF EXISTS run_steps_tenant_period;
)sql"},
  {5, "membership and claim order", R"sql(
-- Node membership: each start of a serving process takes the next
-- incarnation of its node id; leases carry it, so a duplicate or stale
-- process can never renew, release or append under another's lease.
ALTER TABLE nodes ADD COLUMN incarnation INTEGER NOT NULL DEFAULT 0;
ALTER TABLE nodes ADD COLUMN host TEXT NOT NULL DEFAULT '';
ALTER TABLE nodes ADD COLUMN ttl_ms INTEGER NOT NULL DEFAULT 0;
-- A node's last claim: nodes that are claiming take their own share of a
-- limited tenant's permits; the others leave it to them.
ALTER TABLE nodes ADD COLUMN claimed_at_ms INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN lease_incarnation INTEGER NOT NULL DEFAULT 0;
-- Claims probe each tenant's due runs per status class in wake order
-- (runs_tenant_status was a prefix of this index).
DROP INDEX IF EXISTS runs_tenant_status;
CREATE INDEX runs_tenant_due ON runs (tenant_id, status, wake_at_ms);
CREATE INDEX runs_lease_holder ON runs (lease_owner, lease_incarnation)
  WHERE lease_owner IS NOT NULL;
DROP INDEX IF EXISTS runs_lease_owner;
)sql"},
  {6, "schedules", R"sql(
-- A tenant's schedules (FORMATS.md "Schedule") and their firing state:
-- a fire plans from next_fire_ms and moves it in the same transaction.
CREATE TABLE schedules (
  tenant_id        TEXT NOT NULL REFERENCES tenants (tenant_id),
  schedule_id      TEXT NOT NULL,
  document         TEXT NOT NULL,
  paused           INTEGER NOT NULL DEFAULT 0,
  revision         INTEGER NOT NULL,
  next_fire_ms     INTEGER NOT NULL,
  buffered_fire_ms INTEGER NOT NULL DEFAULT 0,
  last_fire_ms     INTEGER NOT NULL DEFAULT 0,
  last_run_id      INTEGER NOT NULL DEFAULT 0,
  runs_started     INTEGER NOT NULL DEFAULT 0,
  fires_skipped    INTEGER NOT NULL DEFAULT 0,
  last_outcome     TEXT NOT NULL DEFAULT '',
  created_at_ms    INTEGER NOT NULL,
  updated_at_ms    INTEGER NOT NULL,
  PRIMARY KEY (tenant_id, schedule_id)
) WITHOUT ROWID;
CREATE INDEX schedules_due ON schedules (next_fire_ms) WHERE paused = 0;
)sql"},
  {7, "child runs", R"sql(
-- A child run (a `child` node's attempt) names its parent, the node and the
-- attempt it is: one child per attempt. Its end is appended to the
-- parent's history by the transaction that ends it.
ALTER TABLE runs ADD COLUMN parent_run_id INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN parent_node_path TEXT NOT NULL DEFAULT '';
ALTER TABLE runs ADD COLUMN parent_attempt INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN child_depth INTEGER NOT NULL DEFAULT 0;
-- 1 once the run started a child: its end looks for children to cancel
-- only then (the flag comes back with the fenced append's row).
ALTER TABLE runs ADD COLUMN has_children INTEGER NOT NULL DEFAULT 0;
CREATE UNIQUE INDEX runs_parent ON runs (parent_run_id, parent_node_path, parent_attempt)
  WHERE parent_run_id > 0;
)sql"},
  {8, "api keys", R"sql(
-- Keys of remote clients (config/api_key.hpp): an operator's (tenant_id
-- NULL) or one tenant's. Only the SHA-256 of the secret is kept.
CREATE TABLE api_keys (
  key_id        TEXT PRIMARY KEY,
  tenant_id     TEXT REFERENCES tenants (tenant_id),
  name          TEXT NOT NULL DEFAULT '',
  secret_sha256 TEXT NOT NULL,
  created_at_ms INTEGER NOT NULL,
  revoked_at_ms INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
)sql"},
  {9, "tenant ownership", R"sql(
-- A limited tenant's ownership lease (docs/run-model.md "Tenant
-- ownership"): while its owner is live and claiming, only the owner admits
-- the tenant's runs. Taken, renewed and given up in the owners' lease
-- renewals; epoch + 1 at every change of owner. expires_at_ms 0: given up.
CREATE TABLE tenant_owners (
  tenant_id     TEXT PRIMARY KEY,
  owner         TEXT NOT NULL,
  incarnation   INTEGER NOT NULL,
  epoch         INTEGER NOT NULL,
  expires_at_ms INTEGER NOT NULL,
  since_ms      INTEGER NOT NULL
) WITHOUT ROWID;
-- Free run slots of a node after its last claim: an owner without room
-- leaves its tenants' admissions to the other nodes.
ALTER TABLE nodes ADD COLUMN room INTEGER NOT NULL DEFAULT 0;
)sql"},
  {10, "first step of a queued run", R"sql(
-- A run created PENDING keeps the first decision its creator planned (the
-- events and ledger rows of its first attempt, JSON): the claim that
-- gives it its first lease records it, one commit instead of two. Emptied
-- by the run's first append.
ALTER TABLE runs ADD COLUMN first_plan TEXT NOT NULL DEFAULT '';
)sql"},
  {11, "no index of all runs by status", R"sql(
-- No statement looks runs up by status and wake time across tenants
-- (claims use runs_tenant_due, the lease renewals runs_lease_holder), but
-- every run's insert and every change of its status or wake time kept this
-- index too: two B-tree writes per run for nothing.
DROP INDEX IF EXISTS runs_due;
)sql"},
  {12, "due index of unfinished runs", R"sql(
-- Claims, admission and the tenant counts look a tenant's runs up by
-- status only among the unfinished ones. Finished runs (in time nearly
-- every row) no longer keep an entry here, so the index stays as large as
-- the runs in flight, and a run's end deletes its entry instead of writing
-- another one. The statements that use it repeat this WHERE term word for
-- word (FLOWGATE_UNFINISHED_PG): SQLite uses a partial index only for a query
-- that contains its condition.
DROP INDEX IF EXISTS runs_tenant_due;
CREATE INDEX runs_tenant_due ON runs (tenant_id, status, wake_at_ms)
  WHERE status IN ('PENDING', 'RUNNING', 'WAITING');
)sql"},
  {13, "no constant lists on the hot rows", R"sql(
-- SQLite evaluates `x IN (a, b, c)` over three or more constants through
-- an ephemeral B-tree that it builds anew at every execution of the
-- statement (about 1.4 us each here); two or fewer, and OR chains, are
-- plain comparisons. Every insert into runs and run_steps checked its
-- status CHECK that way, every change of a run's status its CHECK and the
-- due index's condition for the old and the new row: up to four B-trees
-- built per statement, about a third of a one-step run's store CPU.
-- The CHECKs become the same conditions as OR chains. Their text is
-- edited in place, the procedure SQLite documents for changing a CHECK
-- (https://sqlite.org/lang_altertable.html, "other kinds of table schema
-- changes"): the rows' format does not change and every stored row
-- satisfies the new, equivalent condition. The index is rebuilt with its
-- condition as an OR chain, which the statements that use it repeat
-- (FLOWGATE_UNFINISHED_LITE; its unary + keeps the planner from making a
-- list of it again to look each status up). PostgreSQL plans a constant list as one array
-- comparison: its schema does not change.
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(sql, 'CHECK (status IN
                        (''PENDING'', ''RUNNING'', ''WAITING'', ''COMPLETED'', ''FAILED'', ''CANCELED''))',
  'CHECK (status = ''PENDING'' OR status = ''RUNNING'' OR status = ''WAITING''
                        OR status = ''COMPLETED'' OR status = ''FAILED'' OR status = ''CANCELED'')')
  WHERE type = 'table' AND name = 'runs';
UPDATE sqlite_master SET sql = replace(sql, 'CHECK (status IN
                    (''started'', ''completed'', ''failed'', ''cut_off'', ''canceled''))',
  'CHECK (status = ''started'' OR status = ''completed'' OR status = ''failed''
                    OR status = ''cut_off'' OR status = ''canceled'')')
  WHERE type = 'table' AND name = 'run_steps';
UPDATE sqlite_master SET sql = replace(sql,
  'CHECK (kind IN (''quota'', ''event'', ''timer'', ''nondeterminism''))',
  'CHECK (kind = ''quota'' OR kind = ''event'' OR kind = ''timer'' OR kind = ''nondeterminism'')')
  WHERE type = 'table' AND name = 'run_waits';
PRAGMA writable_schema = RESET;
DROP INDEX IF EXISTS runs_tenant_due;
CREATE INDEX runs_tenant_due ON runs (tenant_id, status, wake_at_ms)
  WHERE (+status = 'PENDING' OR +status = 'RUNNING' OR +status = 'WAITING');
)sql",
   ""},
};

} // namespace

std::span<const migration> schema_migrations() {
  return migrations;
}

caf::error check_reader_schema(int32_t version, const std::string& location) {
  if (version > latest_schema_version()) {
    return make_error(errc::schema_too_new, "database '" + location + "' has schema version " +
                                              std::to_string(version) +
                                              ", newer than this flowgate supports (" +
                                              std::to_string(latest_schema_version()) + ")");
  }
  if (version < latest_schema_version()) {
    return make_error(errc::store_failure, "database '" + location + "' has schema version " +
                                             std::to_string(version) + ", expected " +
                                             std::to_string(latest_schema_version()) +
                                             " (run 'flowgate db migrate')");
  }
  return {};
}

int32_t latest_schema_version() {
  return migrations[std::size(migrations) - 1].version;
}

caf::expected<int32_t> schema_version(sqlite::connection& db) {
  auto exists = db.query_int(
    "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'");
  if (!exists) {
    return exists.error();
  }
  if (*exists == 0) {
    return 0;
  }
  auto v = db.query_int("SELECT coalesce(max(version), 0) FROM schema_migrations");
  if (!v) {
    return v.error();
  }
  return static_cast<int32_t>(*v);
}

caf::expected<std::vector<std::string>> migrate(sqlite::connection& db, int64_t now_ms) {
  if (auto err = db.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
                         " version INTEGER PRIMARY KEY, name TEXT NOT NULL,"
                         " applied_at_ms INTEGER NOT NULL)")) {
    return err;
  }
  auto current = schema_version(db);
  if (!current) {
    return current.error();
  }
  if (*current > latest_schema_version()) {
    return make_error(errc::schema_too_new,
                      "database '" + db.path() + "' has schema version " +
                        std::to_string(*current) + ", newer than this flowgate supports (" +
                        std::to_string(latest_schema_version()) +
                        "); upgrade flowgate instead of opening it with an older binary");
  }
  std::vector<std::string> applied;
  for (const auto& m : migrations) {
    if (m.version <= *current) {
      continue;
    }
    sqlite::transaction txn{db};
    if (auto err = txn.begin()) {
      return err;
    }
    // Re-check under the write lock: another process may have migrated meanwhile.
    auto now_version = schema_version(db);
    if (!now_version) {
      return now_version.error();
    }
    if (*now_version >= m.version) {
      continue;
    }
    if (auto err = db.exec(m.sql)) {
      return make_error(errc::store_failure, "migration " + std::to_string(m.version) + " (" +
                                               m.name + "): " + describe(err));
    }
    auto record = db.prepare("INSERT INTO schema_migrations (version, name, applied_at_ms) "
                             "VALUES (?1, ?2, ?3)");
    if (!record) {
      return record.error();
    }
    record->bind_all(int64_t{m.version}, std::string{m.name}, now_ms);
    if (auto err = record->run()) {
      return err;
    }
    if (auto err = txn.commit()) {
      return err;
    }
    applied.push_back(std::to_string(m.version) + " " + m.name);
  }
  return applied;
}

} // namespace flowgate
