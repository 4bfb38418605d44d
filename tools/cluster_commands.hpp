#pragma once

/// `flowgate cluster ...`: membership as the store records it.

#include "tools/cli_args.hpp"

namespace flowgate {
class node;
class gateway_client;
} // namespace flowgate

namespace flowgate::cli {

extern const char* const cluster_help;

/// `cluster status`: every registered serving node, live or dead.
int cluster_command(gateway_client& n, const args& a, bool as_json);

} // namespace flowgate::cli
