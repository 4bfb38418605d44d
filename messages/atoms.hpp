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
/// Dispatcher: look for claimable runs now.
using poll_atom = caf::atom_constant<caf::atom("poll")>;
/// Dispatcher: its own poll timer (one armed at a time).
using tick_atom = caf::atom_constant<caf::atom("tick")>;
/// Dispatcher: extend the leases this node holds.
using renew_atom = caf::atom_constant<caf::atom("renew")>;
/// Orchestrator -> dispatcher: the run left this node (finished, paused, released).
using done_atom = caf::atom_constant<caf::atom("done")>;
/// Orchestrator -> dispatcher: `true`: the append that leaves this node (ends,
/// pauses or releases the run) was just sent to the store writer; `false`:
/// that append kept the run here after all (actors/dispatcher.hpp).
using leaving_atom = caf::atom_constant<caf::atom("leaving")>;
/// Stop taking work, finish what is in flight, give the leases back.
using drain_atom = caf::atom_constant<caf::atom("drain")>;
/// Orchestrator's self-message: a held timer is due.
using wake_atom = caf::atom_constant<caf::atom("wake")>;
/// Dispatcher -> orchestrator: the lease could not be renewed.
using lost_atom = caf::atom_constant<caf::atom("lost")>;
/// Start a new run.
using start_atom = caf::atom_constant<caf::atom("start")>;
/// Subscribe to `run_finished` notifications.
using watch_atom = caf::atom_constant<caf::atom("watch")>;
/// The drain deadline passed (also: a parked admission's deadline).
using deadline_atom = caf::atom_constant<caf::atom("deadline")>;
/// A run holds a concurrency permit of its tenant on this node.
using hold_atom = caf::atom_constant<caf::atom("hold")>;
/// A run gave its permit back.
using release_atom = caf::atom_constant<caf::atom("release")>;
/// Wait (with a deadline) until a queued run is admitted.
using park_atom = caf::atom_constant<caf::atom("park")>;
/// An actor with nothing to do may stop.
using idle_atom = caf::atom_constant<caf::atom("idle")>;
/// A run's inbox has news (a signal, a cancellation): read it now.
using inbox_atom = caf::atom_constant<caf::atom("inbox")>;
/// Tell the node holding a run's lease that its inbox has news.
using poke_atom = caf::atom_constant<caf::atom("poke")>;
/// News for the other nodes' dispatchers (freed permits, admitted runs, runs to claim).
using news_atom = caf::atom_constant<caf::atom("news")>;
/// A queued run was admitted (claimed) by some node: its parked starter may stop waiting.
using admitted_atom = caf::atom_constant<caf::atom("admitted")>;
/// activity_pool: a run's attempts will not be recorded; ask them to stop.
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
/// peer_links: the outcome of a connection attempt to a peer's door.
using link_atom = caf::atom_constant<caf::atom("link")>;
/// Orchestrator -> dispatcher: a replay found the history at odds with the
/// run's definition (counted for operators).
using nondet_atom = caf::atom_constant<caf::atom("nondet")>;

} // namespace flowgate
