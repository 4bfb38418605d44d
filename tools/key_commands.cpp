// `flowgate key`: API keys (config/api_key.hpp) that remote clients
// (`flowgate --connect`, `flowgate::client`) authenticate with.

#include "tools/key_commands.hpp"

#include "actors/gateway_client.hpp"
#include "tools/cli_common.hpp"

#include <boost/json.hpp>

#include <cstdio>
#include <iostream>

namespace flowgate::cli {

namespace json = boost::json;

const char* const key_help = R"(Usage: flowgate key create (--tenant T | --operator) [--name N]
       flowgate key list [--tenant T]
       flowgate key revoke ID

API keys authenticate remote clients ('flowgate --connect', flowgate::client)
at a node's door ('serve --listen'). A tenant key acts for its tenant only:
another tenant's runs are not found, operator commands are forbidden,
whatever --tenant says. An operator key acts for every tenant.

  create   makes a key and prints it once: it reads fgk_<id>_<secret>; only
           the secret's SHA-256 is stored, so keep the key (a lost key is
           revoked and replaced, never shown again)
  list     the keys' ids, tenants, names, creation and revocation times
  revoke   ends a key at once on every node (requests with it fail with
           unauthenticated)

Keys are managed with operator rights: on the database host (--db) or
through a node with an operator key (--connect ... --key). The first
operator key is made on the database host.
)";

namespace {

json::object key_json(const api_key_record& k) {
  return json::object{{"key_id", k.key_id},
                      {"tenant", k.tenant.empty() ? json::value{} : json::value{k.tenant}},
                      {"operator", k.tenant.empty()},
                      {"name", k.name},
                      {"created_at", format_time(k.created_at_ms)},
                      {"revoked_at", k.revoked_at_ms == 0
                                       ? json::value{}
                                       : json::value{format_time(k.revoked_at_ms)}}};
}

} // namespace

int key_command(gateway_client& n, const args& a, bool as_json) {
  const auto& cmd = a.words.at(1);
  if (cmd == "create") {
    bool op = a.has_flag("operator");
    auto tenant = a.option("tenant");
    if (op == tenant.has_value()) {
      throw usage_error{"key create needs exactly one of --tenant T and --operator"};
    }
    auto made = n.create_key(tenant.value_or(""), op, a.option("name").value_or(""));
    if (!made) {
      return fail(made.error());
    }
    if (as_json) {
      auto out = key_json(made->record);
      out["key"] = made->key;
      print_json(out);
    } else {
      std::cout << made->key << "\n"
                << "key " << made->record.key_id << " for "
                << (made->record.tenant.empty() ? std::string{"every tenant (operator)"}
                                                : "tenant " + made->record.tenant)
                << ": shown this once; only its hash is stored\n";
    }
    return exit_ok;
  }
  if (cmd == "list") {
    auto keys = n.list_keys(a.option("tenant").value_or(""));
    if (!keys) {
      return fail(keys.error());
    }
    if (as_json) {
      json::array out;
      for (const auto& k : *keys) {
        out.push_back(key_json(k));
      }
      print_json(json::object{{"keys", out}});
      return exit_ok;
    }
    std::printf("%-16s %-38s %-20s %-20s %s\n", "KEY", "TENANT", "NAME", "CREATED", "REVOKED");
    for (const auto& k : *keys) {
      std::printf("%-16s %-38s %-20s %-20s %s\n", k.key_id.c_str(),
                  k.tenant.empty() ? "(operator)" : k.tenant.c_str(), k.name.c_str(),
                  format_time(k.created_at_ms).c_str(), format_time(k.revoked_at_ms).c_str());
    }
    return exit_ok;
  }
  // revoke
  if (a.words.size() < 3) {
    throw usage_error{"key revoke needs the key's id (see 'flowgate key list')"};
  }
  auto revoked = n.revoke_key(a.words[2]);
  if (!revoked) {
    return fail(revoked.error());
  }
  if (as_json) {
    print_json(key_json(*revoked));
  } else {
    std::cout << "key " << revoked->key_id << " revoked at " << format_time(revoked->revoked_at_ms)
              << "\n";
  }
  return exit_ok;
}

} // namespace flowgate::cli
