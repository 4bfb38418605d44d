#pragma once

/// `flowgate key create|list|revoke`: API keys of remote clients.

#include "tools/cli_args.hpp"

namespace flowgate {
class gateway_client;
} // namespace flowgate

namespace flowgate::cli {

extern const char* const key_help;

int key_command(gateway_client& n, const args& a, bool as_json);

} // namespace flowgate::cli
