#include "tools/cli_common.hpp"

#include <boost/json.hpp>

#include <charconv>
#include <ctime>
#include <fstream>
#include <iostream>
#include <iterator>
#include <stdexcept>

namespace flowgate::cli {

int fail(const std::string& message) {
  std::cerr << "flowgate: error: " << message << "\n";
  return exit_failure;
}

int fail(const caf::error& e) {
  return fail(describe(e) + " [" + to_string(code_of(e)) + "]");
}

std::string require(const args& a, const std::string& name) {
  auto v = a.option(name);
  if (!v) {
    throw usage_error{"missing --" + name};
  }
  return *v;
}

int64_t int_option(const args& a, const std::string& name, int64_t fallback, int64_t min,
                   int64_t max) {
  auto v = a.option(name);
  if (!v) {
    return fallback;
  }
  int64_t x = 0;
  auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
  if (ec != std::errc{} || end != v->data() + v->size() || x < min || x > max) {
    throw usage_error{"--" + name + " must be an integer from " + std::to_string(min) + " to " +
                      std::to_string(max) + ", got '" + *v + "'"};
  }
  return x;
}

std::string read_file(const std::string& path) {
  if (path == "-") {
    return std::string{std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>()};
  }
  std::ifstream in{path, std::ios::binary};
  if (!in) {
    throw std::runtime_error("cannot read file '" + path + "'");
  }
  return std::string{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string read_document(const args& a, size_t word_index, const std::string& fallback) {
  if (auto f = a.option("file")) {
    return read_file(*f);
  }
  if (a.words.size() > word_index) {
    return read_file(a.words[word_index]);
  }
  return fallback;
}

void print_json(const boost::json::value& v) {
  // Flushed: `serve --json` prints its "serving" line and then runs for
  // hours; whoever reads it (a supervisor, a test) needs it now.
  std::cout << boost::json::serialize(v) << std::endl;
}

} // namespace flowgate::cli
