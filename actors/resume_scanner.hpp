#pragma once

/// `resume_scanner`: resumes runs paused on quota.
///
/// Protocol (messages/interfaces.hpp, `resume_scanner_actor`):
/// - `poll_atom` (self, every `interval_ms`): one scan;
/// - `wake_atom` -> number of runs resumed: one scan now (operators, tests).
///
/// A scan lists the tenants with open quota waits, asks the accountant for
/// each tenant's terms, and lets the store resume at most `batch` of the
/// tenant's waits, oldest first, and no more than the quota it has left
/// (`resume_quota_waits`; exact inside the write transaction, each wait
/// resolved once). Resumed runs become due; the dispatcher is told to poll.
/// A resumed step still reserves its quota when it starts. After a scan
/// that filled a batch the next one follows at once.

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

namespace flowgate {

struct scanner_setup {
  store_writer_actor writer;
  store_reader_actor reader;
  quota_accountant_actor accountant;
  /// Told to poll after runs were resumed (none on a node that does not execute).
  dispatcher_actor dispatcher;
  /// 0 = no periodic scans (only on `wake_atom`).
  int64_t interval_ms = 300'000;
  int32_t batch = 100;
};

resume_scanner_actor spawn_resume_scanner(caf::actor_system& sys, scanner_setup setup);

} // namespace flowgate
