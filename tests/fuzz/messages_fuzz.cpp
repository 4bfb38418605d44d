// Fuzzes CAF's binary deserialization of every message type flowgate
// registers (register_types): what a peer node or a remote client can put
// on the wire once nodes listen.
//
// The first two bytes (big-endian) choose the mode: one registered type by
// name (the names sorted, so an input means the same type in every build;
// CAF adds vector<T> and stream<T> for each type), or a whole
// `caf::message`, whose type names come from the input as they do from the
// network. Properties: nothing but an error for bad bytes; an accepted
// value prints (enum values out of range included) and re-serializes to
// bytes that deserialize to the same bytes again.
//
// The target covers flowgate's types (and the vector<T>/stream<T> CAF adds
// for them), not the 11 types CAF registers itself. Fuzzing found two
// defects there, in CAF 0.17.6, that a peer can trigger (README "Known
// limits"; regressions/messages keeps both inputs, so the replay test
// proves the guard below stays in place):
// - `@config_value` (and dictionary/vector of it, `settings`) with a bad
//   variant tag throws std::runtime_error("invalid type found") out of
//   the deserializer (variant.hpp, variant_writer): a node would terminate.
// - `std::vector<@message>` with a count near 2^63 appends empty messages
//   past the end of the input until memory runs out.
// So an input naming one of CAF's own types is skipped, and the
// exception above is caught (and only it).

#include "messages/registration.hpp"
#include "tests/fuzz/fuzz_target.hpp"

#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/binary_deserializer.hpp>
#include <caf/binary_serializer.hpp>
#include <caf/message.hpp>
#include <caf/type_erased_value.hpp>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

using namespace flowgate;
using namespace flowgate::fuzz;

namespace {

struct fuzz_system {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  /// Every registered name, sorted: the selector indexes this list.
  std::vector<std::string> names;
  /// Names of the types CAF registers itself, and its variant.
  std::vector<std::string> caf_names{"@config_value"};

  fuzz_system() {
    for (const auto& kv : cfg.value_factories_by_name) {
      caf_names.push_back(kv.first);
    }
    register_types(cfg);
    cfg.set("scheduler.max-threads", 1);
    for (const auto& kv : cfg.value_factories_by_name) {
      names.push_back(kv.first);
    }
    std::sort(names.begin(), names.end());
    sys = std::make_unique<caf::actor_system>(cfg);
  }

  bool names_caf_type(std::string_view bytes) const {
    return std::any_of(caf_names.begin(), caf_names.end(), [&](const std::string& name) {
      return bytes.find(name) != std::string_view::npos;
    });
  }
};

fuzz_system& fixture() {
  // Never destroyed: the process ends with the fuzzer.
  static auto* f = new fuzz_system;
  return *f;
}

std::vector<char> save(caf::actor_system& sys, const caf::type_erased_value& x) {
  std::vector<char> buf;
  caf::binary_serializer sink{sys, buf};
  if (auto err = x.save(sink)) {
    fuzz_fail("an accepted value serializes: " + sys.render(err));
  }
  return buf;
}

void check_type(caf::actor_system& sys, const std::string& name, const char* bytes, size_t n) {
  auto value = sys.types().make_value(name);
  fuzz_require(value != nullptr, "every registered name makes a value");
  caf::binary_deserializer source{sys, bytes, n};
  if (auto err = value->load(source)) {
    return;
  }
  fuzz_require(!value->stringify().empty(), "an accepted value prints");
  auto first = save(sys, *value);
  auto copy = sys.types().make_value(name);
  caf::binary_deserializer again{sys, first};
  if (auto err = copy->load(again)) {
    fuzz_fail(name + ": serialized bytes deserialize again: " + sys.render(err));
  }
  fuzz_require(save(sys, *copy) == first, "a value re-serializes to the same bytes");
}

void check_message(caf::actor_system& sys, const char* bytes, size_t n) {
  caf::message msg;
  caf::binary_deserializer source{sys, bytes, n};
  if (auto err = source(msg)) {
    return;
  }
  fuzz_require(!caf::to_string(msg).empty(), "an accepted message prints");
  std::vector<char> first;
  caf::binary_serializer sink{sys, first};
  if (auto err = sink(msg)) {
    fuzz_fail("an accepted message serializes: " + sys.render(err));
  }
  caf::message copy;
  caf::binary_deserializer again{sys, first};
  if (auto err = again(copy)) {
    fuzz_fail("a serialized message deserializes again: " + sys.render(err));
  }
  std::vector<char> second;
  caf::binary_serializer sink2{sys, second};
  if (auto err = sink2(copy)) {
    fuzz_fail("a message serializes twice: " + sys.render(err));
  }
  fuzz_require(first == second, "a message re-serializes to the same bytes");
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) {
    return 0;
  }
  auto& f = fixture();
  auto* rest = reinterpret_cast<const char*>(data + 2);
  auto n = size - 2;
  auto mode = ((size_t{data[0]} << 8) | data[1]) % (f.names.size() + 1);
  if (mode == f.names.size()) {
    // A message names its element types in its bytes.
    if (!f.names_caf_type({rest, n})) {
      check_message(*f.sys, rest, n);
    }
  } else if (std::find(f.caf_names.begin(), f.caf_names.end(), f.names[mode]) ==
             f.caf_names.end()) {
    check_type(*f.sys, f.names[mode], rest, n);
  }
  return 0;
}
