#pragma once

/// What the SQLite and the PostgreSQL statement (persistence/sqlite.hpp,
/// persistence/pg.hpp) share on top of their own `bind(int, int64_t)`,
/// `bind(int, double)` and `bind(int, std::string_view)`: narrower integers,
/// strings, enums as their stored text, and `bind_all`. A statement derives
/// from `statement_binding<itself>` and says `using statement_binding::bind;`.

#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

namespace flowgate {

template <class Statement> class statement_binding {
public:
  Statement& bind(int index, int32_t value) { return self().bind(index, int64_t{value}); }
  Statement& bind(int index, const std::string& value) {
    return self().bind(index, std::string_view{value});
  }
  Statement& bind(int index, const char* value) {
    return self().bind(index, std::string_view{value});
  }
  /// An enum binds as its stored text: its `to_string` (found by ADL).
  template <class E>
  requires std::is_enum_v<E> Statement& bind(int index, E value) {
    return self().bind(index, std::string_view{to_string(value)});
  }

  /// Binds all arguments from index 1 on.
  template <class... Ts> Statement& bind_all(const Ts&... xs) {
    int i = 0;
    (self().bind(++i, xs), ...);
    return self();
  }

private:
  Statement& self() { return static_cast<Statement&>(*this); }
};

} // namespace flowgate
