#pragma once

/// How many CAF scheduler threads an executing node should use: one less
/// than the cores (at least one). The store writer runs on a thread of its
/// own and is the bottleneck under load; measured on 2 cores, 1 scheduler
/// thread gives ~20% more step attempts/s than CAF's default of 4.

#include <algorithm>
#include <cstddef>
#include <thread>

namespace flowgate {

inline size_t scheduler_threads() {
  auto cores = static_cast<size_t>(std::thread::hardware_concurrency());
  return std::max<size_t>(1, cores > 1 ? cores - 1 : 1);
}

} // namespace flowgate
