#pragma once

/// `flowgate schedule ...`: a tenant's schedules.

#include "tools/cli_args.hpp"

namespace flowgate {
class node;
} // namespace flowgate

namespace flowgate::cli {

extern const char* const schedule_help;

int schedule_command(node& n, const args& a, bool as_json);

} // namespace flowgate::cli
