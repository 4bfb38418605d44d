#include "config/pipeline_parser.hpp"

#include "config/checksum.hpp"
#include "messages/errors.hpp"

#include <boost/json.hpp>

#include <cmath>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <set>

namespace json = boost::json;

namespace flowgate {

namespace {

bool all_chars(std::string_view s, size_t max_len, bool (*ok)(char)) {
  if (s.empty() || s.size() > max_len) {
    return false;
  }
  for (char c : s) {
    if (!ok(c)) {
      return false;
    }
  }
  return true;
}

bool is_lower_id_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
}

bool is_label_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '.' || c == '-';
}

bool is_name_char(char c) {
  return is_label_char(c) || c == ':';
}

const std::set<std::string>& known_features() {
  static const std::set<std::string> features = {"quota", "metrics"};
  return features;
}

/// Thrown inside the validator only, caught in parse_pipeline: the first
/// violation ends validation, and unwinding keeps the walker readable.
struct violation {
  std::string message;
};

/// Where in the document a check is made, for error messages.
struct location {
  /// `node 'id'` or `root.sequence[2]` for nodes without an id.
  std::string node;
};

/// Names of node ids that have completed at a point of the walk.
using completed_set = std::set<std::string>;

class validator {
public:
  validator(std::string prefix, const pipeline_limits& limits)
      : prefix_(std::move(prefix)), limits_(limits) {}

  pipeline run(const json::value& doc) {
    const auto* obj = doc.if_object();
    if (obj == nullptr) {
      fail_doc("the document must be a JSON object, got " + std::string{json_kind_name(doc)});
    }
    for (const auto& kv : *obj) {
      auto k = kv.key();
      if (k != "name" && k != "features" && k != "root") {
        fail_doc("unknown field '" + std::string{k} + "' (allowed: name, features, root)");
      }
    }
    pipeline result;
    const auto* name = obj->if_contains("name");
    if (name == nullptr) {
      fail_doc("field 'name' is missing");
    }
    if (!name->is_string() || name->get_string().empty() || name->get_string().size() > 128) {
      fail_doc("field 'name' must be a non-empty string of at most 128 characters");
    }
    result.name = std::string{name->get_string()};
    const auto* features = obj->if_contains("features");
    if (features == nullptr) {
      result.features = {"quota"}; // config/pipeline.hpp: the default
    } else {
      if (!features->is_array()) {
        fail_doc("field 'features' must be an array of strings");
      }
      for (const auto& f : features->get_array()) {
        if (!f.is_string()) {
          fail_doc("field 'features' must be an array of strings");
        }
        std::string feature{f.get_string()};
        if (known_features().count(feature) == 0) {
          fail_doc("unknown feature '" + feature + "' (known: metrics, quota)");
        }
        if (result.has_feature(feature)) {
          fail_doc("feature '" + feature + "' is listed twice");
        }
        result.features.push_back(std::move(feature));
      }
    }
    const auto* root = obj->if_contains("root");
    if (root == nullptr) {
      fail_doc("field 'root' is missing");
    }
    collect_ids(*root, "root", 1);
    completed_set completed;
    result.root = parse_node(*root, "root", 1, completed, 0);
    result.node_count = node_count_;
    return result;
  }

private:
  [[noreturn]] void fail_doc(const std::string& what) { throw violation{prefix_ + ": " + what}; }

  [[noreturn]] void fail(const location& at, const std::string& what) {
    throw violation{prefix_ + ": " + at.node + ": " + what};
  }

  /// First pass: count nodes, check depth and collect ids (duplicates are an
  /// error), so that references can tell "unknown" from "not yet completed".
  void collect_ids(const json::value& v, const std::string& path, size_t depth) {
    if (depth > limits_.max_depth) {
      throw violation{prefix_ + ": " + path + ": nodes are nested deeper than " +
                      std::to_string(limits_.max_depth) + " levels"};
    }
    if (++node_count_ > limits_.max_nodes) {
      throw violation{prefix_ + ": the pipeline has more than " +
                      std::to_string(limits_.max_nodes) + " nodes"};
    }
    const auto* obj = v.if_object();
    if (obj == nullptr) {
      return; // reported with context by parse_node
    }
    if (const auto* id = obj->if_contains("id"); id != nullptr && id->is_string()) {
      std::string s{id->get_string()};
      if (!all_ids_.insert(s).second) {
        throw violation{prefix_ + ": node '" + s + "': id '" + s +
                        "' is used by more than one node"};
      }
    }
    if (const auto* seq = obj->if_contains("sequence"); seq != nullptr && seq->is_array()) {
      size_t i = 0;
      for (const auto& child : seq->get_array()) {
        collect_ids(child, path + ".sequence[" + std::to_string(i++) + "]", depth + 1);
      }
    }
    if (const auto* branches = obj->if_contains("parallel");
        branches != nullptr && branches->is_array()) {
      size_t i = 0;
      for (const auto& child : branches->get_array()) {
        collect_ids(child, path + ".parallel[" + std::to_string(i++) + "]", depth + 1);
      }
    }
    if (const auto* body = obj->if_contains("do")) {
      collect_ids(*body, path + ".do", depth + 1);
    }
    if (const auto* cases = obj->if_contains("cases"); cases != nullptr && cases->is_object()) {
      for (const auto& kv : cases->get_object()) {
        collect_ids(kv.value(), path + ".cases." + std::string{kv.key()}, depth + 1);
      }
    }
    if (const auto* fallback = obj->if_contains("default")) {
      collect_ids(*fallback, path + ".default", depth + 1);
    }
  }

  static void check_fields(const json::object& obj, std::initializer_list<std::string_view> allowed,
                           const std::function<void(const std::string&)>& on_unknown) {
    for (const auto& kv : obj) {
      bool ok = false;
      for (auto a : allowed) {
        if (kv.key() == a) {
          ok = true;
          break;
        }
      }
      if (!ok) {
        std::string list;
        for (auto a : allowed) {
          list += list.empty() ? "" : ", ";
          list += a;
        }
        on_unknown("unknown field '" + std::string{kv.key()} + "' (allowed: " + list + ")");
      }
    }
  }

  int64_t read_int(const location& at, const json::value& v, const std::string& field, int64_t min,
                   int64_t max) {
    int64_t x = 0;
    if (v.is_int64()) {
      x = v.get_int64();
    } else if (v.is_uint64()) {
      if (v.get_uint64() > static_cast<uint64_t>(max)) {
        fail(at, field + " must be <= " + std::to_string(max));
      }
      x = static_cast<int64_t>(v.get_uint64());
    } else {
      fail(at, field + " must be an integer, got " + std::string{json_kind_name(v)});
    }
    if (x < min) {
      fail(at, field + " must be >= " + std::to_string(min));
    }
    if (x > max) {
      fail(at, field + " must be <= " + std::to_string(max));
    }
    return x;
  }

  std::string read_name(const location& at, const json::value& v, const std::string& field) {
    if (!v.is_string()) {
      fail(at, field + " must be a string, got " + std::string{json_kind_name(v)});
    }
    std::string s{v.get_string()};
    if (!all_chars(s, 128, is_name_char)) {
      fail(at, field + " '" + s + "' must match [A-Za-z0-9_.:-]{1,128}");
    }
    return s;
  }

  pipeline_node parse_node(const json::value& v, const std::string& path, size_t depth,
                           completed_set& completed, int loop_depth) {
    location at{path};
    const auto* obj = v.if_object();
    if (obj == nullptr) {
      fail(at, "a node must be an object, got " + std::string{json_kind_name(v)});
    }
    std::vector<std::string> kinds;
    for (const char* k :
         {"sequence", "activity", "for_each", "wait", "switch", "child", "parallel"}) {
      if (obj->contains(k)) {
        kinds.emplace_back(k);
      }
    }
    if (kinds.empty()) {
      fail(at, "unknown node kind: a node has exactly one of 'sequence', 'activity', "
               "'for_each', 'wait', 'switch', 'child', 'parallel'");
    }
    if (kinds.size() > 1) {
      fail(at, "a node has exactly one kind, this one has both '" + kinds[0] + "' and '" +
                 kinds[1] + "'");
    }
    pipeline_node node;
    if (kinds[0] == "sequence") {
      node.kind = node_kind::sequence;
      check_fields(*obj, {"sequence"}, [&](const std::string& m) { fail(at, m); });
      const auto& seq = obj->at("sequence");
      if (!seq.is_array()) {
        fail(at, "sequence must be an array of nodes, got " + std::string{json_kind_name(seq)});
      }
      if (seq.get_array().empty()) {
        fail(at, "sequence must not be empty");
      }
      size_t i = 0;
      for (const auto& child : seq.get_array()) {
        auto child_path = path + ".sequence[" + std::to_string(i++) + "]";
        node.children.push_back(parse_node(child, child_path, depth + 1, completed, loop_depth));
      }
      return node;
    }
    // Every other kind carries an id.
    const auto* id = obj->if_contains("id");
    if (id == nullptr) {
      fail(at, "field 'id' is missing");
    }
    if (!id->is_string() || !is_valid_node_id(id->get_string())) {
      fail(at, "id must match [a-z0-9_]{1,64}");
    }
    node.id = std::string{id->get_string()};
    at.node = "node '" + node.id + "'";
    if (kinds[0] == "activity") {
      node.kind = node_kind::activity;
      check_fields(*obj, {"id", "activity", "input", "retry", "timeout_ms"},
                   [&](const std::string& m) { fail(at, m); });
      node.activity = read_name(at, obj->at("activity"), "activity");
      if (const auto* input = obj->if_contains("input")) {
        check_refs(at, *input, "input", completed, loop_depth);
        node.input = *input;
      }
      if (const auto* retry = obj->if_contains("retry")) {
        node.retry = parse_retry(at, *retry);
      }
      if (const auto* timeout = obj->if_contains("timeout_ms")) {
        node.timeout_ms = read_int(at, *timeout, "timeout_ms", 1, max_duration_ms);
      }
    } else if (kinds[0] == "for_each") {
      node.kind = node_kind::for_each;
      check_fields(*obj, {"id", "for_each", "concurrency", "do"},
                   [&](const std::string& m) { fail(at, m); });
      if (const auto* c = obj->if_contains("concurrency")) {
        node.concurrency =
          static_cast<int32_t>(read_int(at, *c, "concurrency", 1, max_concurrency));
      }
      const auto& items = obj->at("for_each");
      auto ptr = ref_pointer(items);
      if (!ptr) {
        fail(at, "for_each must be a reference object {\"$ref\": POINTER}");
      }
      check_pointer(at, *ptr, "for_each", completed, loop_depth);
      node.items_pointer = *ptr;
      const auto* body = obj->if_contains("do");
      if (body == nullptr) {
        fail(at, "field 'do' is missing");
      }
      // The body's outputs exist per iteration: they are visible inside the
      // body only, and after the loop only the loop's own output is.
      completed_set inner = completed;
      node.children.push_back(parse_node(*body, path + ".do", depth + 1, inner, loop_depth + 1));
      if (node.concurrency > 1) {
        if (const auto* w = find_node(node.body(), [](const pipeline_node& n) {
              return n.kind == node_kind::wait && !n.event.empty();
            })) {
          fail(at, "node '" + w->id + "' waits for event '" + w->event +
                     "' inside a for_each with concurrency > 1, where its items would take "
                     "each other's signals; wait before or after the loop");
        }
      }
    } else if (kinds[0] == "parallel") {
      parse_parallel(at, *obj, path, depth, completed, loop_depth, node);
    } else if (kinds[0] == "switch") {
      parse_switch(at, *obj, path, depth, completed, loop_depth, node);
    } else if (kinds[0] == "child") {
      node.kind = node_kind::child;
      check_fields(*obj, {"id", "child", "input", "retry"},
                   [&](const std::string& m) { fail(at, m); });
      const auto& spec = obj->at("child");
      const auto* so = spec.if_object();
      if (so == nullptr) {
        fail(at, "child must be an object {\"queue\": Q, \"version\": V}, got " +
                   std::string{json_kind_name(spec)});
      }
      check_fields(*so, {"queue", "version"},
                   [&](const std::string& m) { fail(at, "child: " + m); });
      const auto* queue = so->if_contains("queue");
      if (queue == nullptr) {
        fail(at, "child: field 'queue' is missing");
      }
      node.child_queue = read_name(at, *queue, "child.queue");
      if (const auto* version = so->if_contains("version")) {
        node.child_version = read_name(at, *version, "child.version");
      }
      if (const auto* input = obj->if_contains("input")) {
        check_refs(at, *input, "input", completed, loop_depth);
        node.input = *input;
      }
      if (const auto* retry = obj->if_contains("retry")) {
        node.retry = parse_retry(at, *retry);
      }
    } else {
      node.kind = node_kind::wait;
      check_fields(*obj, {"id", "wait"}, [&](const std::string& m) { fail(at, m); });
      parse_wait(at, obj->at("wait"), node);
    }
    completed.insert(node.id);
    return node;
  }

  /// `parallel`: branches that run at the same time. A branch's nodes are
  /// visible inside it only; after the node, its output (the branches'
  /// outputs in order) is. Two branches may not wait for the same event.
  void parse_parallel(const location& at, const json::object& obj, const std::string& path,
                      size_t depth, const completed_set& completed, int loop_depth,
                      pipeline_node& node) {
    node.kind = node_kind::parallel;
    check_fields(obj, {"id", "parallel"}, [&](const std::string& m) { fail(at, m); });
    const auto& branches = obj.at("parallel");
    if (!branches.is_array()) {
      fail(at, "parallel must be an array of nodes (the branches), got " +
                 std::string{json_kind_name(branches)});
    }
    if (branches.get_array().empty()) {
      fail(at, "parallel must have at least one branch");
    }
    if (branches.get_array().size() > static_cast<size_t>(max_concurrency)) {
      fail(at, "parallel has more than " + std::to_string(max_concurrency) + " branches");
    }
    std::map<std::string, size_t> events;
    size_t i = 0;
    for (const auto& branch : branches.get_array()) {
      completed_set inner = completed;
      node.children.push_back(parse_node(branch, path + ".parallel[" + std::to_string(i) + "]",
                                         depth + 1, inner, loop_depth));
      std::vector<const pipeline_node*> waits;
      find_node(node.children.back(), [&](const pipeline_node& n) {
        if (n.kind == node_kind::wait && !n.event.empty()) {
          waits.push_back(&n);
        }
        return false;
      });
      for (const auto* w : waits) {
        auto [it, fresh] = events.emplace(w->event, i);
        if (!fresh && it->second != i) {
          fail(at, "branches " + std::to_string(it->second) + " and " + std::to_string(i) +
                     " both wait for event '" + w->event +
                     "'; a signal would go to either, give each branch its own event");
        }
      }
      ++i;
    }
  }

  /// The first node of the tree (preorder) for which `pred` holds.
  template <class Pred> static const pipeline_node* find_node(const pipeline_node& n, Pred&& pred) {
    if (pred(n)) {
      return &n;
    }
    for (const auto& c : n.children) {
      if (const auto* found = find_node(c, pred)) {
        return found;
      }
    }
    return nullptr;
  }

  /// `switch`: a reference, `cases` (value -> node), optional `default`.
  /// Only one branch runs, so the nodes of a branch are visible inside it
  /// only; after the switch, its own output is.
  void parse_switch(const location& at, const json::object& obj, const std::string& path,
                    size_t depth, const completed_set& completed, int loop_depth,
                    pipeline_node& node) {
    node.kind = node_kind::switch_;
    check_fields(obj, {"id", "switch", "cases", "default"},
                 [&](const std::string& m) { fail(at, m); });
    auto ptr = ref_pointer(obj.at("switch"));
    if (!ptr) {
      fail(at, "switch must be a reference object {\"$ref\": POINTER}");
    }
    check_pointer(at, *ptr, "switch", completed, loop_depth);
    node.switch_pointer = *ptr;
    const auto* cases = obj.if_contains("cases");
    if (cases == nullptr) {
      fail(at, "field 'cases' is missing");
    }
    if (!cases->is_object()) {
      fail(at,
           "cases must be an object of value: node, got " + std::string{json_kind_name(*cases)});
    }
    if (cases->get_object().empty()) {
      fail(at, "cases must not be empty");
    }
    for (const auto& kv : cases->get_object()) {
      std::string key{kv.key()};
      if (key.empty() || key.size() > 256) {
        fail(at, "a case value must be 1 to 256 characters");
      }
      completed_set inner = completed;
      node.case_keys.push_back(key);
      node.children.push_back(
        parse_node(kv.value(), path + ".cases." + key, depth + 1, inner, loop_depth));
    }
    if (const auto* fallback = obj.if_contains("default")) {
      completed_set inner = completed;
      node.children.push_back(
        parse_node(*fallback, path + ".default", depth + 1, inner, loop_depth));
      node.has_default = true;
    }
  }

  retry_policy parse_retry(const location& at, const json::value& v) {
    const auto* obj = v.if_object();
    if (obj == nullptr) {
      fail(at, "retry must be an object, got " + std::string{json_kind_name(v)});
    }
    check_fields(*obj,
                 {"max_attempts", "initial_interval_ms", "backoff_coefficient", "max_interval_ms",
                  "non_retryable"},
                 [&](const std::string& m) { fail(at, "retry: " + m); });
    retry_policy r;
    if (const auto* x = obj->if_contains("max_attempts")) {
      r.max_attempts = static_cast<int32_t>(read_int(at, *x, "retry.max_attempts", 1, 10'000));
    }
    if (const auto* x = obj->if_contains("initial_interval_ms")) {
      r.initial_interval_ms = read_int(at, *x, "retry.initial_interval_ms", 1, max_duration_ms);
    }
    if (const auto* x = obj->if_contains("backoff_coefficient")) {
      if (!x->is_number()) {
        fail(at,
             "retry.backoff_coefficient must be a number, got " + std::string{json_kind_name(*x)});
      }
      auto c = x->to_number<double>();
      if (!std::isfinite(c) || c < 1.0 || c > 100.0) {
        fail(at, "retry.backoff_coefficient must be between 1.0 and 100.0");
      }
      r.backoff_coefficient = c;
    }
    if (const auto* x = obj->if_contains("max_interval_ms")) {
      r.max_interval_ms = read_int(at, *x, "retry.max_interval_ms", 1, max_duration_ms);
      if (r.max_interval_ms < r.initial_interval_ms) {
        fail(at, "retry.max_interval_ms must be >= retry.initial_interval_ms");
      }
    } else {
      r.max_interval_ms = std::min<int64_t>(r.initial_interval_ms * 100, max_duration_ms);
    }
    if (const auto* x = obj->if_contains("non_retryable")) {
      if (!x->is_array()) {
        fail(at, "retry.non_retryable must be an array of error type names");
      }
      for (const auto& t : x->get_array()) {
        r.non_retryable.push_back(read_name(at, t, "retry.non_retryable[]"));
      }
    }
    return r;
  }

  void parse_wait(const location& at, const json::value& v, pipeline_node& node) {
    const auto* obj = v.if_object();
    if (obj == nullptr) {
      fail(at, "wait must be an object, got " + std::string{json_kind_name(v)});
    }
    check_fields(*obj, {"event", "timeout_ms", "on_timeout", "timer_ms"},
                 [&](const std::string& m) { fail(at, "wait: " + m); });
    bool has_event = obj->contains("event");
    bool has_timer = obj->contains("timer_ms");
    if (has_event == has_timer) {
      fail(at, "wait needs exactly one of 'event' or 'timer_ms'");
    }
    if (has_timer) {
      if (obj->contains("timeout_ms") || obj->contains("on_timeout")) {
        fail(at, "wait.timeout_ms and wait.on_timeout apply to event waits only");
      }
      node.timer_ms = read_int(at, obj->at("timer_ms"), "wait.timer_ms", 0, max_duration_ms);
      return;
    }
    node.event = read_name(at, obj->at("event"), "wait.event");
    if (const auto* x = obj->if_contains("timeout_ms")) {
      node.wait_timeout_ms = read_int(at, *x, "wait.timeout_ms", 1, max_duration_ms);
    }
    if (const auto* x = obj->if_contains("on_timeout")) {
      if (!obj->contains("timeout_ms")) {
        fail(at, "wait.on_timeout needs wait.timeout_ms");
      }
      if (x->is_string() && x->get_string() == "continue") {
        node.on_timeout = wait_timeout_action::continue_run;
      } else if (x->is_string() && x->get_string() == "fail") {
        node.on_timeout = wait_timeout_action::fail;
      } else {
        fail(at, "wait.on_timeout must be \"continue\" or \"fail\"");
      }
    }
  }

  /// The pointer of a `{"$ref": "..."}` object, if `v` is one.
  static std::optional<std::string> ref_pointer(const json::value& v) {
    const auto* obj = v.if_object();
    if (obj == nullptr || obj->size() != 1) {
      return std::nullopt;
    }
    const auto* ref = obj->if_contains("$ref");
    if (ref == nullptr || !ref->is_string()) {
      return std::nullopt;
    }
    return std::string{ref->get_string()};
  }

  void check_refs(const location& at, const json::value& v, const std::string& field,
                  const completed_set& completed, int loop_depth) {
    if (const auto* obj = v.if_object()) {
      if (obj->contains("$ref")) {
        auto ptr = ref_pointer(v);
        if (!ptr) {
          fail(at, field + ": a reference must be exactly {\"$ref\": \"/pointer\"}");
        }
        check_pointer(at, *ptr, field, completed, loop_depth);
        return;
      }
      for (const auto& kv : *obj) {
        check_refs(at, kv.value(), field + "." + std::string{kv.key()}, completed, loop_depth);
      }
    } else if (const auto* arr = v.if_array()) {
      size_t i = 0;
      for (const auto& x : *arr) {
        check_refs(at, x, field + "[" + std::to_string(i++) + "]", completed, loop_depth);
      }
    }
  }

  void check_pointer(const location& at, const std::string& ptr, const std::string& field,
                     const completed_set& completed, int loop_depth) {
    if (!is_valid_json_pointer(ptr) || ptr.empty()) {
      fail(at, field + ": '" + ptr + "' is not a valid JSON pointer");
    }
    auto segment_end = ptr.find('/', 1);
    auto root =
      ptr.substr(1, segment_end == std::string::npos ? std::string::npos : segment_end - 1);
    if (root == "input") {
      return;
    }
    if (root == "item" || root == "index") {
      if (loop_depth == 0) {
        fail(at, field + ": '" + ptr + "' is only valid inside a for_each body");
      }
      if (root == "index" && segment_end != std::string::npos) {
        fail(at, field + ": '" + ptr + "': /index is a number and has no members");
      }
      return;
    }
    if (root == "steps") {
      if (segment_end == std::string::npos) {
        fail(at, field + ": '" + ptr + "' must name a node: /steps/<id>/output");
      }
      auto id_end = ptr.find('/', segment_end + 1);
      auto id = ptr.substr(segment_end + 1, id_end == std::string::npos ? std::string::npos
                                                                        : id_end - segment_end - 1);
      auto rest = id_end == std::string::npos ? std::string{} : ptr.substr(id_end);
      if (rest != "/output" && rest.rfind("/output/", 0) != 0) {
        fail(at, field + ": '" + ptr + "' must continue with /output after the node id");
      }
      if (all_ids_.count(id) == 0) {
        fail(at, field + ": '" + ptr + "' references unknown node '" + id + "'");
      }
      if (completed.count(id) == 0) {
        fail(at, field + ": '" + ptr + "' references node '" + id +
                   "', which cannot have completed at this point");
      }
      return;
    }
    fail(at, field + ": '" + ptr + "' must start with /input, /steps, /item or /index");
  }

  static constexpr int64_t max_duration_ms = int64_t{366} * 24 * 3600 * 1000;
  /// Most branches of a parallel and items in flight of a for_each.
  static constexpr int64_t max_concurrency = 1'000;

  std::string prefix_;
  pipeline_limits limits_;
  std::set<std::string> all_ids_;
  size_t node_count_ = 0;
};

/// `v7` for a numeric version, else the version as given: `version 'r1'`
/// (never `vr1`).
std::string version_label(std::string_view version) {
  std::string v{version};
  bool numeric =
    !v.empty() && v.find_first_not_of("0123456789.") == std::string::npos && v[0] != '.';
  if (numeric) {
    return "v" + v;
  }
  return "version '" + v + "'";
}

std::string prefix_for(const json::value& doc, std::string_view version) {
  std::string name = "?";
  if (const auto* obj = doc.if_object()) {
    if (const auto* n = obj->if_contains("name"); n != nullptr && n->is_string()) {
      name = std::string{n->get_string()};
    }
  }
  return "pipeline '" + name + "' " + version_label(version);
}

} // namespace

bool is_valid_node_id(std::string_view id) {
  return all_chars(id, 64, is_lower_id_char);
}

bool is_valid_version_label(std::string_view label) {
  return all_chars(label, 64, is_label_char);
}

bool is_valid_queue_name(std::string_view name) {
  return all_chars(name, 128, is_label_char);
}

bool is_valid_json_pointer(std::string_view ptr) {
  if (ptr.empty()) {
    return true;
  }
  if (ptr[0] != '/') {
    return false;
  }
  for (size_t i = 0; i < ptr.size(); ++i) {
    if (ptr[i] == '~' && (i + 1 >= ptr.size() || (ptr[i + 1] != '0' && ptr[i + 1] != '1'))) {
      return false;
    }
  }
  return true;
}

caf::expected<pipeline> parse_pipeline(const json::value& doc, std::string_view version,
                                       const pipeline_limits& limits) {
  validator v{prefix_for(doc, version), limits};
  try {
    return v.run(doc);
  } catch (violation& x) {
    return make_error(errc::invalid_config, std::move(x.message));
  }
}

caf::expected<parsed_pipeline> parse_pipeline_text(std::string_view text, std::string_view version,
                                                   const pipeline_limits& limits) {
  auto doc =
    parse_json_document(text, "pipeline " + version_label(version), limits.max_document_bytes);
  if (!doc) {
    return doc.error();
  }
  auto definition = parse_pipeline(*doc, version, limits);
  if (!definition) {
    return definition.error();
  }
  auto canonical = canonical_json(*doc);
  auto checksum = content_checksum(canonical);
  return parsed_pipeline{std::move(*definition), std::move(canonical), std::move(checksum)};
}

} // namespace flowgate
