#pragma once

// A database file in a fresh temporary directory, removed afterwards, and an
// independent connection to it that sees only committed data.

#include "messages/errors.hpp"
#include "persistence/sqlite.hpp"

#include <boost/test/unit_test.hpp>

#include <filesystem>
#include <random>
#include <string>

namespace flowgate::testing {

struct temp_db {
  std::filesystem::path dir;
  std::string path;

  temp_db() {
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() /
          ("flowgate-test-" + std::to_string(rd()) + std::to_string(rd()));
    std::filesystem::create_directories(dir);
    path = (dir / "test.db").string();
  }
  temp_db(const temp_db&) = delete;
  temp_db& operator=(const temp_db&) = delete;
  ~temp_db() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

/// A second connection to an existing database: what it sees is committed.
inline sqlite::connection observer_connection(const std::string& path) {
  auto c = sqlite::connection::open(sqlite::open_options{path, 5000, sync_mode::full, false});
  BOOST_REQUIRE_MESSAGE(c, (c ? "" : describe(c.error())));
  return std::move(*c);
}

} // namespace flowgate::testing
