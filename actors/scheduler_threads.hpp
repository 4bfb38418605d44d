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

#include <malloc.h>

#include <algorithm>
#include <cstddef>
#include <thread>

namespace flowgate {

inline size_t scheduler_threads() {
  auto cores = static_cast<size_t>(std::thread::hardware_concurrency());
  return std::max<size_t>(1, cores > 1 ? cores - 1 : 1);
}

inline void tune_allocator() {
  mallopt(M_TRIM_THRESHOLD, 8 << 20);
}

} // namespace flowgate
