#pragma once

/// `flowgate check` on SQLite and PostgreSQL: the check's read primitives
/// (persistence/store_check.hpp) over one connection, in one read
/// transaction (REPEATABLE READ on PostgreSQL: one snapshot for every rule).

#include "messages/check_messages.hpp"

#include <caf/expected.hpp>

namespace flowgate {
namespace sqlite {
class connection;
}
namespace pg {
class connection;
}
} // namespace flowgate

namespace flowgate::sql_check {

[[nodiscard]] caf::expected<check_report> apply(sqlite::connection& db, const check_database& q);
[[nodiscard]] caf::expected<check_report> apply(pg::connection& db, const check_database& q);

} // namespace flowgate::sql_check
