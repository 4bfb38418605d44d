#pragma once

/// SQLite implementation of the store interface (persistence/store.hpp).
/// Opening a write session applies pending migrations; opening a read
/// session checks that the schema is current.

#include "config/node_settings.hpp"
#include "persistence/store.hpp"

#include <caf/expected.hpp>

#include <memory>
#include <string>
#include <vector>

namespace flowgate {

/// Where and how to open the SQLite store.
struct sqlite_store_options {
  std::string path = "flowgate.db";
  sync_mode synchronous = sync_mode::full;
  int64_t busy_timeout_ms = 5000;
  /// Run quick_check when the writer opens the file (refuse a damaged one).
  bool open_check = true;
};

/// Options from node settings.
sqlite_store_options store_options_from(const node_settings& s);

/// Opens the write connection and migrates the schema. `applied` (if not
/// null) receives the names of migrations applied now.
[[nodiscard]] caf::expected<std::unique_ptr<write_session>>
open_sqlite_writer(const sqlite_store_options& opts, int64_t now_ms,
                   std::vector<std::string>* applied = nullptr);

/// Opens a read connection. Errors: `schema_too_new`, or `store_failure` if
/// the schema is older than this binary (open a writer first).
[[nodiscard]] caf::expected<std::unique_ptr<read_session>>
open_sqlite_reader(const sqlite_store_options& opts);

} // namespace flowgate
