#pragma once

/// `flowgate serve`.

#include "actors/client.hpp"
#include "config/node_settings.hpp"
#include "tools/cli_args.hpp"

#include <caf/fwd.hpp>

#include <csignal>

namespace flowgate::cli {

extern const char* const serve_help;

/// Applies serve's flags to `settings`; usage errors throw `usage_error`.
void apply_serve_flags(const args& a, node_settings& settings);

/// The signals `serve` stops on; block them before any thread starts so
/// that `serve_command` can wait for them.
sigset_t stop_signals();

/// Runs a node until SIGINT/SIGTERM, then drains it; exits 1 if the node
/// was fenced (a newer process registered its node id).
/// `tls`: the node's certificate and key also serve its HTTP API as HTTPS.
int serve_command(caf::actor_system& sys, const node_settings& settings, const tls_files& tls,
                  bool as_json);

} // namespace flowgate::cli
