#include "tools/cli_args.hpp"

namespace flowgate::cli {

std::optional<std::string> args::option(const std::string& name) const {
  auto i = options.find(name);
  if (i == options.end()) {
    return std::nullopt;
  }
  return i->second;
}

const std::set<std::string>& value_options() {
  static const std::set<std::string> xs = {"db",
                                           "tenant",
                                           "queue",
                                           "version",
                                           "file",
                                           "synchronous",
                                           "limit",
                                           "node-id",
                                           "lease-ttl-ms",
                                           "poll-ms",
                                           "workers",
                                           "max-active",
                                           "hold-ms",
                                           "drain-ms",
                                           "on-nondeterminism",
                                           "input",
                                           "input-file",
                                           "config-version",
                                           "idempotency-key",
                                           "event",
                                           "payload",
                                           "reason",
                                           "status",
                                           "after",
                                           "timeout-ms",
                                           "period",
                                           "quota-scan-ms",
                                           "schedule-poll-ms",
                                           "max-findings",
                                           "id",
                                           "listen",
                                           "http",
                                           "connect",
                                           "key",
                                           "key-file",
                                           "peer-key-file",
                                           "tls-cert",
                                           "tls-key",
                                           "tls-ca",
                                           "name"};
  return xs;
}

const std::set<std::string>& known_flags() {
  static const std::set<std::string> xs = {"json", "help",        "all",
                                           "wait", "all-tenants", "operator"};
  return xs;
}

std::optional<args> parse_args(int argc, char** argv, std::string& error) {
  args out;
  bool only_words = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (only_words || a == "-" || a.rfind("--", 0) != 0) {
      if (a == "-h") {
        out.flags.insert("help");
        continue;
      }
      out.words.push_back(a);
      continue;
    }
    if (a == "--") {
      only_words = true;
      continue;
    }
    auto name = a.substr(2);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    if (value_options().count(name) > 0) {
      if (!value) {
        if (i + 1 >= argc) {
          error = "option --" + name + " needs a value";
          return std::nullopt;
        }
        value = argv[++i];
      }
      out.options[name] = *value;
    } else if (known_flags().count(name) > 0) {
      if (value) {
        error = "option --" + name + " takes no value";
        return std::nullopt;
      }
      out.flags.insert(name);
    } else {
      error = "unknown option --" + name;
      return std::nullopt;
    }
  }
  return out;
}

} // namespace flowgate::cli
