// `flowgate tenant ...`, `flowgate config ...` and `flowgate db ...`: the
// store's tenants, pipeline versions and schema.

#include "tools/admin_commands.hpp"

#include "actors/node.hpp"
#include "api/views.hpp"
#include "config/json_text.hpp"
#include "config/pipeline.hpp"
#include "messages/errors.hpp"
#include "persistence/open_store.hpp"
#include "tools/cli_common.hpp"

#include <boost/json.hpp>

#include <iostream>
#include <stdexcept>

namespace flowgate::cli {

namespace json = boost::json;

const char* const tenant_help = R"(Usage:
  flowgate tenant put ID [FILE|-]   create or replace a tenant (JSON config; FORMATS.md)
  flowgate tenant get ID            show one tenant
  flowgate tenant list              list all tenants
  flowgate tenant stats [ID]        admission per tenant: running (permits in use, over
                                    every process), queued (PENDING), waiting, limits,
                                    and new runs refused by reason

Tenant config fields (all optional): name, tier (solo|pro|premium),
max_concurrent_runs, admission (queue|reject), admission_deadline_ms,
quota {soft_limit, hard_limit}, weight, settings {...}, restrictions [...].
Unknown fields are rejected.
)";

const char* const config_help = R"(Usage:
  flowgate config put --tenant T --queue Q --version V [FILE|-]
  flowgate config get --tenant T --queue Q [--version V]
  flowgate config list --tenant T [--queue Q]
  flowgate config activate --tenant T --queue Q --version V

A stored (tenant, queue, version) is immutable: putting the same document again
is a no-op, a different one is refused. 'config get' without --version shows
the version a new run would use: the queue's active version, else the node
default version ($FLOWGATE_DEFAULT_CONFIG_VERSION, 1); a tenant with no config
for the queue falls back to the default tenant's.
)";

const char* const db_help = R"(Usage:
  flowgate db migrate   create the database or apply pending schema migrations
  flowgate db info      show path, schema version, journal mode and row counts

Migrations are numbered and recorded in the database; a database written by a
newer flowgate is refused.
)";

// -- commands -------------------------------------------------------------------

int tenant_command(gateway_client& n, const args& a, bool as_json) {
  const auto& cmd = a.words.size() > 1 ? a.words[1] : std::string{};
  if (cmd == "put") {
    if (a.words.size() < 3) {
      throw usage_error{"tenant put needs an ID (use \"\" for the default tenant)"};
    }
    auto doc = read_document(a, 3, "{}");
    auto t = n.put_tenant(a.words[2], doc);
    if (!t) {
      return fail(t.error());
    }
    if (as_json) {
      print_json(views::tenant(*t));
    } else {
      std::cout << "tenant " << t->id.value << " stored (tier " << t->tier << ")\n";
    }
    return exit_ok;
  }
  if (cmd == "get") {
    if (a.words.size() < 3) {
      throw usage_error{"tenant get needs an ID"};
    }
    auto t = n.get_tenant(a.words[2]);
    if (!t) {
      return fail(t.error());
    }
    if (as_json) {
      print_json(views::tenant(*t));
    } else {
      std::cout << "id:      " << t->id.value << "\nname:    " << t->name
                << "\ntier:    " << t->tier << "\nconfig:  " << t->config_json
                << "\ncreated: " << format_time(t->created_at_ms)
                << "\nupdated: " << format_time(t->updated_at_ms) << "\n";
    }
    return exit_ok;
  }
  if (cmd == "list") {
    auto ts = n.list_tenants();
    if (!ts) {
      return fail(ts.error());
    }
    if (as_json) {
      print_json(views::tenants(*ts));
    } else {
      std::printf("%-40s %-8s %s\n", "ID", "TIER", "NAME");
      for (const auto& t : *ts) {
        std::printf("%-40s %-8s %s\n", t.id.value.c_str(), t.tier.c_str(), t.name.c_str());
      }
    }
    return exit_ok;
  }
  if (cmd == "stats") {
    auto xs = n.tenant_stats(a.words.size() > 2 ? a.words[2] : "");
    if (!xs) {
      return fail(xs.error());
    }
    if (as_json) {
      print_json(views::stats(*xs));
    } else {
      std::printf("%-40s %7s %7s %7s %6s %-9s %5s %5s %s\n", "TENANT", "RUNNING", "QUEUED",
                  "WAITING", "LIMIT", "ADMISSION", "SOFT", "HARD", "REJECTED (at_limit/soft/hard)");
      for (const auto& x : *xs) {
        std::printf(
          "%-40s %7lld %7lld %7lld %6s %-9s %5lld %5lld %lld/%lld/%lld\n", x.tenant.value.c_str(),
          static_cast<long long>(x.running), static_cast<long long>(x.queued),
          static_cast<long long>(x.waiting), x.limit > 0 ? std::to_string(x.limit).c_str() : "-",
          x.admission.c_str(), static_cast<long long>(x.soft_limit),
          static_cast<long long>(x.hard_limit), static_cast<long long>(x.rejected_at_limit),
          static_cast<long long>(x.rejected_soft), static_cast<long long>(x.rejected_hard));
      }
    }
    return exit_ok;
  }
  // main() checked the command against its table: reaching here means the
  // table and this function disagree.
  throw std::logic_error("tenant command '" + cmd + "' is in the table but not handled");
}

int config_command(gateway_client& n, const args& a, bool as_json) {
  const auto& cmd = a.words.size() > 1 ? a.words[1] : std::string{};
  if (cmd == "put") {
    auto tenant = require(a, "tenant");
    auto queue = require(a, "queue");
    auto version = require(a, "version");
    if (a.words.size() < 3 && !a.option("file")) {
      throw usage_error{"config put needs a FILE (or '-' for stdin)"};
    }
    auto doc = read_document(a, 2, "");
    auto stored = n.put_config(tenant, queue, version, std::move(doc));
    if (!stored) {
      return fail(stored.error());
    }
    if (as_json) {
      print_json(views::config_stored(*stored));
    } else {
      std::cout << "config " << stored->tenant.value << "/" << stored->queue.value << " version "
                << stored->version.value << " "
                << (stored->created ? "stored" : "unchanged (identical content already stored)")
                << "\nchecksum " << stored->checksum << "\n";
    }
    return exit_ok;
  }
  if (cmd == "get") {
    auto tenant = require(a, "tenant");
    auto queue = require(a, "queue");
    auto version = a.option("version").value_or("");
    auto snap = n.view_config(tenant, queue, version);
    if (!snap) {
      return fail(snap.error());
    }
    const auto& s = *snap;
    if (as_json) {
      print_json(views::config(s));
    } else {
      std::cout << "tenant:   " << s.tenant << "\nqueue:    " << s.queue
                << "\nversion:  " << s.version << "\nchecksum: " << s.checksum
                << "\npipeline: " << s.pipeline_name << " (" << s.node_count << " nodes)\n"
                << s.document << "\n";
    }
    return exit_ok;
  }
  if (cmd == "list") {
    auto tenant = require(a, "tenant");
    auto xs = n.list_configs(tenant, a.option("queue").value_or(""));
    if (!xs) {
      return fail(xs.error());
    }
    if (as_json) {
      print_json(views::configs(*xs));
    } else {
      std::printf("%-20s %-12s %-6s %-24s %s\n", "QUEUE", "VERSION", "ACTIVE", "PIPELINE",
                  "CHECKSUM");
      for (const auto& c : *xs) {
        std::printf("%-20s %-12s %-6s %-24s %s\n", c.queue.value.c_str(), c.version.value.c_str(),
                    c.active ? "yes" : "", c.pipeline_name.c_str(),
                    c.checksum.substr(0, 19).c_str());
      }
    }
    return exit_ok;
  }
  if (cmd == "activate") {
    auto done = n.activate_config(require(a, "tenant"), require(a, "queue"), require(a, "version"));
    if (!done) {
      return fail(done.error());
    }
    if (as_json) {
      print_json(views::config_activated(*done));
    } else {
      std::cout << "config " << done->tenant.value << "/" << done->queue.value << ": version "
                << done->version.value << " active"
                << (done->previous.value.empty() ? "" : " (was " + done->previous.value + ")")
                << "\n";
    }
    return exit_ok;
  }
  // main() checked the command against its table: reaching here means the
  // table and this function disagree.
  throw std::logic_error("config command '" + cmd + "' is in the table but not handled");
}

int db_command(flowgate::node& n, const args& a, bool as_json) {
  const auto& cmd = a.words.size() > 1 ? a.words[1] : std::string{};
  if (cmd == "migrate") {
    const auto& applied = n.applied_migrations();
    if (as_json) {
      json::array arr;
      for (const auto& m : applied) {
        arr.push_back(json::value(m));
      }
      print_json(
        json::object{{"path", store_display_name(n.settings().db_path)}, {"applied", arr}});
    } else if (applied.empty()) {
      std::cout << "database " << store_display_name(n.settings().db_path) << " is up to date\n";
    } else {
      for (const auto& m : applied) {
        std::cout << "applied migration " << m << "\n";
      }
    }
    return exit_ok;
  }
  if (cmd == "info") {
    auto info = n.db_info();
    if (!info) {
      return fail(info.error());
    }
    if (as_json) {
      print_json(json::object{{"path", info->path},
                              {"schema_version", info->version},
                              {"latest_schema_version", info->latest_version},
                              {"journal_mode", info->journal_mode},
                              {"synchronous", info->synchronous},
                              {"tenants", info->tenants},
                              {"configs", info->configs},
                              {"runs", info->runs}});
    } else {
      std::cout << "path:           " << info->path << "\nschema version: " << info->version
                << " (latest " << info->latest_version
                << ")\njournal mode:   " << info->journal_mode
                << "\nsynchronous:    " << info->synchronous
                << "\ntenants:        " << info->tenants << "\nconfigs:        " << info->configs
                << "\nruns:           " << info->runs << "\n";
    }
    return exit_ok;
  }
  // main() checked the command against its table: reaching here means the
  // table and this function disagree.
  throw std::logic_error("db command '" + cmd + "' is in the table but not handled");
}

} // namespace flowgate::cli
