// Writes the seed corpus of the messages fuzz target: for every registered
// type, its default value serialized after the two bytes that select it
// (messages_fuzz.cpp), and a few whole messages as the gateway receives
// them. Run after registering a message type:
//   build/tests/fuzz/fuzz_message_seeds tests/fuzz/corpus/messages

#include "messages/interfaces.hpp"
#include "messages/registration.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>
#include <caf/type_erased_value.hpp>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>

using namespace flowgate;

namespace {

void write(const std::filesystem::path& file, size_t selector, const std::vector<char>& bytes) {
  std::ofstream out{file, std::ios::binary};
  out.put(static_cast<char>(selector >> 8));
  out.put(static_cast<char>(selector & 0xFF));
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  if (!out) {
    std::cerr << "cannot write " << file << "\n";
    std::exit(1);
  }
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: fuzz_message_seeds DIR\n";
    return 2;
  }
  std::filesystem::path dir{argv[1]};
  std::filesystem::create_directories(dir);
  caf::actor_system_config cfg;
  register_types(cfg);
  std::vector<std::string> names;
  for (const auto& kv : cfg.value_factories_by_name) {
    names.push_back(kv.first);
  }
  std::sort(names.begin(), names.end());
  caf::actor_system sys{cfg};
  for (size_t i = 0; i < names.size(); ++i) {
    auto value = sys.types().make_value(names[i]);
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    if (auto err = value->save(sink)) {
      std::cerr << names[i] << ": " << sys.render(err) << "\n";
      return 1;
    }
    auto file = names[i];
    std::replace_if(
      file.begin(), file.end(), [](char c) { return !std::isalnum(static_cast<unsigned char>(c)); },
      '_');
    write(dir / (file + ".bin"), i, buf);
  }
  auto message_selector = names.size();
  auto whole = [&](const std::string& name, const caf::message& msg) {
    std::vector<char> buf;
    caf::binary_serializer sink{sys, buf};
    auto copy = msg;
    if (auto err = sink(copy)) {
      std::cerr << name << ": " << sys.render(err) << "\n";
      std::exit(1);
    }
    write(dir / ("message_" + name + ".bin"), message_selector, buf);
  };
  whole("start_run", caf::make_message(start_run_request{
                       "acme", "orders", R"({"order":{"id":"o-1"}})", "3", "key-1"}));
  whole("signal_run", caf::make_message(signal_run_request{"acme", 42, "approved", "{}"}));
  whole("list_runs", caf::make_message(list_runs_request{"acme", run_status::running, 0, 100}));
  claim_runs claim;
  claim.owner = node_id{"node-a"};
  claim.incarnation = 3;
  claim.now_ms = 1'790'000'000'000;
  claim.lease_ttl_ms = 30'000;
  claim.tenants = {tenant_id{"acme"}, tenant_id{"globex"}};
  whole("claim_runs", caf::make_message(claim));
  std::cout << names.size() << " types and 4 messages written to " << dir << "\n";
  return 0;
}
