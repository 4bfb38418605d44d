#pragma once

/// What every fuzz target shares. A target defines LLVMFuzzerTestOneInput;
/// it is linked with libFuzzer (`tools/fuzz.sh`, clang) or with
/// replay_main.cpp, which runs the seed corpus and the regression inputs
/// as an ordinary test in every build.
///
/// A target checks properties, not only the absence of crashes: a
/// property that does not hold calls `fuzz_fail`, which prints what was
/// expected and aborts, so libFuzzer saves the input.

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string_view>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

namespace flowgate::fuzz {

[[noreturn]] inline void fuzz_fail(std::string_view what) {
  std::fprintf(stderr, "fuzz property violated: %.*s\n", static_cast<int>(what.size()),
               what.data());
  std::abort();
}

inline void fuzz_require(bool ok, std::string_view what) {
  if (!ok) {
    fuzz_fail(what);
  }
}

inline std::string_view as_text(const uint8_t* data, size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

} // namespace flowgate::fuzz
