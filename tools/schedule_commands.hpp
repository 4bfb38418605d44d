#pragma once

/// `flowgate schedule ...`: a tenant's schedules.

#include "tools/cli_args.hpp"

namespace flowgate {
class node;
class gateway_client;
} // namespace flowgate

namespace flowgate::cli {

extern const char* const schedule_help;

int schedule_command(gateway_client& n, const args& a, bool as_json);

} // namespace flowgate::cli
