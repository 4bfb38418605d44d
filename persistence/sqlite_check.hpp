#pragma once

/// `flowgate check` on SQLite: the check's read primitives
/// (persistence/store_check.hpp) over one connection, in one read
/// transaction.

#include "messages/check_messages.hpp"
#include "persistence/sqlite.hpp"

#include <caf/expected.hpp>

namespace flowgate::sqlite_check {

[[nodiscard]] caf::expected<check_report> apply(sqlite::connection& db, const check_database& q);

} // namespace flowgate::sqlite_check
