// `flowgate cluster status`: the nodes table (membership), with each node's
// liveness by heartbeat, the runs whose live lease it holds and the tenants
// it owns.

#include "tools/cluster_commands.hpp"

#include "actors/node.hpp"
#include "actors/wall_clock.hpp"
#include "tools/cli_common.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <iostream>

namespace flowgate::cli {

namespace json = boost::json;

const char* const cluster_help = R"(Usage: flowgate cluster status [--json]

Lists every node that ever served on this database: its id, state, the
incarnation of its latest process (each 'flowgate serve' start takes the
next one; leases carry it, so an older or duplicate process can never
renew, release or append), host and pid, the address it listens on for
remote clients ('serve --listen'; '-' if none), the runs whose live lease it
holds and their tenants, and its last heartbeat (written with every lease renewal, every
lease TTL / 2).

OWNS: the limited tenants whose ownership lease the node holds (they have a
concurrency limit: 'max_concurrent_runs', else the node default). While a
tenant's owner is live and claiming, it alone admits the tenant's runs, so
its limit is served from one place; owners are spread over the live nodes
that listen ('serve --listen') and move when one comes, dies or drains.

States: live (heartbeat within its lease TTL), dead (heartbeat older: its
leases expire and other nodes take its runs over first), stopped (drained or
shut down).

LINK (through a node, 'flowgate --connect'): whether the node that answers
reaches each live node's door: self, connected, connecting or unreachable
(with why, in --json). A node links to the others only with a peer key
('serve --peer-key-file'); without one, and when the command reads the
database itself, LINK is '-'. A node whose connection closes (its process
died, its host rebooted) shows as unreachable at once; one that hangs with
its connection open shows so once a probe (every 2 s) goes unanswered for
5 s. Links only show what the answering node reaches: the run leases, in
the store, decide that a node is gone.
)";

int cluster_command(gateway_client& n, const args& a, bool as_json) {
  // main() admits only the commands in its table.
  (void)a;
  auto nodes = n.list_nodes();
  if (!nodes) {
    return fail(nodes.error());
  }
  auto now = wall_clock_ms();
  if (as_json) {
    print_json(json::object{{"nodes", views::nodes(*nodes, now)}});
    return exit_ok;
  }
  if (nodes->empty()) {
    std::cout << "no node has served on this database\n";
    return exit_ok;
  }
  std::printf("%-24s %-8s %5s %-20s %8s %-21s %6s %12s %-12s %-20s %s\n", "NODE", "STATE", "INC",
              "HOST", "PID", "ADDRESS", "HELD", "HEARTBEAT", "LINK", "TENANTS", "OWNS");
  auto joined = [](const std::vector<std::string>& xs) {
    std::string out;
    for (const auto& t : xs) {
      out += (out.empty() ? "" : ",") + t;
    }
    return out.empty() ? std::string{"-"} : out;
  };
  for (const auto& x : *nodes) {
    auto age = std::to_string((now - x.heartbeat_at_ms) / 1000) + "s ago";
    std::printf("%-24s %-8s %5lld %-20s %8lld %-21s %6lld %12s %-12s %-20s %s\n",
                x.node.value.c_str(), views::node_state(x), static_cast<long long>(x.incarnation),
                x.host.c_str(), static_cast<long long>(x.pid),
                x.address.empty() ? "-" : x.address.c_str(), static_cast<long long>(x.held_runs),
                age.c_str(), x.link.empty() ? "-" : x.link.c_str(), joined(x.held_tenants).c_str(),
                joined(x.owned_tenants).c_str());
  }
  return exit_ok;
}

} // namespace flowgate::cli
