#pragma once

/// `flowgate serve`, `flowgate run ...` and `flowgate replay`.

#include "config/node_settings.hpp"
#include "tools/cli_args.hpp"

#include <caf/fwd.hpp>

#include <csignal>

namespace flowgate {
class node;
} // namespace flowgate

namespace flowgate::cli {

extern const char* const serve_help;
extern const char* const run_help;
extern const char* const replay_help;
extern const char* const subscription_help;
extern const char* const quota_help;

/// Applies serve's flags to `settings`; usage errors throw `usage_error`.
void apply_serve_flags(const args& a, node_settings& settings);

/// The signals `serve` stops on; block them before any thread starts so
/// that `serve_command` can wait for them.
sigset_t stop_signals();

/// Runs a node until SIGINT/SIGTERM, then drains it.
int serve_command(caf::actor_system& sys, const node_settings& settings, bool as_json);

int run_command(node& n, const args& a, bool as_json);
int replay_command(node& n, const args& a, bool as_json);
int subscription_command(node& n, const args& a, bool as_json);
int quota_command(node& n, const args& a, bool as_json);

} // namespace flowgate::cli
