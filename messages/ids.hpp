#pragma once

/// Small strong types for the identifiers that travel in messages.
/// A tenant id can never be passed where a queue name is expected.

#include <caf/meta/type_name.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace flowgate {

/// A value of type T tagged so that ids of different kinds do not mix.
template <class Tag, class T> struct strong_id {
  T value{};

  strong_id() = default;
  explicit strong_id(T v) : value(std::move(v)) {}

  friend bool operator==(const strong_id& a, const strong_id& b) { return a.value == b.value; }
  friend bool operator!=(const strong_id& a, const strong_id& b) { return a.value != b.value; }
  friend bool operator<(const strong_id& a, const strong_id& b) { return a.value < b.value; }
};

template <class Inspector, class Tag, class T>
typename Inspector::result_type inspect(Inspector& f, strong_id<Tag, T>& x) {
  return f(caf::meta::type_name(Tag::type_name), x.value);
}

/// Tags name the type for CAF's serialization; the same on every node.
struct tenant_id_tag {
  static constexpr const char* type_name = "flowgate::tenant_id";
};
struct queue_name_tag {
  static constexpr const char* type_name = "flowgate::queue_name";
};
struct config_version_tag {
  static constexpr const char* type_name = "flowgate::config_version";
};
struct run_id_tag {
  static constexpr const char* type_name = "flowgate::run_id";
};
struct node_id_tag {
  static constexpr const char* type_name = "flowgate::node_id";
};

/// Normalized tenant identifier (see config/tenants.hpp for normalization).
using tenant_id = strong_id<tenant_id_tag, std::string>;
/// Name of a queue: a tenant's pipelines are stored per queue.
using queue_name = strong_id<queue_name_tag, std::string>;
/// A pipeline version label; empty means "resolve the version".
using config_version = strong_id<config_version_tag, std::string>;
/// A run, numbered by the store.
using run_id = strong_id<run_id_tag, int64_t>;
/// A flowgate node (process) that can hold leases.
using node_id = strong_id<node_id_tag, std::string>;

/// Epoch of a run's lease; every write under a lease is conditional on it.
using lease_epoch = int64_t;

/// Whose runs a request may address: one tenant (a blank id means the
/// default tenant, as everywhere) or, only when asked for explicitly, every
/// tenant (operator access). Another tenant's run is answered exactly like
/// a missing one.
struct tenant_scope {
  tenant_scope() = default;
  tenant_scope(const char* raw) : tenant(raw) {}
  tenant_scope(std::string raw) : tenant(std::move(raw)) {}
  tenant_scope(std::string_view raw) : tenant(raw) {}

  /// Operator access to every tenant.
  static tenant_scope all_tenants() {
    tenant_scope s;
    s.all = true;
    return s;
  }

  bool all = false;
  /// The raw tenant id (normalized by the receiver); ignored when `all`.
  std::string tenant;
  /// A remote caller's API key (config/api_key.hpp). The door a node
  /// publishes (actors/gateway_door.hpp) accepts a request only with a
  /// valid key and replaces the scope with what the key allows; in-process
  /// callers of the gateway itself leave it empty.
  std::string key;
};

template <class Inspector> typename Inspector::result_type inspect(Inspector& f, tenant_scope& x) {
  return f(caf::meta::type_name("flowgate::tenant_scope"), x.all, x.tenant, x.key);
}

} // namespace flowgate

template <class Tag, class T> struct std::hash<flowgate::strong_id<Tag, T>> {
  size_t operator()(const flowgate::strong_id<Tag, T>& x) const noexcept {
    return std::hash<T>{}(x.value);
  }
};
