// Pokes to the nodes holding runs (peer_links.hpp).

#include "actors/peer_links.hpp"

#include "actors/client.hpp"
#include "actors/log.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/openssl/all.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <unordered_map>

namespace flowgate {

namespace {

struct peer {
  gateway_actor door;
  /// Not tried again before this (steady clock, ms).
  int64_t retry_at_ms = 0;
};

struct peer_links_state {
  peer_links_state() = default;
  peer_links_setup setup;
  std::unordered_map<std::string, peer> peers;
  static inline const char* name = "flowgate.peer_links";
};

using links_pointer = peer_links_actor::stateful_pointer<peer_links_state>;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

/// The door of `node`, connected now if need be; null if it cannot be had.
gateway_actor door_of(links_pointer self, const std::string& node, const std::string& address) {
  auto& p = self->state.peers[node];
  if (p.door) {
    return p.door;
  }
  auto now = steady_ms();
  if (now < p.retry_at_ms) {
    return {};
  }
  auto retry = [&](const std::string& why) {
    p.retry_at_ms = now + self->state.setup.retry_ms.count();
    log_line("debug", "peer not reachable: pokes dropped for a while",
             {{"peer", node}, {"address", address}, {"error", why}});
    return gateway_actor{};
  };
  if (address.empty()) {
    return retry("it publishes no address (serve --listen)");
  }
  auto where = parse_address(address);
  if (!where) {
    return retry(describe(where.error()));
  }
  auto door =
    caf::openssl::remote_actor<gateway_actor>(self->home_system(), where->first, where->second);
  if (!door) {
    return retry(self->home_system().render(door.error()));
  }
  p.door = *door;
  self->monitor(p.door);
  return p.door;
}

void send_poke(links_pointer self, const gateway_actor& door, const std::string& node, run_id run,
               const tenant_id& tenant) {
  poke_run_request req;
  req.scope.tenant = tenant.value;
  req.scope.all = tenant.value.empty(); // accepted for every tenant: the run's own is unknown
  req.scope.key = self->state.setup.key;
  req.run = run.value;
  self->request(door, self->state.setup.timeout, std::move(req))
    .then([](bool) {},
          [self, node, run](caf::error& err) {
            log_line("debug", "poke not delivered",
                     {{"peer", node},
                      {"run", std::to_string(run.value)},
                      {"error", self->home_system().render(err)}});
          });
}

peer_links_actor::behavior_type peer_links(links_pointer self, peer_links_setup setup) {
  self->state.setup = std::move(setup);
  self->set_down_handler([self](caf::down_msg& msg) {
    for (auto& [node, p] : self->state.peers) {
      if (p.door && p.door.address() == msg.source) {
        p.door = nullptr; // connected again by the next poke
      }
    }
  });
  return {
    [=](poke_atom, const node_id& node, run_id run, const tenant_id& tenant) {
      auto& st = self->state;
      if (node.value.empty() || node.value == st.setup.node_id) {
        return;
      }
      auto known = st.peers.find(node.value);
      if (known != st.peers.end() && known->second.door) {
        send_poke(self, known->second.door, node.value, run, tenant);
        return;
      }
      if (known != st.peers.end() && steady_ms() < known->second.retry_at_ms) {
        return;
      }
      // The address of the node's live registration.
      self->request(st.setup.reader, st.setup.timeout, list_nodes{})
        .then(
          [=](std::vector<node_record>& nodes) {
            std::string address;
            for (const auto& n : nodes) {
              if (n.node == node && n.live) {
                address = n.address;
              }
            }
            if (auto door = door_of(self, node.value, address)) {
              send_poke(self, door, node.value, run, tenant);
            }
          },
          [=](caf::error& err) {
            log_line("debug", "peer address not read",
                     {{"peer", node.value}, {"error", self->home_system().render(err)}});
          });
    },
  };
}

} // namespace

peer_links_actor spawn_peer_links(caf::actor_system& sys, peer_links_setup setup) {
  return sys.spawn<caf::detached>(peer_links, std::move(setup));
}

} // namespace flowgate
