// Links to the other nodes' doors (peer_links.hpp).

#include "actors/peer_links.hpp"

#include "actors/client.hpp"
#include "actors/log.hpp"
#include "actors/wall_clock.hpp"
#include "messages/actor_threads.hpp"
#include "messages/errors.hpp"

#include <caf/actor_system.hpp>
#include <caf/event_based_actor.hpp>
#include <caf/openssl/all.hpp>
#include <caf/stateful_actor.hpp>
#include <caf/typed_event_based_actor.hpp>

#include <unordered_map>
#include <variant>

namespace flowgate {

namespace {

constexpr size_t max_waiting = 1'000;

using waiting_item = std::variant<poke_run_request, cluster_news>;

struct peer {
  std::string address;
  gateway_actor door;
  bool connecting = false;
  /// "connected", "unreachable", or empty before the first attempt ends.
  std::string state;
  int64_t since_ms = 0;
  std::string error;
  /// Not tried again before this (steady clock, ms).
  int64_t retry_at_ms = 0;
  /// Sent once the connection being made is up.
  std::vector<waiting_item> waiting;
};

struct peer_links_state {
  peer_links_state() = default;
  peer_links_setup setup;
  std::unordered_map<std::string, peer> peers;
  bool refreshing = false;
  /// The next refresh is due then (steady clock, ms).
  int64_t refresh_at_ms = 0;
  /// This node's door and the address it publishes, sent in hellos.
  gateway_actor own_door;
  std::string own_address;
  static inline const char* name = "flowgate.peer_links";
};

using links_pointer = peer_links_actor::stateful_pointer<peer_links_state>;

int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

void set_state(links_pointer self, peer& p, const char* state, std::string error) {
  if (p.state != state) {
    p.since_ms = wall_clock_ms(self->home_system());
  }
  p.state = state;
  p.error = std::move(error);
}

/// This node's hello to a node it links to.
peer_hello_request hello_of(links_pointer self) {
  const auto& st = self->state;
  peer_hello_request req{tenant_scope::all_tenants(), st.setup.node_id, st.own_address,
                         caf::actor_cast<caf::actor>(st.own_door)};
  req.scope.key = st.setup.key;
  return req;
}

/// The link to `node` stopped working: dropped (linked again at a later
/// refresh, by whichever node links).
void drop_link(links_pointer self, const std::string& node, peer& p, std::string why) {
  if (p.door) {
    self->demonitor(p.door.address());
    p.door = nullptr;
  }
  p.retry_at_ms = 0;
  set_state(self, p, "unreachable", std::move(why));
  log_line("warn", "lost the link to a peer node", {{"peer", node}, {"error", p.error}});
}

void send_item(links_pointer self, const std::string& node, const gateway_actor& door,
               waiting_item item, std::chrono::milliseconds timeout) {
  // The same link: not replaced or dropped meanwhile.
  auto same = [self, node, door]() -> peer* {
    auto it = self->state.peers.find(node);
    return it != self->state.peers.end() && it->second.door == door ? &it->second : nullptr;
  };
  auto answered = [self, same](bool) {
    if (auto* p = same(); p != nullptr && p->state != "connected") {
      set_state(self, *p, "connected", ""); // it answers again
    }
  };
  auto failed = [self, node, same](caf::error& err) {
    log_line("debug", "news for a peer not delivered",
             {{"peer", node}, {"error", self->home_system().render(err)}});
    if (auto* p = same(); p != nullptr && err == caf::sec::request_timeout) {
      // It hangs with its connection open. The link stays (a closed
      // connection drops it): the next answer shows it connected again.
      set_state(self, *p, "unreachable", "no answer within the request timeout");
    }
  };
  const auto& key = self->state.setup.key;
  if (auto* poke = std::get_if<poke_run_request>(&item)) {
    poke->scope.key = key;
    self->request(door, timeout, std::move(*poke)).then(answered, failed);
  } else {
    auto req = cluster_news_request{tenant_scope::all_tenants(), std::get<cluster_news>(item)};
    req.scope.key = key;
    self->request(door, timeout, std::move(req)).then(answered, failed);
  }
}

/// One connection attempt (blocking, on a thread of its own): its outcome
/// goes back to `links` as `link_atom`.
void connector(caf::event_based_actor* me, peer_links_actor links, std::string node,
               std::string address, std::string host, uint16_t port) {
  mark_detached_thread(me->home_system());
  auto door = caf::openssl::remote_actor<gateway_actor>(me->home_system(), host, port);
  caf::anon_send(links, link_atom::value, node_id{node}, address, door ? *door : gateway_actor{},
                 door ? std::string{} : me->home_system().render(door.error()));
  me->quit();
}

/// Starts a connection attempt to `node` on a thread of its own.
void connect(links_pointer self, const std::string& node, peer& p) {
  auto where = parse_address(p.address);
  if (!where) {
    set_state(self, p, "unreachable", describe(where.error()));
    p.retry_at_ms = steady_ms() + self->state.setup.retry_ms.count();
    return;
  }
  p.connecting = true;
  // Everything as spawn arguments: CAF 0.17's init_fun_factory dereferences
  // a null pointer for a function actor spawned without any (UBSan).
  self->home_system().spawn<caf::detached>(connector, peer_links_actor{self}, node, p.address,
                                           where->first, where->second);
}

/// Reads the live nodes: links to new ones, forgets those gone.
void refresh(links_pointer self) {
  auto& st = self->state;
  if (st.refreshing) {
    return;
  }
  st.refreshing = true;
  self->request(st.setup.reader, st.setup.timeout, list_nodes{})
    .then(
      [=](std::vector<node_record>& nodes) {
        auto& s = self->state;
        s.refreshing = false;
        std::unordered_map<std::string, std::string> live;
        for (auto& n : nodes) {
          if (n.node.value == s.setup.node_id) {
            s.own_address = n.address;
          } else if (n.live) {
            live[n.node.value] = n.address;
          }
        }
        for (auto it = s.peers.begin(); it != s.peers.end();) {
          auto found = live.find(it->first);
          if (found == live.end()) {
            if (it->second.door) {
              self->demonitor(it->second.door.address());
            }
            it = s.peers.erase(it); // not live: what waited for it is dropped
            continue;
          }
          auto& p = it->second;
          if (found->second != p.address) {
            // A new process at a new address: linked afresh.
            if (p.door) {
              self->demonitor(p.door.address());
            }
            p.door = nullptr;
            p.connecting = false; // an attempt to the old address is ignored
            p.retry_at_ms = 0;
            p.state.clear();
          }
          ++it;
        }
        auto now = steady_ms();
        for (auto& [node, address] : live) {
          auto& p = s.peers[node];
          p.address = address;
          if (p.door || p.connecting || now < p.retry_at_ms) {
            continue;
          }
          if (node < s.setup.node_id) {
            continue; // it links to this node (its hello brings its door)
          }
          if (!s.own_door || s.own_address.empty()) {
            continue; // not listening yet: nothing to say hello with
          }
          if (address.empty()) {
            set_state(self, p, "unreachable", "it publishes no address (serve --listen)");
            p.waiting.clear();
            continue;
          }
          connect(self, node, p);
        }
      },
      [=](caf::error& err) {
        self->state.refreshing = false;
        log_line("debug", "peers not read", {{"error", self->home_system().render(err)}});
      });
}

/// Sends `item` to `node` now, after its connection is made, or not at all.
void deliver(links_pointer self, const std::string& node, waiting_item item) {
  auto& st = self->state;
  auto it = st.peers.find(node);
  if (it != st.peers.end() && it->second.door) {
    send_item(self, node, it->second.door, std::move(item), self->state.setup.timeout);
    return;
  }
  if (it != st.peers.end() && it->second.state == "unreachable" &&
      steady_ms() < it->second.retry_at_ms) {
    return; // the poll is the safety net
  }
  auto& p = st.peers[node];
  if (p.waiting.size() < max_waiting) {
    p.waiting.push_back(std::move(item));
  }
  refresh(self); // connects to it if it is live
}

peer_links_actor::behavior_type peer_links(links_pointer self, peer_links_setup setup) {
  self->state.setup = std::move(setup);
  self->set_down_handler([self](caf::down_msg& msg) {
    for (auto& [node, p] : self->state.peers) {
      if (p.door && p.door.address() == msg.source) {
        drop_link(self, node, p, "connection lost: " + self->home_system().render(msg.reason));
      }
    }
  });
  self->send(self, tick_atom::value);
  return {
    [=](tick_atom) {
      auto& st = self->state;
      if (steady_ms() >= st.refresh_at_ms) {
        st.refresh_at_ms = steady_ms() + st.setup.refresh_ms.count();
        refresh(self);
      }
      // The probe: an empty news to every linked node. One that hangs with
      // its connection open (stopped, swapping, its scheduler stuck) shows
      // unreachable once a probe goes unanswered for `probe_timeout`, and
      // connected again at its next answer.
      for (const auto& [node, p] : st.peers) {
        if (p.door) {
          send_item(self, node, p.door, cluster_news{}, st.setup.probe_timeout);
        }
      }
      self->delayed_send(self, std::min(st.setup.refresh_ms, st.setup.probe_ms), tick_atom::value);
    },
    [=](link_atom, const node_id& node, const std::string& address, gateway_actor& door,
        const std::string& error) {
      auto& st = self->state;
      auto it = st.peers.find(node.value);
      // From a hello: only a node with a smaller id links to this one.
      bool hello = node.value < st.setup.node_id;
      if (hello) {
        // The other node linked to this one: its address is the one it
        // publishes now (a refresh may not have read it yet).
        it = st.peers.try_emplace(node.value).first;
        if (it->second.address != address) {
          if (it->second.door) {
            self->demonitor(it->second.door.address());
          }
          it->second = peer{};
          it->second.address = address;
        }
      }
      if (it == st.peers.end() || it->second.address != address) {
        return; // forgotten meanwhile; a handle, if any, is dropped
      }
      auto& p = it->second;
      p.connecting = false;
      if (p.door) {
        return; // linked already
      }
      if (!door) {
        p.retry_at_ms = steady_ms() + st.setup.retry_ms.count();
        set_state(self, p, "unreachable", error);
        p.waiting.clear();
        log_line("debug", "peer not reachable: news for it dropped for a while",
                 {{"peer", node.value}, {"address", address}, {"error", error}});
        return;
      }
      p.door = std::move(door);
      self->monitor(p.door);
      set_state(self, p, "connected", "");
      if (!hello) {
        // This node connected: the other one reaches it over this link.
        self->request(p.door, st.setup.timeout, hello_of(self))
          .then([](bool) {},
                [self, node](caf::error& err) {
                  log_line("warn",
                           "a peer node did not take this node's hello: it reaches this "
                           "node only at its polls",
                           {{"peer", node.value}, {"error", self->home_system().render(err)}});
                });
      }
      auto waiting = std::move(p.waiting);
      p.waiting.clear();
      for (auto& item : waiting) {
        send_item(self, node.value, p.door, std::move(item), self->state.setup.timeout);
      }
    },
    [=](put_atom, gateway_actor& door) { self->state.own_door = std::move(door); },
    [=](poke_atom, const node_id& node, run_id run, const tenant_id& tenant) {
      if (node.value.empty() || node.value == self->state.setup.node_id) {
        return;
      }
      poke_run_request req;
      req.scope.tenant = tenant.value;
      req.scope.all = tenant.value.empty(); // accepted for every tenant: its own is unknown
      req.run = run.value;
      deliver(self, node.value, std::move(req));
    },
    [=](news_atom, const cluster_news& news) {
      // To every live node: the last refresh's view (a node that joined
      // since is linked by the next one).
      std::vector<std::string> nodes;
      for (const auto& [node, p] : self->state.peers) {
        nodes.push_back(node);
      }
      for (const auto& node : nodes) {
        deliver(self, node, news);
      }
    },
    [=](stats_atom) {
      std::vector<peer_link> out;
      for (const auto& [node, p] : self->state.peers) {
        auto state = !p.state.empty()                   ? p.state
                     : node < self->state.setup.node_id ? std::string{"awaiting its link"}
                                                        : std::string{"connecting"};
        out.push_back(peer_link{node_id{node}, p.address, state, p.since_ms, p.error});
      }
      return out;
    },
  };
}

} // namespace

peer_links_actor spawn_peer_links(caf::actor_system& sys, peer_links_setup setup) {
  return sys.spawn(peer_links, std::move(setup));
}

} // namespace flowgate
