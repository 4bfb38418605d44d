#include "actors/activity.hpp"

#include <algorithm>
#include <chrono>
#include <stdexcept>
#include <thread>

namespace flowgate {

namespace json = boost::json;

activity_outcome activity_outcome::success(json::value output) {
  activity_outcome out;
  out.ok_ = true;
  out.output_ = std::move(output);
  return out;
}

activity_outcome activity_outcome::failure(std::string type, std::string message, bool retryable) {
  activity_outcome out;
  out.ok_ = false;
  out.error_ = activity_error{std::move(type), std::move(message), retryable};
  return out;
}

namespace {

int64_t int_in(const json::value& v, const char* key, int64_t fallback) {
  if (v.is_int64()) {
    return v.get_int64();
  }
  if (const auto* obj = v.if_object()) {
    if (const auto* x = obj->if_contains(key); x != nullptr && x->is_int64()) {
      return x->get_int64();
    }
  }
  return fallback;
}

bool is_valid_activity_name(const std::string& name) {
  if (name.empty() || name.size() > 128) {
    return false;
  }
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) {
      return false;
    }
  }
  return true;
}

} // namespace

bool activity_context::sleep_for(std::chrono::milliseconds d) const {
  constexpr auto slice = std::chrono::milliseconds{20};
  auto until = std::chrono::steady_clock::now() + d;
  while (!stop_requested()) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
      until - std::chrono::steady_clock::now());
    if (left <= std::chrono::milliseconds::zero()) {
      return true;
    }
    std::this_thread::sleep_for(std::min(left, slice));
  }
  return false;
}

activity_registry::activity_registry() {
  add(
    "noop", [](const json::value&, const activity_context&) { return activity_outcome::success(); },
    activity_mode::inline_fast);
  add(
    "echo",
    [](const json::value& input, const activity_context&) {
      return activity_outcome::success(input);
    },
    activity_mode::inline_fast);
  add("sleep", [](const json::value& input, const activity_context& ctx) {
    auto ms = int_in(input, "ms", 0);
    if (ms < 0 || ms > 24 * 3600 * 1000) {
      return activity_outcome::failure("InvalidInput", "sleep: ms must be in [0, 86400000]", false);
    }
    if (!ctx.sleep_for(std::chrono::milliseconds{ms})) {
      return activity_outcome::failure("Stopped", "sleep: asked to stop", true);
    }
    return activity_outcome::success();
  });
  add(
    "fail",
    [](const json::value& input, const activity_context& ctx) {
      auto times = int_in(input, "times", 1);
      std::string type = "Injected";
      bool retryable = true;
      if (const auto* obj = input.if_object()) {
        if (const auto* t = obj->if_contains("type"); t != nullptr && t->is_string()) {
          type = std::string{t->get_string()};
        }
        if (const auto* r = obj->if_contains("retryable"); r != nullptr && r->is_bool()) {
          retryable = r->get_bool();
        }
      }
      if (ctx.attempt <= times) {
        return activity_outcome::failure(type,
                                         "injected failure of attempt " +
                                           std::to_string(ctx.attempt) + " of " +
                                           std::to_string(times),
                                         retryable);
      }
      return activity_outcome::success(json::object{{"attempt", ctx.attempt}});
    },
    activity_mode::inline_fast);
}

void activity_registry::add(const std::string& name, activity_fn fn, activity_mode mode) {
  if (!is_valid_activity_name(name)) {
    throw std::invalid_argument("activity name '" + name + "' must match [A-Za-z0-9_.-]{1,128}");
  }
  if (!fn) {
    throw std::invalid_argument("activity '" + name + "' has no function");
  }
  activities_[name] = entry{std::move(fn), mode};
}

const activity_fn* activity_registry::find(const std::string& name) const {
  auto it = activities_.find(name);
  return it == activities_.end() ? nullptr : &it->second.fn;
}

bool activity_registry::is_inline(const std::string& name) const {
  auto it = activities_.find(name);
  return it != activities_.end() && it->second.mode == activity_mode::inline_fast;
}

std::vector<std::string> activity_registry::names() const {
  std::vector<std::string> out;
  for (const auto& [name, fn] : activities_) {
    out.push_back(name);
  }
  return out;
}

} // namespace flowgate
