#pragma once

/// Process settings of an executing node (`flowgate serve`, the benchmarks;
/// an embedder sets them in its own `main`).
///
/// `scheduler_threads`: how many CAF scheduler threads to use: one less
/// than the cores (at least one). The store writer runs on a thread of its
/// own and is the bottleneck under load; measured on 2 cores, 1 scheduler
/// thread gives ~20% more step attempts/s than CAF's default of 4.
///
/// `tune_allocator`: glibc gives the free top of a thread's heap back to the
/// system once it exceeds 128 KiB (`M_TRIM_THRESHOLD`), which a node's
/// allocation pattern (messages and records made on one thread and freed on
/// another) hits constantly: every trim is an madvise, a TLB shootdown on
/// every core and page faults when the memory is used again. Measured on 2
/// cores (benchmarks/cluster_throughput.sh, one `serve` claiming 20,000
/// preloaded one-step runs): 899 runs/s at 1,330 us of CPU per run by
/// default, 5,394 runs/s at 254 us with 8 MiB (1 MiB: 5,362/s; 32 MiB:
/// 5,684/s); peak RSS 33 MB either way. What it costs: up to 8 MiB of freed
/// memory per heap is kept for reuse instead of returned at once.
/// flowgate's own executables link jemalloc (FLOWGATE_ALLOCATOR, the top
/// CMakeLists.txt), which has no such trims and no arena locks between the
/// thread that allocates a message and the one that frees it: measured with
/// flowgate-bench (20,000 one-step runs, same minute), glibc with the
/// threshold above 145 us of CPU per run, 12.3k runs/s; jemalloc 107 us,
/// 15.2k runs/s (tcmalloc 105 us, mimalloc 107 us). Under jemalloc
/// `tune_allocator` changes nothing; it stays for an embedder on glibc.
///
/// `allocator_name`, `heap_in_use_bytes`: what the benchmarks report.

#include <dlfcn.h>
#include <malloc.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>

namespace flowgate {

inline size_t scheduler_threads() {
  auto cores = static_cast<size_t>(std::thread::hardware_concurrency());
  return std::max<size_t>(1, cores > 1 ? cores - 1 : 1);
}

inline void tune_allocator() {
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
}

namespace detail {
using mallctl_fn = int (*)(const char*, void*, size_t*, void*, size_t);
/// jemalloc's control entry point if jemalloc is this process's malloc.
inline mallctl_fn jemalloc_ctl() {
  return reinterpret_cast<mallctl_fn>(dlsym(RTLD_DEFAULT, "mallctl"));
}
} // namespace detail

/// "jemalloc VERSION" if jemalloc is linked, else "glibc".
inline std::string allocator_name() {
  if (auto ctl = detail::jemalloc_ctl()) {
    const char* version = nullptr;
    size_t len = sizeof(version);
    if (ctl("version", &version, &len, nullptr, 0) == 0 && version != nullptr) {
      return std::string{"jemalloc "} + version;
    }
    return "jemalloc";
  }
  return "glibc";
}

/// Bytes of heap in live allocations now: jemalloc's `stats.allocated`
/// (after an `epoch` refresh), or glibc's `uordblks` after `malloc_trim`.
inline size_t heap_in_use_bytes() {
  if (auto ctl = detail::jemalloc_ctl()) {
    uint64_t epoch = 1;
    size_t elen = sizeof(epoch);
    (void)ctl("epoch", &epoch, &elen, &epoch, elen);
    size_t allocated = 0;
    size_t len = sizeof(allocated);
    if (ctl("stats.allocated", &allocated, &len, nullptr, 0) == 0) {
      return allocated;
    }
    return 0;
  }
  malloc_trim(0);
  return mallinfo2().uordblks;
}

} // namespace flowgate
