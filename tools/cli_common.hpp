#pragma once

/// Helpers shared by the `flowgate` commands: exit codes, error output,
/// option access, time formatting, JSON output.

#include "api/views.hpp"
#include "messages/errors.hpp"
#include "tools/cli_args.hpp"

#include <boost/json/value.hpp>

#include <cstdint>
#include <string>

namespace flowgate::cli {

constexpr int exit_ok = 0;
constexpr int exit_failure = 1;
constexpr int exit_usage = 2;

/// Thrown by command handlers for a usage error (exit 2).
struct usage_error {
  std::string message;
};

/// Prints `flowgate: error: ...` and returns exit_failure.
int fail(const std::string& message);
int fail(const caf::error& e);

/// The option's value, or a usage error naming it.
std::string require(const args& a, const std::string& name);

/// An integer option, or `fallback`; a usage error if it is no integer in [min, max].
int64_t int_option(const args& a, const std::string& name, int64_t fallback, int64_t min,
                   int64_t max);

/// Reads a document from --file, the positional word at `word_index`
/// ('-' = stdin), else returns `fallback`.
std::string read_document(const args& a, size_t word_index, const std::string& fallback);

/// Reads a whole file ('-' = stdin); throws std::runtime_error naming it.
std::string read_file(const std::string& path);

/// RFC 3339 UTC, or "-" for 0 (the API's views print times the same way).
using views::format_time;

void print_json(const boost::json::value& v);

} // namespace flowgate::cli
