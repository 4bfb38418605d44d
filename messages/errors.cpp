#include "messages/errors.hpp"

#include <caf/atom.hpp>
#include <caf/make_message.hpp>
#include <caf/message.hpp>
#include <caf/sec.hpp>

namespace flowgate {

namespace {

caf::atom_value category() {
  return caf::atom("flowgate");
}

} // namespace

std::string to_string(errc x) {
  switch (x) {
  case errc::none:
    return "none";
  case errc::invalid_argument:
    return "invalid_argument";
  case errc::malformed_json:
    return "malformed_json";
  case errc::invalid_config:
    return "invalid_config";
  case errc::payload_too_large:
    return "payload_too_large";
  case errc::unknown_tenant:
    return "unknown_tenant";
  case errc::unknown_queue:
    return "unknown_queue";
  case errc::unknown_version:
    return "unknown_version";
  case errc::version_conflict:
    return "version_conflict";
  case errc::not_found:
    return "not_found";
  case errc::store_busy:
    return "store_busy";
  case errc::store_failure:
    return "store_failure";
  case errc::schema_too_new:
    return "schema_too_new";
  case errc::lease_lost:
    return "lease_lost";
  case errc::quota_exceeded:
    return "quota_exceeded";
  case errc::tenant_at_limit:
    return "tenant_at_limit";
  case errc::deadline_exceeded:
    return "deadline_exceeded";
  case errc::nondeterminism:
    return "nondeterminism";
  case errc::run_finished:
    return "run_finished";
  case errc::quota_exhausted:
    return "quota_exhausted";
  case errc::shutting_down:
    return "shutting_down";
  case errc::node_id_in_use:
    return "node_id_in_use";
  case errc::store_corrupt:
    return "store_corrupt";
  case errc::store_full:
    return "store_full";
  case errc::store_io:
    return "store_io";
  case errc::unauthenticated:
    return "unauthenticated";
  case errc::forbidden:
    return "forbidden";
  case errc::node_unreachable:
    return "node_unreachable";
  case errc::too_many_requests:
    return "too_many_requests";
  }
  return "errc(" + std::to_string(static_cast<int>(x)) + ")";
}

caf::error make_error(errc x) {
  return caf::error{static_cast<uint8_t>(x), category()};
}

caf::error make_error(errc x, std::string what) {
  return caf::error{static_cast<uint8_t>(x), category(), caf::make_message(std::move(what))};
}

errc code_of(const caf::error& e) {
  if (!e || e.category() != category()) {
    return errc::none;
  }
  return static_cast<errc>(e.code());
}

std::string describe(const caf::error& e) {
  if (!e) {
    return "no error";
  }
  const auto& ctx = e.context();
  if (e.category() == category()) {
    if (ctx.match_elements<std::string>()) {
      return ctx.get_as<std::string>(0);
    }
    return to_string(static_cast<errc>(e.code()));
  }
  if (e.category() == caf::atom("system")) {
    auto text = to_string(static_cast<caf::sec>(e.code()));
    if (static_cast<caf::sec>(e.code()) == caf::sec::request_timeout) {
      return "request timed out (" + text + ")";
    }
    return text;
  }
  return caf::to_string(e);
}

bool is_retriable(const caf::error& e) {
  if (e.category() == category()) {
    auto c = static_cast<errc>(e.code());
    return c == errc::store_busy || c == errc::store_full || c == errc::store_io ||
           c == errc::deadline_exceeded || c == errc::tenant_at_limit ||
           c == errc::too_many_requests;
  }
  return e.category() == caf::atom("system") &&
         static_cast<caf::sec>(e.code()) == caf::sec::request_timeout;
}

} // namespace flowgate
