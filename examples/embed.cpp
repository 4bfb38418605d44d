// Embedding flowgate: a node inside your own caf::actor_system, with an
// activity of your own next to the built-ins, and its HTTP/JSON API
// (flowgate::http) for callers in other languages.
//
//   build/examples/flowgate-embed-example [DB]     (default: ./embed-example.db)

#include "actors/activity.hpp"
#include "actors/node.hpp"
#include "api/http_server.hpp"
#include "messages/errors.hpp"
#include "messages/registration.hpp"

#include <boost/json.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <memory>

int main(int argc, char** argv) {
  caf::actor_system_config cfg;
  flowgate::register_types(cfg);
  caf::actor_system sys{cfg};
  // Destroyed before `sys`: waits for the actors' threads
  // (messages/actor_threads.hpp, included by actors/node.hpp).
  flowgate::actor_threads_joined joined{sys};

  // 1. Activities: C++ callables registered by name. They get the resolved
  //    input, the attempt number, the tenant id and the tenant's settings.
  auto activities = std::make_shared<flowgate::activity_registry>();
  activities->add(
    "greet", [](const boost::json::value& input, const flowgate::activity_context& ctx) {
      const auto& name = input.as_object().at("name");
      if (!name.is_string() || name.as_string().empty()) {
        return flowgate::activity_outcome::failure("InvalidName", "name must be a non-empty string",
                                                   false);
      }
      std::string greeting = "hello " + std::string{name.as_string()};
      if (const auto* style = ctx.settings.if_contains("style"); style && style->is_string()) {
        greeting += " (" + std::string{style->as_string()} + ")";
      }
      return flowgate::activity_outcome::success(
        boost::json::object{{"greeting", greeting}, {"attempt", ctx.attempt}});
    });

  // 2. A node on a SQLite file, executing runs in this process.
  flowgate::node_settings settings;
  settings.db_path = argc > 1 ? argv[1] : "embed-example.db";
  settings.default_tenant_id = "default";
  settings.node_id = "embedded";
  auto node = flowgate::node::start(sys, settings, flowgate::node_options{true, activities});
  if (!node) {
    std::cerr << "cannot start: " << flowgate::describe(node.error()) << "\n";
    return 1;
  }
  auto& n = **node;

  // 3. A tenant and an immutable pipeline version.
  auto check = [](const auto& result, const char* what) {
    if (!result) {
      std::cerr << what << ": " << flowgate::describe(result.error()) << "\n";
      std::exit(1);
    }
  };
  check(n.put_tenant("acme", R"({"name": "Acme", "settings": {"style": "formal"}})"), "tenant");
  check(n.put_config("acme", "greetings", "1", R"({"name": "greeter", "root": {"sequence": [
          {"id": "greet", "activity": "greet", "input": {"name": {"$ref": "/input/name"}},
           "retry": {"max_attempts": 3, "initial_interval_ms": 100}},
          {"id": "log", "activity": "echo", "input": {"$ref": "/steps/greet/output"}}]}})"),
        "config");

  // 4. Start a run (pinned to the resolved version) and wait for it.
  auto started = n.start_run("acme", "greetings", R"({"name": "Ada"})");
  check(started, "start");
  auto done = n.wait_for_run("acme", started->run.id.value, std::chrono::seconds{10});
  check(done, "wait");
  std::cout << "run " << done->id.value << " " << done->status << ": " << done->output << "\n";

  // 5. Its history, event by event.
  auto history = n.run_history("acme", done->id.value);
  check(history, "history");
  for (const auto& e : *history) {
    std::cout << "  " << e.seq << " " << e.type << " " << e.node_path << "\n";
  }
  // 6. The HTTP/JSON API on loopback (README "HTTP API"), with a tenant key
  //    for acme's application. Here one request is answered in-process;
  //    curl would send the same to the printed address.
  auto key = n.create_key("acme", false, "acme app");
  check(key, "key");
  flowgate::http_server_settings hs;
  hs.address = "127.0.0.1:0";
  hs.api.door = n.door();
  auto api = flowgate::http_server::start(sys, hs);
  check(api, "http");
  std::cout << "HTTP API on http://" << (*api)->address() << "\n";
  std::atomic<bool> stopping{false};
  flowgate::http_request req{"GET", "/v1/runs/" + std::to_string(done->id.value),
                             "Bearer " + key->key, "", ""};
  auto res = flowgate::handle_request(sys, hs.api, req, stopping);
  std::cout << "GET /v1/runs/" << done->id.value << ": " << res.status << " " << res.body << "\n";
  if (res.status != 200) {
    return 1;
  }
  (*api)->drain();
  api->reset();
  // Stop claiming, finish attempts in flight, release leases.
  check(n.drain(), "drain");
  return done->status == flowgate::run_status::completed ? 0 : 1;
}
