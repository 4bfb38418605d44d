#include "persistence/sql_text.hpp"

namespace flowgate {

std::string statement_label(std::string_view sql) {
  std::string out;
  int words = 0;
  size_t i = 0;
  while (i < sql.size() && words < 3) {
    while (i < sql.size() && (sql[i] == ' ' || sql[i] == '\n' || sql[i] == '\t')) {
      ++i;
    }
    auto start = i;
    while (i < sql.size() && sql[i] != ' ' && sql[i] != '\n' && sql[i] != '\t' && sql[i] != '(') {
      ++i;
    }
    if (i > start) {
      out += (out.empty() ? "" : " ") + std::string{sql.substr(start, i - start)};
      ++words;
    } else {
      break;
    }
  }
  return out.size() > 60 ? out.substr(0, 60) : out;
}

std::string dollar_parameters(std::string_view sql) {
  std::string out;
  out.reserve(sql.size());
  char quote = 0;
  for (size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (quote != 0) {
      if (c == quote) {
        quote = 0;
      }
    } else if (c == '\'' || c == '"') {
      quote = c;
    } else if (c == '?' && i + 1 < sql.size() && sql[i + 1] >= '0' && sql[i + 1] <= '9') {
      c = '$';
    }
    out.push_back(c);
  }
  return out;
}

} // namespace flowgate
