#pragma once

/// `flowgate run ...` and `flowgate replay`.

#include "tools/cli_args.hpp"

namespace flowgate {
class node;
} // namespace flowgate

namespace flowgate::cli {

extern const char* const run_help;
extern const char* const replay_help;

int run_command(node& n, const args& a, bool as_json);
int replay_command(node& n, const args& a, bool as_json);

} // namespace flowgate::cli
