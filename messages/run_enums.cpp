#include "messages/run_enums.hpp"

#include <ostream>

namespace flowgate {

std::ostream& operator<<(std::ostream& out, run_status x) {
  return out << to_string(x);
}

std::ostream& operator<<(std::ostream& out, wait_reason x) {
  return out << (x == wait_reason::none ? "none" : to_string(x));
}

std::ostream& operator<<(std::ostream& out, step_status x) {
  return out << to_string(x);
}

std::ostream& operator<<(std::ostream& out, rejection_reason x) {
  return out << (x == rejection_reason::none ? "none" : to_string(x));
}

std::ostream& operator<<(std::ostream& out, done_reason x) {
  return out << to_string(x);
}

} // namespace flowgate
