#pragma once

/// Wall-clock time for timestamps written to the store. Durations and
/// timers use the actor clock; the engine takes no time at all.

#include <cstdint>

namespace flowgate {

/// Milliseconds since the Unix epoch (UTC).
int64_t wall_clock_ms();

} // namespace flowgate
