#pragma once

/// `flowgate tenant ...`, `flowgate config ...` and `flowgate db ...`.

#include "tools/cli_args.hpp"

namespace flowgate {
class node;
class gateway_client;
} // namespace flowgate

namespace flowgate::cli {

extern const char* const tenant_help;
extern const char* const config_help;
extern const char* const db_help;

int tenant_command(gateway_client& n, const args& a, bool as_json);
int config_command(gateway_client& n, const args& a, bool as_json);
int db_command(node& n, const args& a, bool as_json);

} // namespace flowgate::cli
