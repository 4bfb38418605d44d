#pragma once

/// SQL text helpers shared by the SQLite and PostgreSQL layers.

#include <string>
#include <string_view>

namespace flowgate {

/// A statement named by its first words ("UPDATE runs SET"), never its whole
/// text: errors name the operation, not 600 characters of SQL.
std::string statement_label(std::string_view sql);

/// The store's SQL is written with SQLite's `?N` parameters; PostgreSQL
/// takes `$N`. Rewrites every `?` followed by digits outside string
/// literals and quoted identifiers.
std::string dollar_parameters(std::string_view sql);

} // namespace flowgate
