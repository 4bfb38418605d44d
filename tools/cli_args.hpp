#pragma once

/// Command-line parsing for the `flowgate` binary: options (`--name value`,
/// `--name=value`, flags) anywhere on the line, and positional words.

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace flowgate::cli {

/// A parsed command line.
struct args {
  std::vector<std::string> words;
  std::map<std::string, std::string> options;
  std::set<std::string> flags;

  bool has_flag(const std::string& f) const { return flags.count(f) > 0; }
  std::optional<std::string> option(const std::string& name) const;
};

/// Options that take a value; every other `--x` is a flag.
const std::set<std::string>& value_options();

/// Flags the binary knows.
const std::set<std::string>& known_flags();

/// Parses argv[1..]. On a usage error returns nullopt and sets `error`.
std::optional<args> parse_args(int argc, char** argv, std::string& error);

} // namespace flowgate::cli
