#pragma once

/// Atoms of the flowgate protocol (CAF 0.17: at most 10 characters).

#include <caf/atom.hpp>

namespace flowgate {

using caf::get_atom;
using caf::ok_atom;
using caf::put_atom;

/// Make a stored config version the active one.
using activate_atom = caf::atom_constant<caf::atom("activate")>;
/// List records.
using list_atom = caf::atom_constant<caf::atom("list")>;
/// Ask an actor for its counters.
using stats_atom = caf::atom_constant<caf::atom("stats")>;
/// A store_writer's self-message: commit the batch now.
using flush_atom = caf::atom_constant<caf::atom("flush")>;

} // namespace flowgate
