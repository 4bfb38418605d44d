#pragma once

/// `flowgate run ...` and `flowgate replay`.

#include "tools/cli_args.hpp"

namespace flowgate {
class node;
class gateway_client;
} // namespace flowgate

namespace flowgate::cli {

extern const char* const run_help;
extern const char* const replay_help;

int run_command(gateway_client& n, const args& a, bool as_json);
int replay_command(gateway_client& n, const args& a, bool as_json);

} // namespace flowgate::cli
