// The `flowgate` binary: admin commands over a node's store.
// Exit codes: 0 success, 1 failure, 2 usage error. Errors go to stderr.

#include "actors/client.hpp"
#include "actors/node.hpp"
#include "actors/scheduler_threads.hpp"
#include "config/pipeline.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"
#include "persistence/open_store.hpp"
#include "tools/admin_commands.hpp"
#include "tools/billing_commands.hpp"
#include "tools/check_commands.hpp"
#include "tools/cli_args.hpp"
#include "tools/cli_common.hpp"
#include "tools/cluster_commands.hpp"
#include "tools/key_commands.hpp"
#include "tools/run_commands.hpp"
#include "tools/schedule_commands.hpp"
#include "tools/serve_commands.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/config.hpp>
#include <openssl/crypto.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <map>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string_view>

namespace json = boost::json;
using flowgate::cli::args;
using namespace flowgate::cli;

namespace {

const char* const main_help = R"(flowgate - multi-tenant durable workflow runtime

Usage: flowgate [--db PATH|URL] [--json] <group> <command> [arguments]

Groups and commands:
  tenant put ID [FILE|-]       create or replace a tenant from its JSON config
                               (FILE, '-' for stdin; none = all defaults)
  tenant get ID                show a tenant
  tenant list                  list tenants
  config put --tenant T --queue Q --version V [FILE|-]
                               validate and store a pipeline version (immutable)
  config get --tenant T --queue Q [--version V]
                               show the version a run would use (or V)
  config list --tenant T [--queue Q]
                               list stored versions
  config activate --tenant T --queue Q --version V
                               make V the queue's active version
  db migrate                   create or upgrade the database schema
  db info                      show schema version, journal mode, row counts
  serve [options]              run a node: claim, drive and execute runs
  run start|status|list|history|signal|cancel|wait|resume
                               start and inspect runs (see 'flowgate run --help')
  replay RUN|--all             re-run stored histories, report non-determinism
  check [--tenant T]           verify the stored invariants; exit 1 with findings
  subscription set|get --tenant T [FILE|-]
                               a tenant's billing subscriptions
  schedule put|get|list|delete|pause|resume --tenant T [--id ID] [FILE|-]
                               a tenant's cron schedules (see 'flowgate schedule --help')
  quota summary --tenant T     billing period, step limit, used and remaining
  quota reconcile --tenant T [--period START]
                               usage counter vs ledger, and the drift
  quota scan                   resume quota-paused runs that have quota now
  cluster status               serving nodes: live or dead, address, runs held
  key create|list|revoke       API keys of remote clients (see 'flowgate key --help')

Options:
  --db PATH|URL       the store: a SQLite file, or a PostgreSQL database as
                      postgresql://USER[:PASSWORD]@HOST[:PORT]/DBNAME[?PARAMS]
                      (libpq URL; default: $FLOWGATE_DB or ./flowgate.db)
  --synchronous MODE  off | normal | full (default: $FLOWGATE_SYNCHRONOUS or full)
  --json              machine-readable output on stdout
  --connect HOST:PORT run the command through a live node ('serve --listen')
                      instead of opening the database ($FLOWGATE_CONNECT); every
                      group but serve and db. Needs an API key and TLS:
  --key KEY           the API key ($FLOWGATE_KEY; or --key-file FILE); with a
                      tenant's key --tenant may be left out (it is the key's)
  --tls-cert FILE     this client's certificate, signed by the cluster's CA
                      ($FLOWGATE_TLS_CERT)
  --tls-key FILE      its private key ($FLOWGATE_TLS_KEY)
  --tls-ca FILE       the cluster's CA certificate ($FLOWGATE_TLS_CA)
  --help, -h          help for flowgate or for a group/command
  --version           the version of flowgate and of the libraries it runs on

A blank tenant id ("") means the default tenant ($FLOWGATE_DEFAULT_TENANT_ID, else
00000000-0000-4000-8000-000000000000); ids are trimmed and lower-cased.
Exit status: 0 on success, 1 on failure, 2 on usage errors.
)";

/// True for commands that may create the database file.
bool may_create_database(const args& a) {
  if (!a.words.empty() && a.words[0] == "serve") {
    return true;
  }
  if (a.words.size() < 2) {
    return false;
  }
  const auto& g = a.words[0];
  const auto& c = a.words[1];
  return (g == "db" && c == "migrate") || (g == "key" && c == "create") || c == "put" ||
         c == "activate" || c == "set";
}

} // namespace

int main(int argc, char** argv) {
  if (argc == 2 && std::string_view{argv[1]} == "--version") {
    std::cout << "flowgate " << FLOWGATE_VERSION << " (CAF " << CAF_VERSION / 10000 << "."
              << CAF_VERSION / 100 % 100 << "." << CAF_VERSION % 100 << ", "
              << flowgate::store_library_versions() << ", OpenSSL "
              << OpenSSL_version(OPENSSL_VERSION_STRING) << ")\n";
    return exit_ok;
  }
  std::string parse_error;
  auto parsed = flowgate::cli::parse_args(argc, argv, parse_error);
  if (!parsed) {
    std::cerr << "flowgate: " << parse_error << "\n(see 'flowgate --help')\n";
    return exit_usage;
  }
  const auto& a = *parsed;
  const std::string group = a.words.empty() ? "" : a.words[0];
  if (a.has_flag("help") || group.empty() || group == "help") {
    if (group == "tenant") {
      std::cout << tenant_help;
    } else if (group == "config") {
      std::cout << config_help;
    } else if (group == "db") {
      std::cout << db_help;
    } else if (group == "serve") {
      std::cout << serve_help;
    } else if (group == "run") {
      std::cout << run_help;
    } else if (group == "replay") {
      std::cout << replay_help;
    } else if (group == "subscription") {
      std::cout << subscription_help;
    } else if (group == "schedule") {
      std::cout << schedule_help;
    } else if (group == "quota") {
      std::cout << quota_help;
    } else if (group == "cluster") {
      std::cout << cluster_help;
    } else if (group == "check") {
      std::cout << check_help;
    } else if (group == "key") {
      std::cout << key_help;
    } else {
      std::cout << main_help;
    }
    return group.empty() && !a.has_flag("help") ? exit_usage : exit_ok;
  }
  // The commands each group handles (tenant_command, config_command, db_command).
  static const std::map<std::string, std::set<std::string>> commands = {
    {"tenant", {"put", "get", "list", "stats"}},
    {"config", {"put", "get", "list", "activate"}},
    {"db", {"migrate", "info"}},
    {"run", {"start", "status", "list", "history", "signal", "cancel", "wait", "resume"}},
    {"subscription", {"set", "get"}},
    {"schedule", {"put", "get", "list", "delete", "pause", "resume"}},
    {"quota", {"summary", "reconcile", "scan"}},
    {"cluster", {"status"}},
    {"key", {"create", "list", "revoke"}}};
  // Single-word commands.
  bool single = group == "serve" || group == "replay" || group == "check";
  auto known = commands.find(group);
  if (known == commands.end() && !single) {
    std::cerr << "flowgate: unknown command group '" << group << "'\n(see 'flowgate --help')\n";
    return exit_usage;
  }
  if (!single && (a.words.size() < 2 || known->second.count(a.words[1]) == 0)) {
    std::string list;
    for (const auto& c : known->second) {
      list += (list.empty() ? "" : ", ") + c;
    }
    std::cerr << "flowgate: "
              << (a.words.size() < 2 ? group + " needs a command (" + list + ")"
                                     : "unknown " + group + " command '" + a.words[1] + "'")
              << "\n(see 'flowgate " << group << " --help')\n";
    return exit_usage;
  }
  // Admin commands log warnings and errors only (a serving node: info),
  // unless FLOWGATE_LOG_LEVEL says otherwise.
  if (group != "serve") {
    setenv("FLOWGATE_LOG_LEVEL", "warn", 0);
  }
  auto settings = flowgate::settings_from_environment();
  if (!settings) {
    return fail(settings.error());
  }
  if (auto db = a.option("db")) {
    settings->db_path = *db;
  }
  if (auto sync = a.option("synchronous")) {
    auto mode = flowgate::parse_sync_mode(*sync);
    if (!mode) {
      std::cerr << "flowgate: " << flowgate::describe(mode.error()) << "\n";
      return exit_usage;
    }
    settings->synchronous = *mode;
  }
  if (group == "serve") {
    try {
      apply_serve_flags(a, *settings);
    } catch (const usage_error& e) {
      std::cerr << "flowgate: " << e.message << "\n(see 'flowgate serve --help')\n";
      return exit_usage;
    }
    // Block the stop signals before CAF starts its threads: they inherit the
    // mask, and serve_command takes the signals with sigwait.
    auto set = stop_signals();
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
  }
  auto from_env = [](const char* name) {
    const char* v = std::getenv(name);
    return std::string{v != nullptr ? v : ""};
  };
  flowgate::tls_files tls{a.option("tls-cert").value_or(from_env("FLOWGATE_TLS_CERT")),
                          a.option("tls-key").value_or(from_env("FLOWGATE_TLS_KEY")),
                          a.option("tls-ca").value_or(from_env("FLOWGATE_TLS_CA"))};
  auto connect = a.option("connect").value_or(from_env("FLOWGATE_CONNECT"));
  if (!connect.empty() && (group == "serve" || group == "db")) {
    std::cerr << "flowgate: " << group
              << " works on the database itself (--db); --connect / $FLOWGATE_CONNECT is for "
                 "the other commands\n";
    return exit_usage;
  }
  caf::actor_system_config cfg;
  flowgate::register_types(cfg);
  if (!connect.empty() || (group == "serve" && !settings->listen.empty())) {
    if (auto err = flowgate::enable_tls_network(cfg, tls)) {
      return fail(err);
    }
  }
  std::string key;
  if (!connect.empty()) {
    key = a.option("key").value_or(from_env("FLOWGATE_KEY"));
    if (auto file = a.option("key-file")) {
      try {
        key = read_file(*file);
      } catch (const std::exception& e) {
        return fail(e.what());
      }
      key.erase(key.find_last_not_of(" \t\r\n") + 1);
    }
    if (key.empty()) {
      return fail("--connect needs an API key: --key, --key-file or $FLOWGATE_KEY (made with "
                  "'flowgate key create')");
    }
    // A tenant key acts for its own tenant whatever --tenant says (the node
    // decides from the key), so --tenant may be left out: blank means the
    // key's tenant (with an operator key, as locally, the default tenant or,
    // for listings, every tenant).
    if (!a.option("tenant") && !a.has_flag("all-tenants") && group != "key") {
      parsed->options["tenant"] = "";
    }
  } else if (!flowgate::is_postgres_location(settings->db_path) && !may_create_database(a) &&
             !std::filesystem::exists(settings->db_path)) {
    return fail("database '" + settings->db_path +
                "' does not exist (create it with 'flowgate db migrate' or any put command)");
  }
  // Admin commands need little; serve leaves a core to the store writer
  // and keeps freed heap memory for reuse (actors/scheduler_threads.hpp).
  if (group == "serve") {
    flowgate::tune_allocator();
  }
  cfg.set("scheduler.max-threads",
          group == "serve" ? static_cast<int>(flowgate::scheduler_threads()) : 2);
  caf::actor_system sys{cfg};
  flowgate::actor_threads_joined joined{sys};
  bool as_json = a.has_flag("json");
  if (group == "serve") {
    return serve_command(sys, *settings, tls, as_json);
  }
  // Every group but db runs on the gateway's API: this process's node,
  // or a remote node's door.
  auto dispatch = [&](flowgate::gateway_client& g) {
    if (group == "run") {
      return run_command(g, a, as_json);
    }
    if (group == "replay") {
      return replay_command(g, a, as_json);
    }
    if (group == "subscription") {
      return subscription_command(g, a, as_json);
    }
    if (group == "schedule") {
      return schedule_command(g, a, as_json);
    }
    if (group == "quota") {
      return quota_command(g, a, as_json);
    }
    if (group == "cluster") {
      return cluster_command(g, a, as_json);
    }
    if (group == "check") {
      return check_command(g, a, as_json);
    }
    if (group == "tenant") {
      return tenant_command(g, a, as_json);
    }
    if (group == "key") {
      return key_command(g, a, as_json);
    }
    return config_command(g, a, as_json);
  };
  try {
    if (!connect.empty()) {
      auto where = flowgate::parse_address(connect);
      if (!where) {
        return fail(where.error());
      }
      auto c = flowgate::client::connect(sys, where->first, where->second, key);
      if (!c) {
        return fail(c.error());
      }
      return dispatch(**c);
    }
    // The serving node's own settings (FLOWGATE_LISTEN, FLOWGATE_HTTP,
    // FLOWGATE_PEER_KEY) do not apply to a command: a shell that serves can
    // also run them.
    settings->listen.clear();
    settings->http.clear();
    settings->peer_key.clear();
    auto n = flowgate::node::start(sys, *settings);
    if (!n) {
      return fail(n.error());
    }
    if (group == "db") {
      return db_command(**n, a, as_json);
    }
    return dispatch(**n);
  } catch (const usage_error& e) {
    std::cerr << "flowgate: " << e.message << "\n(see 'flowgate " << group << " --help')\n";
    return exit_usage;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}
