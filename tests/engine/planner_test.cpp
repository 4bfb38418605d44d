// The planner: a property test over generated pipelines (sequences of
// retried activities, for_each loops, event waits with and without
// timeouts, timers, parallel branches and concurrent loops) driven through randomized worlds
// (failures, cut-off attempts, signals before and during waits, drains, restarts of the driver,
// attempts in flight reporting in any order), then replayed: planning again from each history the
// planner itself produced, with the same context, yields the identical plan.

#include "engine/planner.hpp"

#include "tests/engine/parse_pipeline.hpp"

#include <boost/json.hpp>
#include <boost/test/unit_test.hpp>

#include <algorithm>
#include <random>
#include <sstream>

namespace json = boost::json;
using namespace flowgate;
using namespace flowgate::engine;

namespace {

using testing::parse;

/// A random pipeline of 1-6 nodes.
std::string generate_pipeline(std::mt19937& rng) {
  auto pick = [&](int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); };
  const int64_t intervals[] = {10, 3000, 100000};
  std::ostringstream out;
  out << R"({"name":"gen","root":{"sequence":[)";
  auto nodes = 1 + pick(6);
  for (int i = 0; i < nodes; ++i) {
    if (i > 0) {
      out << ",";
    }
    auto retry = [&] {
      return std::string{R"("retry":{"max_attempts":)"} + std::to_string(1 + pick(3)) +
             R"(,"initial_interval_ms":)" + std::to_string(intervals[pick(3)]) + "}";
    };
    switch (pick(7)) {
    case 5:
      // Branches that run at the same time.
      out << R"({"id":"p)" << i << R"(","parallel":[{"id":"pa)" << i << R"(","activity":"act",)"
          << retry() << R"(},{"sequence":[{"id":"pb)" << i << R"(","activity":"act"},{"id":"pt)"
          << i << R"(","wait":{"timer_ms":)" << intervals[pick(3)] << R"(}}]},{"id":"pl)" << i
          << R"(","for_each":{"$ref":"/input/items"},"concurrency":2,"do":{"id":"pc)" << i
          << R"(","activity":"act",)" << retry() << "}}]}";
      break;
    case 6:
      out << R"({"id":"c)" << i << R"(","for_each":{"$ref":"/input/items"},"concurrency":)"
          << 2 + pick(2) << R"(,"do":{"sequence":[{"id":"cb)" << i << R"(","activity":"act",)"
          << retry() << R"(},{"id":"ct)" << i << R"(","wait":{"timer_ms":)" << intervals[pick(3)]
          << "}}]}}";
      break;
    case 0:
    case 1:
      out << R"({"id":"a)" << i << R"(","activity":"act",)" << retry() << "}";
      break;
    case 2:
      if (pick(2) == 0) {
        out << R"({"id":"l)" << i << R"(","for_each":{"$ref":"/input/items"},"do":{"id":"b)" << i
            << R"(","activity":"act",)" << retry() << "}}";
      } else {
        // Items that take signals (the walk cache replays which ones).
        out << R"({"id":"l)" << i << R"(","for_each":{"$ref":"/input/items"},"do":{"sequence":[)"
            << R"({"id":"b)" << i << R"(","activity":"act",)" << retry() << R"(},{"id":"v)" << i
            << R"(","wait":{"event":"e)" << pick(2) << R"(","timeout_ms":)" << intervals[pick(3)]
            << R"(,"on_timeout":"continue"}}]}})";
      }
      break;
    case 3: {
      out << R"({"id":"w)" << i << R"(","wait":{"event":"e)" << pick(2) << '"';
      switch (pick(3)) {
      case 0:
        break;
      case 1:
        out << R"(,"timeout_ms":)" << intervals[pick(3)] << R"(,"on_timeout":"continue")";
        break;
      default:
        out << R"(,"timeout_ms":)" << intervals[pick(3)] << R"(,"on_timeout":"fail")";
      }
      out << "}}";
      break;
    }
    default:
      out << R"({"id":"t)" << i << R"(","wait":{"timer_ms":)" << intervals[pick(3)] << "}}";
    }
  }
  out << "]}}";
  return out.str();
}

/// One planning call and what it returned.
struct planned {
  size_t history_size = 0;
  plan_context ctx;
  step_plan result;
};

std::string show(const step_plan& p) {
  std::ostringstream out;
  for (const auto& e : p.events) {
    out << e.seq << ":" << describe(e) << ":" << json::serialize(e.payload) << " ";
  }
  out << "| ledger ";
  for (const auto& c : p.ledger) {
    out << c.step_path << "#" << c.attempt << ":" << to_string(c.status) << "@" << c.scheduled_by
        << ":" << c.error_type << ":" << c.error_message << " ";
  }
  const auto& c = p.change;
  out << "| change " << to_string(c.outcome) << " " << c.wait_reason << " " << c.node_path << " "
      << c.wake_at_ms << " " << c.output << " " << c.error_type << " " << c.error_message << " "
      << c.release_lease << " " << c.open_wait << " " << c.wait_event;
  out << "| dispatch "
      << (!p.dispatches.empty()
            ? p.dispatches.front().node_path + "#" + std::to_string(p.dispatches.front().attempt)
            : "-");
  out << " hold " << p.hold_until_ms << " inbox " << p.read_inbox << " state "
      << to_string(p.initial_state) << "/" << to_string(p.state) << " conflict "
      << (p.conflict ? describe(*p.conflict) : "-");
  return out.str();
}

/// Drives one run through a random world with the planner as its driver.
struct world {
  pipeline definition;
  json::value input;
  std::mt19937 rng;
  std::vector<event> history;
  int64_t now = 1'000'000;
  plan_context ctx;
  std::vector<planned> log;
  bool finished = false;
  /// The driver's walk cache: the replay below plans without one, so the
  /// property also shows that a cache changes no plan.
  walk_cache cache;

  int roll(int n) { return static_cast<int>(rng() % static_cast<unsigned>(n)); }

  /// Starts the run with `items` items as its input and steps it up to
  /// `steps` times (or to its end).
  void drive(int items, int steps) {
    json::array list;
    for (int i = 0; i < items; ++i) {
      list.push_back(json::object{{"sku", i}});
    }
    input = json::object{{"items", list}};
    event start;
    start.type = event_type::run_started;
    start.payload = input;
    append(std::move(start));
    for (int i = 0; i < steps && !finished; ++i) {
      step();
    }
  }

  void append(event e) {
    e.seq = static_cast<int64_t>(history.size()) + 1;
    history.push_back(std::move(e));
  }

  /// What the store does after a commit that keeps the lease: the inbox is
  /// moved into the history.
  void read_inbox() {
    if (roll(4) == 0) {
      event s;
      s.type = event_type::signal_received;
      s.payload = json::object{{"event", "e" + std::to_string(roll(2))}, {"payload", roll(100)}};
      append(std::move(s));
    }
    ctx.inbox_fresh = true;
  }

  /// A new driver (another node, or a restart): nothing in flight.
  void restart() {
    cache.clear();
    ctx.in_flight.clear();
    ctx.inbox_fresh = false;
    ctx.draining = false;
  }

  void step() {
    ctx.next_seq = static_cast<int64_t>(history.size()) + 1;
    ctx.now_ms = now;
    ctx.draining = roll(20) == 0;
    planned entry{history.size(), ctx, {}};
    ctx.cache = &cache;
    auto p = plan(definition, input, history, ctx);
    ctx.cache = nullptr;
    entry.result = p;
    entry.result.history.clear();
    log.push_back(std::move(entry));
    // The plan's events continue the history gap-free.
    for (size_t i = 0; i < p.events.size(); ++i) {
      BOOST_TEST_REQUIRE(p.events[i].seq == ctx.next_seq + static_cast<int64_t>(i));
    }
    // Every started attempt names the event that schedules it.
    for (const auto& c : p.ledger) {
      if (c.status == step_status::started) {
        BOOST_TEST_REQUIRE(c.scheduled_by >= 0);
        BOOST_TEST_REQUIRE(p.events[static_cast<size_t>(c.scheduled_by)].node_path == c.step_path);
      }
    }
    history = std::move(p.history);
    ctx.node_path = p.change.node_path;
    if (!p.events.empty()) {
      ctx.inbox_fresh = false;
    }
    if (p.change.is_leaving()) {
      if (p.change.outcome == run_status::completed || p.change.outcome == run_status::failed ||
          p.change.outcome == run_status::canceled) {
        finished = true;
        return;
      }
      // Released: due again later; maybe a signal or a cancel arrives.
      now = std::max(now, std::min(p.change.wake_at_ms, now + 200'000));
      if (roll(2) == 0) {
        event s;
        s.type = event_type::signal_received;
        s.payload =
          json::object{{"event", p.change.wait_event.empty() ? "e0" : p.change.wait_event},
                       {"payload", roll(100)}};
        append(std::move(s));
      } else if (roll(30) == 0) {
        event c;
        c.type = event_type::run_canceled;
        c.payload = json::object{{"reason", "test"}};
        append(std::move(c));
      }
      restart();
      return;
    }
    if (p.is_empty() && p.dispatches.empty() && p.hold_until_ms == 0 && ctx.in_flight.empty()) {
      BOOST_FAIL("the planner planned nothing and waits for nothing: " + show(p));
    }
    read_inbox();
    for (const auto& cmd : p.dispatches) {
      ctx.in_flight.emplace(cmd.node_path, cmd.attempt);
    }
    // Attempts in flight report in a random order; some stay in flight.
    std::vector<std::pair<std::string, int32_t>> flying{ctx.in_flight.begin(), ctx.in_flight.end()};
    std::shuffle(flying.begin(), flying.end(), rng);
    for (const auto& [path, attempt] : flying) {
      switch (roll(7)) {
      case 0:
        // The driver died with its attempts in flight.
        restart();
        return;
      case 1:
        continue; // still running
      case 2: {
        event e;
        e.type = event_type::step_failed;
        e.node_path = path;
        e.attempt = attempt;
        e.payload = json::object{{"type", "Boom"}, {"message", "x"}, {"retryable", roll(3) != 0}};
        append(std::move(e));
        break;
      }
      default: {
        event e;
        e.type = event_type::step_completed;
        e.node_path = path;
        e.attempt = attempt;
        e.payload = json::object{{"n", roll(10)}};
        append(std::move(e));
      }
      }
      ctx.in_flight.erase({path, attempt});
      ctx.inbox_fresh = false;
    }
    if (p.hold_until_ms != 0) {
      now = std::max(now, p.hold_until_ms);
    }
    now += roll(50);
  }
};

/// Every plan the world's driver made (with its walk cache) is made again,
/// without a cache, from the same history prefix and context.
void replay_matches(const world& w) {
  for (const auto& entry : w.log) {
    std::vector<event> prefix{w.history.begin(),
                              w.history.begin() + static_cast<ptrdiff_t>(entry.history_size)};
    auto again = plan(w.definition, w.input, std::move(prefix), entry.ctx);
    BOOST_TEST_REQUIRE(show(again) == show(entry.result));
  }
}

} // namespace

BOOST_AUTO_TEST_SUITE(planner)

BOOST_AUTO_TEST_CASE(replaying_the_histories_it_produced_yields_identical_plans) {
  std::mt19937 gen{20261130};
  int runs_finished = 0;
  size_t plans = 0;
  for (int c = 0; c < 1000; ++c) {
    auto text = generate_pipeline(gen);
    BOOST_TEST_CONTEXT("case " << c << ": " << text) {
      world w{parse(text), json::object{}, std::mt19937{gen()}, {}, 1'000'000, {}, {}, false, {}};
      w.drive(w.roll(6), 400);
      runs_finished += w.finished ? 1 : 0;
      plans += w.log.size();
      // Replay: the same history prefix and context give the same plan.
      replay_matches(w);
      // The final history is gap-free.
      for (size_t i = 0; i < w.history.size(); ++i) {
        BOOST_TEST_REQUIRE(w.history[i].seq == static_cast<int64_t>(i) + 1);
      }
    }
  }
  BOOST_TEST_MESSAGE(plans << " plans replayed over 1000 generated runs, " << runs_finished
                           << " of them finished");
  // The worlds do reach the end of most runs (the property covers whole runs).
  BOOST_TEST(runs_finished > 700);
}

BOOST_AUTO_TEST_CASE(concurrent_loops_plan_the_same_with_and_without_the_walk_cache) {
  // Long concurrent loops at the top level, where the walk cache keeps the
  // settled items: every plan the cached driver made is made again from the
  // same history without a cache (failures, retries, timers, restarts,
  // cancellations and signals included).
  std::mt19937 gen{20261203};
  const int64_t intervals[] = {10, 3000, 100000};
  int finished = 0;
  size_t plans = 0;
  for (int c = 0; c < 150; ++c) {
    auto pick = [&](int n) { return static_cast<int>(gen() % static_cast<unsigned>(n)); };
    std::ostringstream text;
    text << R"({"name":"gen","root":{"sequence":[)";
    if (pick(2) == 0) {
      text << R"({"id":"before","activity":"act"},)";
    }
    text << R"({"id":"c","for_each":{"$ref":"/input/items"},"concurrency":)" << 2 + pick(4)
         << R"(,"do":{"sequence":[{"id":"cb","activity":"act","retry":{"max_attempts":)"
         << 1 + pick(3) << R"(,"initial_interval_ms":)" << intervals[pick(3)] << "}}";
    if (pick(2) == 0) {
      text << R"(,{"id":"ct","wait":{"timer_ms":)" << intervals[pick(3)] << "}}";
    }
    text << "]}}";
    if (pick(2) == 0) {
      text << R"(,{"id":"after","activity":"act"})";
    }
    if (pick(3) == 0) {
      text << R"(,{"id":"w","wait":{"event":"e0","timeout_ms":3000,"on_timeout":"continue"}})";
    }
    text << "]}}";
    BOOST_TEST_CONTEXT("case " << c << ": " << text.str()) {
      world w{
        parse(text.str()), json::object{}, std::mt19937{gen()}, {}, 1'000'000, {}, {}, false, {}};
      w.drive(5 + w.roll(40), 3000);
      finished += w.finished ? 1 : 0;
      plans += w.log.size();
      replay_matches(w);
    }
  }
  BOOST_TEST_MESSAGE(plans << " plans of concurrent loops replayed, " << finished
                           << " of 150 runs finished");
  BOOST_TEST(finished > 100);
}

BOOST_AUTO_TEST_CASE(a_quota_cut_point_is_the_scheduling_event) {
  // A timer wait: its event has attempt 0, its ledger row attempt 1; the
  // ledger change names the event, so the store needs no engine knowledge.
  auto def = parse(R"({"name":"p","root":{"sequence":[{"id":"t","wait":{"timer_ms":10}},
    {"id":"a","activity":"x"}]}})");
  plan_context ctx;
  ctx.next_seq = 2;
  ctx.now_ms = 1000;
  json::value input = json::object{};
  auto p = plan(def, input, {event{1, event_type::run_started, "", 0, input}}, ctx);
  BOOST_REQUIRE_EQUAL(p.events.size(), 1u);
  BOOST_TEST(to_string(p.events[0].type) == std::string{"timer_started"});
  BOOST_TEST(p.events[0].attempt == 0);
  BOOST_REQUIRE_EQUAL(p.ledger.size(), 2u);
  BOOST_TEST(p.ledger[0].attempt == 1);
  BOOST_TEST(p.ledger[0].scheduled_by == 0);
  BOOST_TEST(p.hold_until_ms == 1010);
  // Draining hands the run back instead of starting the timer.
  ctx.draining = true;
  auto d = plan(def, input, {event{1, event_type::run_started, "", 0, input}}, ctx);
  BOOST_TEST(d.events.empty());
  BOOST_TEST(d.change.release_lease);
  BOOST_TEST(d.change.wake_at_ms == 1000);
}

BOOST_AUTO_TEST_SUITE_END()
