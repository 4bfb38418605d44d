#include "engine/engine.hpp"

#include <boost/json.hpp>

#include <algorithm>
#include <limits>
#include <map>
#include <queue>

namespace flowgate::engine {

namespace json = boost::json;

const char* to_string(command_kind k) {
  switch (k) {
  case command_kind::schedule_activity:
    return "schedule_activity";
  case command_kind::start_timer:
    return "start_timer";
  case command_kind::start_wait:
    return "start_wait";
  case command_kind::complete_run:
    return "complete_run";
  case command_kind::fail_run:
    return "fail_run";
  case command_kind::start_child:
    return "start_child";
  }
  return "unknown";
}

const char* to_string(run_state s) {
  switch (s) {
  case run_state::ready:
    return "ready";
  case run_state::awaiting_activity:
    return "awaiting_activity";
  case run_state::awaiting_timer:
    return "awaiting_timer";
  case run_state::awaiting_event:
    return "awaiting_event";
  case run_state::awaiting_child:
    return "awaiting_child";
  case run_state::completed:
    return "completed";
  case run_state::failed:
    return "failed";
  case run_state::canceled:
    return "canceled";
  case run_state::nondeterministic:
    return "nondeterministic";
  }
  return "unknown";
}

std::string describe(const nondeterminism& n) {
  return "history event " + std::to_string(n.seq) + " is " + n.found +
         ", but the pipeline expects " + n.expected;
}

event record(const command& cmd, int64_t seq, int64_t now_ms) {
  event e;
  e.seq = seq;
  e.node_path = cmd.node_path;
  e.attempt = cmd.attempt;
  switch (cmd.kind) {
  case command_kind::schedule_activity:
    e.type = event_type::step_scheduled;
    e.payload = json::object{
      {"activity", cmd.activity}, {"input", cmd.input}, {"timeout_ms", cmd.timeout_ms}};
    break;
  case command_kind::start_child: {
    e.type = event_type::step_scheduled;
    json::object child{{"queue", cmd.queue}};
    if (!cmd.version.empty()) {
      child["version"] = cmd.version;
    }
    e.payload = json::object{{"child", std::move(child)}, {"input", cmd.input}};
    break;
  }
  case command_kind::start_timer:
    e.type = event_type::timer_started;
    e.payload = json::object{{"fire_at_ms", now_ms + cmd.delay_ms}, {"reason", cmd.reason}};
    break;
  case command_kind::start_wait:
    e.type = event_type::wait_started;
    e.payload =
      json::object{{"event", cmd.event},
                   {"timeout_at_ms", cmd.wait_timeout_ms > 0 ? now_ms + cmd.wait_timeout_ms : 0}};
    break;
  case command_kind::complete_run:
    e.type = event_type::run_completed;
    e.payload = cmd.output;
    break;
  case command_kind::fail_run:
    e.type = event_type::run_failed;
    e.payload = json::object{{"type", cmd.error_type}, {"message", cmd.error_message}};
    break;
  }
  return e;
}

namespace {

int64_t int_field(const json::value& v, const char* key) {
  if (const auto* obj = v.if_object()) {
    if (const auto* x = obj->if_contains(key); x != nullptr && x->is_int64()) {
      return x->get_int64();
    }
  }
  return 0;
}

std::string string_field(const json::value& v, const char* key) {
  if (const auto* obj = v.if_object()) {
    if (const auto* x = obj->if_contains(key); x != nullptr && x->is_string()) {
      return std::string{x->get_string()};
    }
  }
  return {};
}

/// Outputs visible at a point of the walk.
struct scope {
  std::map<std::string, const json::value*> steps;
  const json::value* item = nullptr;
  int64_t index = -1;
};

/// How a node's walk ended.
enum class outcome : uint8_t { done, stop, failed };

/// Events the walk reads in order: the whole history, or one branch's.
struct view {
  /// The whole history (the top view), else `events`.
  const std::vector<event>* whole = nullptr;
  std::vector<const event*> events;
  /// Each event's index in the enclosing view (branch views only).
  std::vector<size_t> outer;
  size_t pos = 0;

  size_t size() const { return whole != nullptr ? whole->size() : events.size(); }
  const event& at(size_t i) const { return whole != nullptr ? (*whole)[i] : *events[i]; }
};

class walker {
public:
  walker(const pipeline& p, const json::value& input, const std::vector<event>& history,
         walk_cache* cache)
      : pipeline_(p), input_(input), history_(history), cache_(cache) {}

  decision run() {
    if (history_.empty() || history_.front().type != event_type::run_started) {
      conflict(history_.empty() ? 1 : history_.front().seq, "run_started",
               history_.empty() ? "an empty history" : describe(history_.front()));
      return std::move(out_);
    }
    top_.whole = &history_;
    top_.pos = 1;
    cur_ = &top_;
    if (cache_ != nullptr) {
      if (cache_->scanned > history_.size()) {
        cache_->clear(); // the history was cut back
      }
      for (size_t i = cache_->scanned; i < history_.size(); ++i) {
        if (history_[i].type == event_type::signal_received) {
          cache_->signal_index.push_back(i);
        }
      }
      cache_->scanned = history_.size();
      signals_.reserve(cache_->signal_index.size());
      for (auto i : cache_->signal_index) {
        signals_.push_back({&history_[i], false});
      }
    } else {
      for (const auto& e : history_) {
        if (e.type == event_type::signal_received) {
          signals_.push_back({&e, false});
        }
      }
    }
    scope root_scope;
    const json::value* result = nullptr;
    switch (walk(pipeline_.root, "", root_scope, result)) {
    case outcome::stop:
      break;
    case outcome::done: {
      command cmd;
      cmd.kind = command_kind::complete_run;
      cmd.output = result != nullptr ? *result : json::value{};
      finish(event_type::run_completed, std::move(cmd), run_state::completed);
      break;
    }
    case outcome::failed: {
      command cmd;
      cmd.kind = command_kind::fail_run;
      cmd.error_type = failure_type_;
      cmd.error_message = failure_message_;
      finish(event_type::run_failed, std::move(cmd), run_state::failed);
      break;
    }
    }
    if (!halted_ && !ended_) {
      if (!out_.commands.empty()) {
        out_.state = run_state::ready;
        out_.next = out_.commands.front();
      } else if (!out_.awaits.empty()) {
        const auto& a = out_.awaits.front();
        out_.state = a.state;
        out_.node_path = a.node_path;
        out_.attempt = a.attempt;
        out_.wake_at_ms = a.wake_at_ms;
        out_.event = a.event;
      }
    }
    if (out_.state != run_state::nondeterministic) {
      out_.consumed = top_.pos;
    }
    return std::move(out_);
  }

private:
  // -- the cursor ----------------------------------------------------------------

  /// The next non-signal event of the current view (signals are read by
  /// sequence number from `signals_`), or nullptr at the end of the view
  /// or after a cancellation (which halts the walk).
  const event* peek() {
    auto& v = *cur_;
    while (v.pos < v.size()) {
      const auto& e = v.at(v.pos);
      if (e.type == event_type::signal_received) {
        ++v.pos;
        continue;
      }
      if (e.type == event_type::run_canceled) {
        ++v.pos;
        out_.state = run_state::canceled;
        out_.output = {};
        out_.error_type = "canceled";
        out_.error_message = string_field(e.payload, "reason");
        out_.commands.clear();
        out_.awaits.clear();
        halted_ = true;
        return nullptr;
      }
      return &e;
    }
    return nullptr;
  }

  /// The current view's cursor moves past the event `peek` returned.
  void take() { ++cur_->pos; }

  static std::string label(event_type type, const std::string& path, int32_t attempt) {
    event e;
    e.type = type;
    e.node_path = path;
    e.attempt = attempt;
    return describe(e);
  }

  void conflict(int64_t seq, std::string expected, std::string found) {
    out_.state = run_state::nondeterministic;
    out_.next.reset();
    out_.conflict = nondeterminism{seq, std::move(expected), std::move(found)};
    out_.consumed = static_cast<size_t>(std::max<int64_t>(seq - 1, 0));
    out_.commands.clear();
    out_.awaits.clear();
    halted_ = true;
  }

  void emit(command cmd) { out_.commands.push_back(std::move(cmd)); }

  void await(run_state state, const std::string& path, int32_t attempt, int64_t wake_at_ms,
             const std::string& event_name) {
    out_.awaits.push_back(await_point{state, path, attempt, wake_at_ms, event_name});
  }

  enum class point : uint8_t { matched, end, stopped };

  /// At a decision of `type` for (path, attempt): consumes the matching
  /// event, or reports the end of the history (the caller emits the
  /// command). A different event is a conflict.
  point decision_point(event_type type, const std::string& path, int32_t attempt,
                       const event** matched) {
    const auto* e = peek();
    if (halted_) {
      return point::stopped;
    }
    if (e == nullptr) {
      return point::end;
    }
    if (e->type == type && e->node_path == path && e->attempt == attempt) {
      take();
      *matched = e;
      return point::matched;
    }
    conflict(e->seq, label(type, path, attempt), describe(*e));
    return point::stopped;
  }

  /// The command is only built when the history ends here.
  template <class MakeCommand>
  outcome decide_at(event_type type, const std::string& path, int32_t attempt,
                    const event** matched, MakeCommand&& make) {
    switch (decision_point(type, path, attempt, matched)) {
    case point::matched:
      return outcome::done;
    case point::stopped:
      return outcome::stop;
    case point::end:
      break;
    }
    emit(make());
    return outcome::stop;
  }

  /// Waits for one of `allowed` for (path, attempt). At the end of the
  /// history the run awaits it (`state`).
  const event* external(std::initializer_list<event_type> allowed, const std::string& path,
                        int32_t attempt, run_state state, int64_t wake_at_ms,
                        const std::string& event_name = {}) {
    const auto* e = peek();
    if (halted_) {
      return nullptr;
    }
    if (e == nullptr) {
      await(state, path, attempt, wake_at_ms, event_name);
      return nullptr;
    }
    for (auto type : allowed) {
      if (e->type == type && e->node_path == path && e->attempt == attempt) {
        take();
        return e;
      }
    }
    std::string expected;
    for (auto type : allowed) {
      expected += (expected.empty() ? "" : " or ") + label(type, path, attempt);
    }
    conflict(e->seq, expected, describe(*e));
    return nullptr;
  }

  void finish(event_type type, command cmd, run_state final_state) {
    const event* matched = nullptr;
    auto output = cmd.output;
    auto error_type = cmd.error_type;
    auto error_message = cmd.error_message;
    if (decide_at(type, "", 0, &matched, [&] { return std::move(cmd); }) != outcome::done) {
      return;
    }
    // The run ended in the history: nothing may follow but signals.
    if (const auto* extra = peek(); extra != nullptr) {
      conflict(extra->seq, "nothing after the end of the run", describe(*extra));
      return;
    }
    if (out_.state == run_state::canceled) {
      conflict(top_.at(top_.pos - 1).seq, "nothing after the end of the run", "run_canceled");
      return;
    }
    ended_ = true;
    out_.state = final_state;
    out_.output = std::move(output);
    out_.error_type = std::move(error_type);
    out_.error_message = std::move(error_message);
  }

  outcome fail(std::string type, std::string message) {
    failure_type_ = std::move(type);
    failure_message_ = std::move(message);
    return outcome::failed;
  }

  /// Fails the run: `n`'s reference `pointer` (its `field`) has no value.
  outcome missing_value(const pipeline_node& n, const char* field, const std::string& pointer) {
    return fail("bad_reference",
                "node '" + n.id + "': " + field + " reference '" + pointer + "' has no value");
  }

  // -- references ----------------------------------------------------------------

  /// Resolves a JSON pointer against the run's visible values.
  const json::value* lookup(const std::string& ptr, const scope& sc, json::value& scratch) const {
    auto segment_end = ptr.find('/', 1);
    auto root =
      ptr.substr(1, segment_end == std::string::npos ? std::string::npos : segment_end - 1);
    auto rest = segment_end == std::string::npos ? std::string{} : ptr.substr(segment_end);
    const json::value* base = nullptr;
    if (root == "input") {
      base = &input_;
    } else if (root == "item") {
      base = sc.item;
    } else if (root == "index") {
      scratch = sc.index;
      return sc.index >= 0 ? &scratch : nullptr;
    } else if (root == "steps") {
      // /steps/<id>/output/...
      auto id_end = rest.find('/', 1);
      auto id = rest.substr(1, id_end == std::string::npos ? std::string::npos : id_end - 1);
      auto it = sc.steps.find(id);
      if (it == sc.steps.end() || id_end == std::string::npos) {
        return nullptr;
      }
      base = it->second;
      rest = rest.substr(id_end); // "/output..."
      rest = rest.substr(std::string{"/output"}.size());
    }
    if (base == nullptr) {
      return nullptr;
    }
    if (rest.empty()) {
      return base;
    }
    boost::system::error_code ec;
    const auto* found = base->find_pointer(rest, ec);
    return ec ? nullptr : found;
  }

  /// Substitutes `{"$ref": ...}` objects; false (with the failing pointer
  /// in `missing`) if a reference has no value.
  bool substitute(const json::value& tmpl, const scope& sc, json::value& out,
                  std::string& missing) const {
    if (const auto* obj = tmpl.if_object()) {
      if (obj->size() == 1 && obj->contains("$ref") && obj->at("$ref").is_string()) {
        std::string ptr{obj->at("$ref").get_string()};
        json::value scratch;
        const auto* v = lookup(ptr, sc, scratch);
        if (v == nullptr) {
          missing = ptr;
          return false;
        }
        out = *v;
        return true;
      }
      json::object o;
      for (const auto& kv : *obj) {
        json::value x;
        if (!substitute(kv.value(), sc, x, missing)) {
          return false;
        }
        o.emplace(kv.key(), std::move(x));
      }
      out = std::move(o);
      return true;
    }
    if (const auto* arr = tmpl.if_array()) {
      json::array a;
      for (const auto& v : *arr) {
        json::value x;
        if (!substitute(v, sc, x, missing)) {
          return false;
        }
        a.push_back(std::move(x));
      }
      out = std::move(a);
      return true;
    }
    out = tmpl;
    return true;
  }

  // -- nodes -------------------------------------------------------------------------

  outcome walk(const pipeline_node& n, const std::string& prefix, scope& sc,
               const json::value*& result) {
    switch (n.kind) {
    case node_kind::sequence:
      for (const auto& child : n.children) {
        auto o = walk(child, prefix, sc, result);
        if (o != outcome::done) {
          return o;
        }
      }
      return outcome::done;
    case node_kind::activity:
    case node_kind::child:
      return walk_activity(n, prefix + n.id, sc, result);
    case node_kind::for_each:
      return walk_for_each(n, prefix + n.id, sc, result);
    case node_kind::wait:
      return n.event.empty() ? walk_timer(n, prefix + n.id, sc, result)
                             : walk_event_wait(n, prefix + n.id, sc, result);
    case node_kind::switch_:
      return walk_switch(n, prefix + n.id, sc, result);
    case node_kind::parallel:
      return walk_parallel(n, prefix + n.id, sc, result);
    }
    return outcome::stop;
  }

  outcome walk_parallel(const pipeline_node& n, const std::string& path, scope& sc,
                        const json::value*& result) {
    json::array outputs;
    auto o = walk_concurrent(n, path, n.children.size(), n.children.size(), outputs,
                             [&](size_t i, const std::string& prefix, const json::value*& r) {
                               // A branch's nodes are visible inside it only.
                               scope inner = sc;
                               return walk(n.children[i], prefix, inner, r);
                             });
    if (o != outcome::done) {
      return o;
    }
    const auto& stored = owned(json::value(std::move(outputs)));
    sc.steps[n.id] = &stored;
    result = &stored;
    return outcome::done;
  }

  /// How one branch of a concurrent node went.
  struct branch_walk {
    outcome o = outcome::stop;
    /// When its slot frees (last event it read; never while it runs).
    int64_t finished = std::numeric_limits<int64_t>::max();
    const json::value* result = nullptr;
    std::string failure_type;
    std::string failure_message;
  };

  /// Walks `count` branches under `path/<i>/` with at most `limit` in
  /// flight (engine.hpp, "Concurrency"). On success `outputs` holds the
  /// branch outputs in order.
  template <class WalkBranch>
  outcome walk_concurrent(const pipeline_node& n, const std::string& path, size_t count,
                          size_t limit, json::array& outputs, WalkBranch&& walk_branch,
                          walk_cache::concurrent_loop* memo = nullptr) {
    constexpr int64_t never = std::numeric_limits<int64_t>::max();
    auto* outer = cur_;
    auto commands_mark = out_.commands.size();
    auto awaits_mark = out_.awaits.size();
    // Every signal this walk takes (restored from the cache or taken by a
    // branch) is recorded in `taken_` from here on.
    auto taken_mark = taken_.size();
    // Walked whole (no cache): a cancellation or a failure in the loop.
    auto uncached = [&] {
      *memo = walk_cache::concurrent_loop{};
      return walk_concurrent(n, path, count, limit, outputs, walk_branch, nullptr);
    };
    // Split the rest of the view: each branch's events, in order (as
    // indexes into the view); the first event of anything else is where
    // the node must have ended. With a cache, only what is new is read.
    std::vector<std::vector<size_t>> split_here;
    auto* split = &split_here;
    size_t boundary = outer->size();
    size_t with_events = 0;
    size_t from = outer->pos;
    if (memo != nullptr) {
      if (memo->item_events.size() != count || memo->start != outer->pos || memo->limit != limit ||
          memo->scanned > outer->size()) {
        *memo = walk_cache::concurrent_loop{};
        memo->start = outer->pos;
        memo->limit = limit;
        memo->scanned = outer->pos;
        memo->item_events.resize(count);
        memo->last = outer->pos;
      }
      split = &memo->item_events;
      from = memo->scanned;
      boundary = memo->boundary;
      with_events = memo->items_with_events;
    } else {
      split_here.resize(count);
    }
    auto prefix = path + "/";
    for (size_t k = from; k < outer->size(); ++k) {
      const auto& e = outer->at(k);
      if (e.type == event_type::signal_received) {
        continue;
      }
      if (e.type == event_type::run_canceled) {
        if (memo != nullptr) {
          return uncached();
        }
        for (auto& v : *split) {
          v.push_back(k);
        }
        continue;
      }
      if (e.node_path.compare(0, prefix.size(), prefix) != 0) {
        boundary = std::min(boundary, k);
        continue;
      }
      size_t i = 0;
      size_t at = prefix.size();
      bool digits = false;
      while (at < e.node_path.size() && e.node_path[at] >= '0' && e.node_path[at] <= '9' &&
             i <= count) {
        i = i * 10 + static_cast<size_t>(e.node_path[at++] - '0');
        digits = true;
      }
      if (!digits || i >= count || at >= e.node_path.size() || e.node_path[at] != '/') {
        if (memo != nullptr) {
          *memo = walk_cache::concurrent_loop{};
        }
        conflict(e.seq,
                 "an event of one of the " + std::to_string(count) + " branches of '" + n.id + "'",
                 describe(e));
        return outcome::stop;
      }
      (*split)[i].push_back(k);
      with_events = std::max(with_events, i + 1);
    }
    if (memo != nullptr) {
      memo->scanned = outer->size();
      memo->boundary = boundary;
      memo->items_with_events = with_events;
    }
    // Finish times of the admitted items in flight: the earliest frees
    // the next slot. Settled items (cache) are not walked again: their
    // state is restored as their walk left it.
    std::priority_queue<int64_t, std::vector<int64_t>, std::greater<>> in_flight;
    int64_t admitted_at = 0;
    size_t first = 0;
    size_t last = outer->pos;
    if (memo != nullptr && memo->settled > 0) {
      in_flight = decltype(in_flight){std::greater<>{}, memo->in_flight};
      admitted_at = memo->admitted_at;
      first = memo->settled;
      last = memo->last;
      for (auto seq : memo->signals) {
        if (auto* sig = signal_by_seq(seq)) {
          sig->consumed = true;
        }
        taken_.push_back(seq);
      }
    }
    auto view_of = [&](size_t i) {
      view v;
      v.events.reserve((*split)[i].size());
      v.outer = (*split)[i];
      for (auto k : v.outer) {
        v.events.push_back(&outer->at(k));
      }
      return v;
    };
    // The branches walked: items first, first + 1, ...
    std::vector<view> views;
    std::vector<branch_walk> branches;
    bool settling = memo != nullptr;
    for (size_t i = first; i < count; ++i) {
      if (i >= limit) {
        admitted_at = std::max(admitted_at, in_flight.top());
        in_flight.pop();
      }
      if (admitted_at == never) {
        // Not admitted yet, and neither is any later item: none of them
        // may have an event.
        for (size_t j = i; j < with_events; ++j) {
          if (const auto* e = first_event(view_of(j))) {
            conflict(e->seq,
                     "no event of '" + prefix + std::to_string(j) + "' while " +
                       std::to_string(limit) + " items of '" + n.id + "' are in flight",
                     describe(*e));
            return outcome::stop;
          }
        }
        break;
      }
      views.push_back(view_of(i));
      auto& v = views.back();
      if (const auto* e = first_event(v); e != nullptr && e->seq <= admitted_at) {
        conflict(e->seq,
                 "no event of '" + prefix + std::to_string(i) + "' before event " +
                   std::to_string(admitted_at) + " frees a slot of '" + n.id + "'",
                 describe(*e));
        return outcome::stop;
      }
      cur_ = &v;
      branches.emplace_back();
      auto& b = branches.back();
      failure_type_.clear();
      failure_message_.clear();
      auto taken_before = taken_.size();
      b.o = walk_branch(i, prefix + std::to_string(i) + "/", b.result);
      cur_ = outer;
      if (halted_) {
        return outcome::stop;
      }
      if (b.o != outcome::stop) {
        b.finished = std::max(admitted_at, v.pos > 0 ? v.at(v.pos - 1).seq : int64_t{0});
      }
      if (b.o == outcome::failed) {
        if (memo != nullptr) {
          // Walked whole: the failure rules look at every branch's events.
          out_.commands.resize(commands_mark);
          out_.awaits.resize(awaits_mark);
          for (size_t t = taken_mark; t < taken_.size(); ++t) {
            if (auto* sig = signal_by_seq(taken_[t])) {
              sig->consumed = false;
            }
          }
          taken_.resize(taken_mark);
          return uncached();
        }
        b.failure_type = failure_type_;
        b.failure_message = failure_message_;
      }
      in_flight.push(b.finished);
      if (settling && b.o == outcome::done) {
        // Completed, and so are all items before it: settled for good.
        memo->settled = i + 1;
        memo->outputs.get_array().push_back(b.result != nullptr ? *b.result : json::value{});
        memo->signals.insert(memo->signals.end(),
                             taken_.begin() + static_cast<std::ptrdiff_t>(taken_before),
                             taken_.end());
        if (v.pos > 0) {
          memo->last = std::max(memo->last, v.outer[v.pos - 1] + 1);
        }
        memo->admitted_at = admitted_at;
        memo->in_flight.clear();
        for (auto copy = in_flight; !copy.empty(); copy.pop()) {
          memo->in_flight.push_back(copy.top());
        }
      } else {
        settling = false;
      }
    }
    // The first failure in the history fails the node; what other branches
    // did after it is ignored, and none of them decided anything after it.
    const branch_walk* first_failure = nullptr;
    for (const auto& b : branches) {
      if (b.o == outcome::failed &&
          (first_failure == nullptr || b.finished < first_failure->finished)) {
        first_failure = &b;
      }
    }
    for (const auto& v : views) {
      for (size_t k = 0; k < v.pos; ++k) {
        const auto& e = v.at(k);
        if (first_failure != nullptr && e.seq > first_failure->finished && is_decision(e.type)) {
          conflict(e.seq,
                   "no decision after '" + n.id + "' failed at event " +
                     std::to_string(first_failure->finished),
                   describe(e));
          return outcome::stop;
        }
        last = std::max(last, v.outer[k] + 1);
      }
    }
    if (first_failure != nullptr) {
      // What the other branches were about to do is dropped.
      out_.commands.resize(commands_mark);
      out_.awaits.resize(awaits_mark);
      outer->pos = last;
      failure_type_ = first_failure->failure_type;
      failure_message_ = first_failure->failure_message;
      return outcome::failed;
    }
    if (first + branches.size() < count) {
      return outcome::stop; // items not admitted yet
    }
    for (const auto& b : branches) {
      if (b.o != outcome::done) {
        return outcome::stop;
      }
    }
    if (boundary < last) {
      const auto& e = outer->at(boundary);
      conflict(e.seq, "events of '" + n.id + "' until all its branches completed", describe(e));
      return outcome::stop;
    }
    outer->pos = last;
    if (memo != nullptr) {
      for (const auto& o : memo->outputs.get_array()) {
        outputs.push_back(o);
      }
      for (size_t b = memo->settled - first; b < branches.size(); ++b) {
        outputs.push_back(branches[b].result != nullptr ? *branches[b].result : json::value{});
      }
    } else {
      for (const auto& b : branches) {
        outputs.push_back(b.result != nullptr ? *b.result : json::value{});
      }
    }
    return outcome::done;
  }

  /// The first event of a view that is not a cancellation.
  static const event* first_event(const view& v) {
    for (const auto* e : v.events) {
      if (e->type != event_type::run_canceled) {
        return e;
      }
    }
    return nullptr;
  }

  outcome walk_switch(const pipeline_node& n, const std::string& path, scope& sc,
                      const json::value*& result) {
    json::value scratch;
    const auto* value = lookup(n.switch_pointer, sc, scratch);
    if (value == nullptr) {
      return missing_value(n, "switch", n.switch_pointer);
    }
    // Strings compare by their text, numbers and booleans by their JSON text.
    std::string text;
    if (value->is_string()) {
      text = std::string{value->get_string()};
    } else if (value->is_number() || value->is_bool()) {
      text = json::serialize(*value);
    } else {
      std::string kind = value->is_null() ? "null" : value->is_array() ? "an array" : "an object";
      return fail("bad_reference", "node '" + n.id + "': switch value at '" + n.switch_pointer +
                                     "' is " + kind +
                                     "; a case is chosen by a string, number or boolean");
    }
    const pipeline_node* branch = nullptr;
    for (size_t i = 0; i < n.case_keys.size(); ++i) {
      if (n.case_keys[i] == text) {
        branch = &n.children[i];
        break;
      }
    }
    if (branch == nullptr && n.has_default) {
      branch = &n.children.back();
    }
    if (branch == nullptr) {
      return fail("no_matching_case", "node '" + n.id + "': no case matches the value '" + text +
                                        "' at '" + n.switch_pointer + "' and there is no default");
    }
    // The branch's nodes are visible inside it only (their paths are under
    // the switch's); after it, the switch's own output is.
    scope inner = sc;
    const json::value* branch_result = nullptr;
    auto o = walk(*branch, path + "/", inner, branch_result);
    if (o != outcome::done) {
      return o;
    }
    const auto& out = owned(branch_result != nullptr ? *branch_result : json::value{});
    sc.steps[n.id] = &out;
    result = &out;
    return outcome::done;
  }

  outcome walk_activity(const pipeline_node& n, const std::string& path, scope& sc,
                        const json::value*& result) {
    for (int32_t attempt = 1;; ++attempt) {
      if (attempt > 1) {
        if (auto delay = n.retry.delay_before(attempt); delay > 0) {
          const event* started = nullptr;
          auto o = decide_at(event_type::timer_started, path, attempt, &started, [&] {
            command cmd;
            cmd.kind = command_kind::start_timer;
            cmd.node_path = path;
            cmd.attempt = attempt;
            cmd.delay_ms = delay;
            cmd.reason = "retry";
            return cmd;
          });
          if (o != outcome::done) {
            return o;
          }
          if (external({event_type::timer_fired}, path, attempt, run_state::awaiting_timer,
                       int_field(started->payload, "fire_at_ms")) == nullptr) {
            return outcome::stop;
          }
        }
      }
      // The input is resolved before the decision: a reference without a
      // value fails the run instead of scheduling (also during replay).
      const auto* next = peek();
      if (halted_) {
        return outcome::stop;
      }
      bool matches = next != nullptr && next->type == event_type::step_scheduled &&
                     next->node_path == path && next->attempt == attempt;
      bool child = n.kind == node_kind::child;
      if (!matches) {
        command cmd;
        cmd.kind = child ? command_kind::start_child : command_kind::schedule_activity;
        cmd.node_path = path;
        cmd.attempt = attempt;
        cmd.activity = n.activity;
        cmd.timeout_ms = n.timeout_ms;
        cmd.queue = n.child_queue;
        cmd.version = n.child_version;
        std::string missing;
        if (!substitute(n.input, sc, cmd.input, missing)) {
          return missing_value(n, "input", missing);
        }
        if (next != nullptr) {
          conflict(next->seq, label(event_type::step_scheduled, path, attempt), describe(*next));
          return outcome::stop;
        }
        emit(std::move(cmd));
        return outcome::stop;
      }
      take();
      const auto* outcome_event =
        child
          ? external({event_type::child_started, event_type::step_failed, event_type::step_cut_off},
                     path, attempt, run_state::awaiting_activity, 0)
          : external(
              {event_type::step_completed, event_type::step_failed, event_type::step_cut_off}, path,
              attempt, run_state::awaiting_activity, 0);
      if (outcome_event == nullptr) {
        return outcome::stop;
      }
      if (outcome_event->type == event_type::child_started) {
        // The child run exists: its end is the attempt's outcome (it is
        // never cut off, the child run goes on wherever it runs).
        outcome_event = external({event_type::step_completed, event_type::step_failed}, path,
                                 attempt, run_state::awaiting_child, 0);
        if (outcome_event == nullptr) {
          return outcome::stop;
        }
      }
      if (outcome_event->type == event_type::step_completed) {
        sc.steps[n.id] = &outcome_event->payload;
        result = &outcome_event->payload;
        return outcome::done;
      }
      auto type = string_field(outcome_event->payload, "type");
      auto message = string_field(outcome_event->payload, "message");
      bool retryable = true;
      if (const auto* obj = outcome_event->payload.if_object()) {
        if (const auto* r = obj->if_contains("retryable"); r != nullptr && r->is_bool()) {
          retryable = r->get_bool();
        }
      }
      if (!retryable || !n.retry.is_retryable(type) || attempt >= n.retry.max_attempts) {
        return fail(type,
                    "node '" + n.id + "' attempt " + std::to_string(attempt) + ": " + message);
      }
    }
  }

  outcome walk_for_each(const pipeline_node& n, const std::string& path, scope& sc,
                        const json::value*& result) {
    json::value scratch;
    const auto* items = lookup(n.items_pointer, sc, scratch);
    if (items == nullptr) {
      return missing_value(n, "for_each", n.items_pointer);
    }
    if (!items->is_array()) {
      return fail("bad_reference", "node '" + n.id + "': for_each reference '" + n.items_pointer +
                                     "' is not an array");
    }
    // Keep the array alive: `scratch` may hold it, and item pointers refer into it.
    const auto& array =
      items == &scratch ? owned(std::move(scratch)).get_array() : items->get_array();
    json::array outputs;
    if (n.concurrency > 1) {
      // At the top level the walk cache keeps the items that settled.
      walk_cache::concurrent_loop* memo =
        cache_ != nullptr && cur_ == &top_ ? &cache_->concurrent[path] : nullptr;
      auto o = walk_concurrent(
        n, path, array.size(), static_cast<size_t>(n.concurrency), outputs,
        [&](size_t i, const std::string& prefix, const json::value*& r) {
          scope inner = sc;
          inner.item = &array[i];
          inner.index = static_cast<int64_t>(i);
          return walk(n.body(), prefix, inner, r);
        },
        memo);
      if (o != outcome::done) {
        return o;
      }
    }
    // One item after another: items that finished in an earlier walk of
    // this history (walk_cache) are skipped, their outputs reused.
    walk_cache::loop* memo = nullptr;
    size_t first = 0;
    if (cache_ != nullptr && cur_ == &top_ && n.concurrency <= 1) {
      memo = &cache_->loops[path];
      if (memo->items > 0 && memo->start == top_.pos && memo->items <= array.size() &&
          memo->end <= history_.size()) {
        for (auto seq : memo->signals) {
          if (auto* sig = signal_by_seq(seq)) {
            sig->consumed = true;
          }
        }
        top_.pos = memo->end;
        first = memo->items;
      } else {
        *memo = walk_cache::loop{top_.pos, 0, top_.pos, json::array{}, {}};
      }
    }
    for (size_t i = first; n.concurrency <= 1 && i < array.size(); ++i) {
      scope inner = sc;
      inner.item = &array[i];
      inner.index = static_cast<int64_t>(i);
      const json::value* body_result = nullptr;
      auto taken_before = taken_.size();
      auto o = walk(n.body(), path + "/" + std::to_string(i) + "/", inner, body_result);
      if (o != outcome::done) {
        return o;
      }
      const auto& out = body_result != nullptr ? *body_result : json::value{};
      if (memo != nullptr) {
        memo->outputs.get_array().push_back(out);
        memo->items = i + 1;
        memo->end = top_.pos;
        memo->signals.insert(memo->signals.end(),
                             taken_.begin() + static_cast<std::ptrdiff_t>(taken_before),
                             taken_.end());
      } else {
        outputs.push_back(out);
      }
    }
    if (memo != nullptr) {
      sc.steps[n.id] = &memo->outputs;
      result = &memo->outputs;
      return outcome::done;
    }
    const auto& stored = owned(json::value(std::move(outputs)));
    sc.steps[n.id] = &stored;
    result = &stored;
    return outcome::done;
  }

  outcome walk_timer(const pipeline_node& n, const std::string& path, scope& sc,
                     const json::value*& result) {
    const event* started = nullptr;
    auto o = decide_at(event_type::timer_started, path, 0, &started, [&] {
      command cmd;
      cmd.kind = command_kind::start_timer;
      cmd.node_path = path;
      cmd.delay_ms = n.timer_ms;
      cmd.reason = "timer";
      return cmd;
    });
    if (o != outcome::done) {
      return o;
    }
    if (external({event_type::timer_fired}, path, 0, run_state::awaiting_timer,
                 int_field(started->payload, "fire_at_ms")) == nullptr) {
      return outcome::stop;
    }
    const auto& out = owned(json::value{});
    sc.steps[n.id] = &out;
    result = &out;
    return outcome::done;
  }

  outcome walk_event_wait(const pipeline_node& n, const std::string& path, scope& sc,
                          const json::value*& result) {
    const event* started = nullptr;
    auto o = decide_at(event_type::wait_started, path, 1, &started, [&] {
      command cmd;
      cmd.kind = command_kind::start_wait;
      cmd.node_path = path;
      cmd.attempt = 1;
      cmd.event = n.event;
      cmd.wait_timeout_ms = n.wait_timeout_ms;
      return cmd;
    });
    if (o != outcome::done) {
      return o;
    }
    auto timeout_at = int_field(started->payload, "timeout_at_ms");
    const auto* e = peek();
    if (halted_) {
      return outcome::stop;
    }
    // Signals recorded before the branch's next event are there to take.
    auto horizon = e != nullptr ? e->seq : std::numeric_limits<int64_t>::max();
    if (const auto* payload = take_signal(n.event, horizon)) {
      sc.steps[n.id] = payload;
      result = payload;
      return outcome::done;
    }
    if (e == nullptr) {
      await(run_state::awaiting_event, path, 1, timeout_at, n.event);
      return outcome::stop;
    }
    if (e->type == event_type::wait_timed_out && e->node_path == path) {
      take();
      if (n.on_timeout == wait_timeout_action::fail) {
        return fail("wait_timeout", "node '" + n.id + "': no '" + n.event + "' event within " +
                                      std::to_string(n.wait_timeout_ms) + " ms");
      }
      const auto& out = owned(json::value(json::object{{"timed_out", true}}));
      sc.steps[n.id] = &out;
      result = &out;
      return outcome::done;
    }
    conflict(e->seq,
             "signal_received '" + n.event + "' or " + label(event_type::wait_timed_out, path, 0),
             describe(*e));
    return outcome::stop;
  }

  /// The first unconsumed signal named `name` recorded before `horizon`:
  /// its payload.
  const json::value* take_signal(const std::string& name, int64_t horizon) {
    for (auto& s : signals_) {
      if (s.e->seq >= horizon) {
        break;
      }
      if (!s.consumed && string_field(s.e->payload, "event") == name) {
        s.consumed = true;
        taken_.push_back(s.e->seq);
        const auto* obj = s.e->payload.if_object();
        if (obj != nullptr) {
          if (const auto* p = obj->if_contains("payload")) {
            return p;
          }
        }
        return &owned(json::value{});
      }
    }
    return nullptr;
  }

  /// Values computed by the walk (loop outputs) live as long as the walker.
  const json::value& owned(json::value v) {
    values_.push_back(std::make_unique<json::value>(std::move(v)));
    return *values_.back();
  }

  struct buffered_signal {
    const event* e;
    bool consumed;
  };

  /// The buffered signal with sequence number `seq` (they are in history
  /// order), or nullptr.
  buffered_signal* signal_by_seq(int64_t seq) {
    auto it = std::lower_bound(signals_.begin(), signals_.end(), seq,
                               [](const buffered_signal& s, int64_t x) { return s.e->seq < x; });
    return it != signals_.end() && it->e->seq == seq ? &*it : nullptr;
  }

  const pipeline& pipeline_;
  const json::value& input_;
  const std::vector<event>& history_;
  /// The whole history, and the view the walk reads now (a branch's
  /// events inside a concurrent node).
  view top_;
  view* cur_ = &top_;
  /// A conflict or a cancellation ended the walk.
  bool halted_ = false;
  /// The run's end was found in the history.
  bool ended_ = false;
  std::vector<buffered_signal> signals_;
  /// Sequence numbers of the signals taken, in order.
  std::vector<int64_t> taken_;
  walk_cache* cache_ = nullptr;
  std::vector<std::unique_ptr<json::value>> values_;
  std::string failure_type_;
  std::string failure_message_;
  decision out_;
};

} // namespace

decision decide(const pipeline& definition, const json::value& input,
                const std::vector<event>& history, walk_cache* cache) {
  walker w{definition, input, history, cache};
  return w.run();
}

} // namespace flowgate::engine
