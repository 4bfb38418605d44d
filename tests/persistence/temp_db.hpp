#pragma once

// A database file in a fresh temporary directory, removed afterwards.

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

} // namespace flowgate::testing
