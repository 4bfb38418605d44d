#pragma once

/// Handles that exist only inside one node process. The config registry
/// answers with a pointer to a parsed pipeline in this process's memory, so
/// its interface is kept out of messages/interfaces.hpp (whose messages may
/// cross the network): a snapshot stays in the node that loaded it, and
/// another node that needs the pipeline asks its own registry by (config
/// tenant, queue, version) and checks the checksum.

#include "messages/interfaces.hpp"

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/timespan.hpp>

#include <memory>
#include <string>
#include <vector>

namespace flowgate {

struct config_snapshot;

/// The timeout of a request from one of a node's actors to another of the
/// same node (store writer and reader, config registry, quota accountant,
/// activity pool, dispatcher): none. Those actors answer every request they
/// accept, and if one of them terminates while its node runs, the node's
/// guard stops them all (actors/node.hpp), orchestrators included, so no
/// requester is left waiting.
/// Why not a finite timeout: in CAF 0.17 each request timeout is an event
/// pushed to the clock thread (a wake-up and two tree inserts) that is never
/// cancelled when the answer arrives; it keeps its requester's memory until
/// it expires and then sends it a stale timeout. On a one-step run (about
/// seven local requests) that was ~40% of the process's CPU (flowgate-bench:
/// 230 us of CPU per run with 30 s timeouts, 140 us without).
/// Requests that cross the network, or whose timeout is part of the
/// protocol (an activity's start-to-close timeout, a parked starter's
/// admission deadline), keep theirs.
inline constexpr caf::infinite_t local_reply{};

/// A parsed, validated, deeply immutable pipeline. Travels by pointer and
/// therefore only inside one process.
using config_snapshot_ptr = std::shared_ptr<const config_snapshot>;

/// Versioned pipeline snapshots (actors/config_registry.hpp).
using config_registry_actor = caf::typed_actor<
  caf::replies_to<put_atom, tenant_id, queue_name, config_version,
                  std::string>::with<config_stored>,
  caf::replies_to<get_atom, tenant_id, queue_name, config_version>::with<config_snapshot_ptr>,
  caf::replies_to<activate_atom, tenant_id, queue_name, config_version>::with<config_activated>,
  caf::replies_to<list_atom, tenant_id, queue_name>::with<std::vector<config_summary>>>;

} // namespace flowgate

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(flowgate::config_snapshot_ptr)
