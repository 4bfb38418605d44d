#pragma once

/// `flowgate subscription ...` and `flowgate quota ...`.

#include "tools/cli_args.hpp"

namespace flowgate {
class node;
class gateway_client;
} // namespace flowgate

namespace flowgate::cli {

extern const char* const subscription_help;
extern const char* const quota_help;

int subscription_command(gateway_client& n, const args& a, bool as_json);
int quota_command(gateway_client& n, const args& a, bool as_json);

} // namespace flowgate::cli
