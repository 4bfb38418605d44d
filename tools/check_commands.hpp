#pragma once

/// `flowgate check`: the stored invariants of a database.

#include "tools/cli_args.hpp"

namespace flowgate {
class node;
class gateway_client;
} // namespace flowgate

namespace flowgate::cli {

extern const char* const check_help;

/// `check [--tenant T] [--max-findings N]`: exit 1 with the findings.
int check_command(gateway_client& n, const args& a, bool as_json);

} // namespace flowgate::cli
