#pragma once

// Lets Boost.Test print flowgate enums in failure messages.

#include "config/node_settings.hpp"
#include "config/pipeline.hpp"
#include "config/tenant_config.hpp"
#include "messages/errors.hpp"

#include <ostream>

namespace flowgate {

inline std::ostream& operator<<(std::ostream& os, errc x) {
  return os << to_string(x);
}
inline std::ostream& operator<<(std::ostream& os, node_kind x) {
  return os << to_string(x);
}
inline std::ostream& operator<<(std::ostream& os, tenant_tier x) {
  return os << to_string(x);
}
inline std::ostream& operator<<(std::ostream& os, admission_mode x) {
  return os << to_string(x);
}
inline std::ostream& operator<<(std::ostream& os, sync_mode x) {
  return os << to_string(x);
}
inline std::ostream& operator<<(std::ostream& os, wait_timeout_action x) {
  return os << (x == wait_timeout_action::fail ? "fail" : "continue");
}

} // namespace flowgate
