#pragma once

/// Handles that exist only inside one node process. The config registry
/// answers with a pointer to a parsed pipeline in this process's memory, so
/// its interface is kept out of messages/interfaces.hpp (whose messages may
/// cross the network): a snapshot stays in the node that loaded it, and
/// another node that needs the pipeline asks its own registry by (config
/// tenant, queue, version) and checks the checksum.

#include "messages/interfaces.hpp"

#include <caf/allowed_unsafe_message_type.hpp>

#include <memory>
#include <string>
#include <vector>

namespace flowgate {

struct config_snapshot;

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
