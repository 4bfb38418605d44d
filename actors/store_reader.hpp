#pragma once

/// `store_reader`: a read connection of its own.
///
/// Protocol (`store_reader_actor`): accepts the read queries of
/// messages/store_messages.hpp (`find_tenant`, `list_tenants`,
/// `find_config`, `find_runnable_version`, `list_configs`,
/// `read_schema_info`) and replies the result or an error at once. WAL mode
/// lets it read while the writer commits. Detached: SQLite calls block.
/// If it dies, callers' requests time out (finite timeouts everywhere).

#include "messages/interfaces.hpp"

#include <caf/fwd.hpp>

#include <memory>

namespace flowgate {

class read_session;

/// Spawns a detached store_reader owning `session`.
store_reader_actor spawn_store_reader(caf::actor_system& sys,
                                      std::shared_ptr<read_session> session);

} // namespace flowgate
