// Runs the real `flowgate` binary: exit codes, stdout/stderr, --json, and
// that refused input leaves the database as it was.

#include "persistence/sqlite.hpp"
#include "tools/cli_args.hpp"

#include <boost/json/parse.hpp>
#include <boost/test/unit_test.hpp>

#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

namespace {

struct result {
  int code = -1;
  std::string out;
  std::string err;
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in{p};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

struct cli_fixture {
  std::filesystem::path dir;

  cli_fixture() {
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() / ("flowgate-cli-" + std::to_string(rd()));
    std::filesystem::create_directories(dir);
  }
  ~cli_fixture() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }

  /// Runs flowgate with `args` (shell words) in `dir`, with a clean flowgate environment.
  result run(const std::string& args, const std::string& stdin_text = "") {
    auto in = dir / "stdin";
    std::ofstream(in) << stdin_text;
    std::string cmd = "cd '" + dir.string() +
                      "' && env -u FLOWGATE_DB -u FLOWGATE_DEFAULT_TENANT_ID "
                      "-u FLOWGATE_TENANT_IDS timeout 60 " FLOWGATE_BINARY " " +
                      args + " <stdin >stdout 2>stderr";
    int status = std::system(cmd.c_str());
    result r;
    r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(dir / "stdout");
    r.err = slurp(dir / "stderr");
    return r;
  }

  void write(const std::string& name, const std::string& text) {
    std::ofstream(dir / name) << text;
  }
};

const char* const pipeline = R"({"name": "demo", "root": {"sequence": [
  {"id": "hello", "activity": "echo", "input": {"$ref": "/input"}}]}})";

} // namespace

BOOST_AUTO_TEST_SUITE(cli_args)

BOOST_AUTO_TEST_CASE(parses_options_anywhere) {
  const char* argv[] = {"flowgate", "config", "--tenant=acme", "put", "--queue",
                        "q",        "-",      "--json"};
  std::string err;
  auto a = flowgate::cli::parse_args(8, const_cast<char**>(argv), err);
  BOOST_REQUIRE(a);
  BOOST_TEST((a->words == std::vector<std::string>{"config", "put", "-"}));
  BOOST_TEST(*a->option("tenant") == "acme");
  BOOST_TEST(*a->option("queue") == "q");
  BOOST_TEST(a->has_flag("json"));
}

BOOST_AUTO_TEST_CASE(rejects_unknown_and_incomplete_options) {
  std::string err;
  const char* unknown[] = {"flowgate", "--frobnicate"};
  BOOST_TEST(!flowgate::cli::parse_args(2, const_cast<char**>(unknown), err));
  BOOST_TEST(err == "unknown option --frobnicate");
  const char* missing[] = {"flowgate", "tenant", "list", "--db"};
  BOOST_TEST(!flowgate::cli::parse_args(4, const_cast<char**>(missing), err));
  BOOST_TEST(err == "option --db needs a value");
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_FIXTURE_TEST_SUITE(cli, cli_fixture)

BOOST_AUTO_TEST_CASE(help_is_available_everywhere) {
  auto r = run("--help");
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out.find("Usage: flowgate") != std::string::npos);
  for (const char* group : {"tenant", "config", "db"}) {
    auto g = run(std::string{group} + " --help");
    BOOST_TEST(g.code == 0);
    BOOST_TEST(g.out.find(std::string{"flowgate "} + group) != std::string::npos);
  }
  auto none = run("");
  BOOST_TEST(none.code == 2);
}

BOOST_AUTO_TEST_CASE(version_names_flowgate_and_its_libraries) {
  auto r = run("--version");
  BOOST_TEST(r.code == 0);
  BOOST_TEST(r.out.rfind("flowgate 0.", 0) == 0, r.out);
  for (const char* part : {"(CAF 0.17.", "SQLite 3.", "libpq ", "OpenSSL 3."}) {
    BOOST_TEST(r.out.find(part) != std::string::npos, part << " in " << r.out);
  }
  BOOST_TEST(r.err.empty());
}

BOOST_AUTO_TEST_CASE(usage_errors_exit_2_with_text_on_stderr) {
  for (const char* args : {"bogus", "tenant", "tenant frob", "config put --queue q --version 1 x",
                           "--wat tenant list", "--synchronous sometimes db migrate"}) {
    auto r = run(args);
    BOOST_TEST_CHECK(r.code == 2, args);
    BOOST_TEST_CHECK(!r.err.empty(), args);
    BOOST_TEST_CHECK(r.out.empty(), args);
  }
}

BOOST_AUTO_TEST_CASE(reading_a_missing_database_fails_without_creating_it) {
  auto r = run("tenant list");
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.err.find("does not exist") != std::string::npos);
  BOOST_TEST(!std::filesystem::exists(dir / "flowgate.db"));
}

BOOST_AUTO_TEST_CASE(a_serving_nodes_environment_does_not_break_commands) {
  // FLOWGATE_LISTEN and FLOWGATE_PEER_KEY are serve's: a shell that serves
  // with them exported still runs commands.
  BOOST_TEST(run("db migrate").code == 0);
  auto r = run("--json key create --operator --name peers");
  BOOST_REQUIRE_MESSAGE(r.code == 0, r.err);
  auto key = std::string{boost::json::parse(r.out).at("key").as_string()};
  auto listed = run("--json tenant list");
  BOOST_REQUIRE(listed.code == 0);
  std::string cmd_env = "FLOWGATE_LISTEN=127.0.0.1:0 FLOWGATE_PEER_KEY=" + key + " ";
  auto out = dir / "env.out";
  int status =
    std::system(("cd '" + dir.string() + "' && env -u FLOWGATE_DB " + cmd_env +
                 "timeout 60 " FLOWGATE_BINARY " --json tenant list >'" + out.string() + "' 2>&1")
                  .c_str());
  BOOST_TEST((WIFEXITED(status) && WEXITSTATUS(status) == 0), slurp(out));
  BOOST_TEST(slurp(out) == listed.out);
}

BOOST_AUTO_TEST_CASE(tenant_and_config_round_trip_with_json_output) {
  BOOST_TEST(run("db migrate").code == 0);
  auto t = run("--json tenant put ' Acme ' -", R"({"name": "Acme", "tier": "pro"})");
  BOOST_REQUIRE_MESSAGE(t.code == 0, t.err);
  auto tj = boost::json::parse(t.out);
  BOOST_TEST(tj.at("id").as_string() == "acme");
  BOOST_TEST(tj.at("tier").as_string() == "pro");
  write("p.json", pipeline);
  auto put = run("--json config put --tenant acme --queue greet --version 1 p.json");
  BOOST_REQUIRE_MESSAGE(put.code == 0, put.err);
  BOOST_TEST(boost::json::parse(put.out).at("created").as_bool());
  auto get = run("--json config get --tenant acme --queue greet");
  BOOST_REQUIRE_MESSAGE(get.code == 0, get.err);
  auto gj = boost::json::parse(get.out);
  BOOST_TEST(gj.at("version").as_string() == "1");
  BOOST_TEST(gj.at("pipeline").as_string() == "demo");
  auto list = run("--json config list --tenant acme");
  BOOST_TEST(boost::json::parse(list.out).as_array().size() == 1u);
  auto act = run("config activate --tenant acme --queue greet --version 1");
  BOOST_TEST(act.code == 0);
  auto info = run("--json db info");
  BOOST_TEST(boost::json::parse(info.out).at("configs").as_int64() == 1);
}

BOOST_AUTO_TEST_CASE(tenant_secrets_are_never_printed) {
  auto put = run("tenant put acme -",
                 R"({"settings": {"model": "m"}, "secrets": {"api_key": "sk-live-1"}})");
  BOOST_REQUIRE_MESSAGE(put.code == 0, put.err);
  for (const char* cmd :
       {"tenant get acme", "--json tenant get acme", "tenant list", "--json tenant list"}) {
    auto r = run(cmd);
    BOOST_TEST(r.code == 0, r.err);
    BOOST_TEST(r.out.find("sk-live-1") == std::string::npos, cmd << ": " << r.out);
    bool shows_config = std::string{cmd} != "tenant list";
    BOOST_TEST((r.out.find("api_key") != std::string::npos) == shows_config, cmd << ": " << r.out);
  }
  BOOST_TEST(put.out.find("sk-live-1") == std::string::npos, put.out);
  // The database file is the operator's alone.
  struct stat st {};
  BOOST_REQUIRE(::stat((dir / "flowgate.db").c_str(), &st) == 0);
  BOOST_TEST((st.st_mode & 0777) == 0600u);
}

BOOST_AUTO_TEST_CASE(refused_input_exits_1_names_the_problem_and_changes_nothing) {
  BOOST_TEST(run("tenant put acme").code == 0);
  write("p.json", pipeline);
  BOOST_TEST(run("config put --tenant acme --queue greet --version 1 p.json").code == 0);
  auto before = run("--json config list --tenant acme").out + run("--json tenant list").out;
  struct refusal {
    std::string args;
    std::string input;
    std::string says;
  };
  for (const auto& c : std::vector<refusal>{
         {"tenant put acme -", R"({"tier": "gold"})", "tier must be"},
         {"tenant put acme -", R"({"name": )", "malformed JSON"},
         {"config put --tenant acme --queue greet --version 1 -",
          R"({"name": "demo", "root": {"sequence": [{"id": "x", "activity": "y"}]}})", "immutable"},
         {"config put --tenant acme --queue greet --version 2 -", R"({"name": "d", "root": 1})",
          "a node must be an object"},
         {"config put --tenant nobody --queue greet --version 1 p.json", "",
          "tenant 'nobody' does not exist"},
         {"config put --tenant acme --queue greet --version 2 missing.json", "",
          "cannot read file 'missing.json'"},
         {"config activate --tenant acme --queue greet --version 9", "", "no version '9'"},
         {"tenant get nobody", "", "tenant 'nobody' does not exist"},
       }) {
    auto r = run(c.args, c.input);
    BOOST_TEST_CHECK(r.code == 1, c.args);
    BOOST_TEST_CHECK(r.err.find(c.says) != std::string::npos, c.args << ": " << r.err);
  }
  auto after = run("--json config list --tenant acme").out + run("--json tenant list").out;
  BOOST_TEST(before == after);
}

BOOST_AUTO_TEST_CASE(run_commands_have_help_and_usage_errors) {
  for (const char* group : {"run", "serve", "replay"}) {
    auto g = run(std::string{group} + " --help");
    BOOST_TEST(g.code == 0);
    BOOST_TEST(g.out.find(std::string{"flowgate "} + group) != std::string::npos);
  }
  BOOST_TEST(run("tenant put acme").code == 0);
  for (const char* args :
       {"run", "run frob", "run status abc", "run status", "replay", "serve --workers 0",
        "serve --on-nondeterminism maybe", "run start --queue q", "run list --limit x"}) {
    auto r = run(args);
    BOOST_TEST_CHECK(r.code == 2, args << ": " << r.err);
    BOOST_TEST_CHECK(!r.err.empty(), args);
  }
}

BOOST_AUTO_TEST_CASE(run_start_refuses_bad_input_and_stores_nothing) {
  write("p.json", pipeline);
  BOOST_TEST(run("tenant put acme").code == 0);
  BOOST_TEST(run("config put --tenant acme --queue q --version 1 p.json").code == 0);
  struct bad {
    const char* args;
    const char* code;
  };
  for (auto [args, code] :
       {bad{"run start --tenant nobody --queue q", "unknown_tenant"},
        bad{"run start --tenant acme --queue other", "unknown_queue"},
        bad{"run start --tenant acme --queue q --config-version 7", "unknown_version"},
        bad{"run start --tenant acme --queue q --input '{\"a\":'", "malformed_json"},
        bad{"run status 999", "not_found"}, bad{"run signal 999 --event go", "not_found"},
        bad{"run cancel 999", "not_found"}}) {
    auto r = run(args);
    BOOST_TEST_CHECK(r.code == 1, args);
    BOOST_TEST_CHECK(r.err.find(code) != std::string::npos, args << ": " << r.err);
  }
  auto info = run("--json db info");
  BOOST_TEST(boost::json::parse(info.out).at("runs").as_int64() == 0);
}

BOOST_AUTO_TEST_CASE(runs_started_without_a_node_wait_pending_and_replay_cleanly) {
  write("p.json", pipeline);
  BOOST_TEST(run("tenant put acme").code == 0);
  BOOST_TEST(run("config put --tenant acme --queue q --version 1 p.json").code == 0);
  auto started = run("--json run start --tenant acme --queue q --input '{\"x\": 1}'");
  BOOST_TEST(started.code == 0, started.err);
  auto doc = boost::json::parse(started.out);
  BOOST_TEST(doc.at("status").as_string() == "PENDING");
  BOOST_TEST(doc.at("config_version").as_string() == "1");
  auto id = std::to_string(doc.at("run").as_int64());
  auto status = run("--json run status " + id + " --tenant acme");
  BOOST_TEST(status.code == 0);
  BOOST_TEST(boost::json::parse(status.out).at("input").at("x").as_int64() == 1);
  auto foreign = run("run status " + id + " --tenant other");
  BOOST_TEST(foreign.code == 1);
  auto history = run("--json run history " + id + " --all-tenants");
  BOOST_TEST(history.code == 0);
  BOOST_TEST(boost::json::parse(history.out).as_array().size() == 1u);
  auto replay = run("replay --all --tenant acme");
  BOOST_TEST(replay.code == 0, replay.err);
  BOOST_TEST(replay.out.find("1 runs replayed, 0 non-deterministic") != std::string::npos);
  auto list = run("--json run list --status PENDING --all-tenants");
  BOOST_TEST(boost::json::parse(list.out).as_array().size() == 1u);
  // Any case; an unknown status is a usage error naming the choices.
  auto lower = run("--json run list --status pending --all-tenants");
  BOOST_TEST(boost::json::parse(lower.out).as_array().size() == 1u);
  auto none = run("--json run list --status COMPLETED --all-tenants");
  BOOST_TEST(boost::json::parse(none.out).as_array().size() == 0u);
  auto bogus = run("run list --status DONE --all-tenants");
  BOOST_TEST(bogus.code == 2);
  BOOST_TEST(bogus.err.find("--status 'DONE' must be PENDING, RUNNING") != std::string::npos,
             bogus.err);
  auto cancel = run("run cancel " + id + " --tenant acme");
  BOOST_TEST(cancel.code == 0);
  BOOST_TEST(cancel.out.find("canceled") != std::string::npos);
}

BOOST_AUTO_TEST_CASE(a_damaged_database_is_refused_by_every_command_and_never_written) {
  write("p.json", pipeline);
  BOOST_TEST(run("tenant put acme").code == 0);
  auto path = (dir / "flowgate.db").string();
  {
    auto db = flowgate::sqlite::connection::open(
      flowgate::sqlite::open_options{path, 5000, flowgate::sync_mode::full, false});
    BOOST_REQUIRE(db);
    // Enough b-tree pages that one in the middle can be damaged.
    BOOST_REQUIRE(!db->exec("CREATE TABLE pad (i INTEGER PRIMARY KEY, b BLOB); "
                            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c "
                            "WHERE i < 3000) INSERT INTO pad SELECT i, randomblob(100) FROM c"));
  } // the last connection checkpoints the WAL into the file
  auto size = std::filesystem::file_size(path);
  BOOST_REQUIRE(size > 200'000);
  {
    std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(static_cast<std::streamoff>(size / 2 / 4096 * 4096));
    std::mt19937 gen{7};
    for (int i = 0; i < 4096; ++i) {
      f.put(static_cast<char>(gen() & 0xff));
    }
  }
  auto before = slurp(dir / "flowgate.db");
  for (const auto* cmd : {"tenant put other", "tenant list", "run start --tenant acme --queue q",
                          "config put --tenant acme --queue q --version 1 p.json", "db info",
                          "check", "serve --node-id n1"}) {
    auto r = run(cmd);
    BOOST_TEST(r.code == 1, cmd << ": " << r.err);
    BOOST_TEST(r.err.find("database 'flowgate.db' is damaged") != std::string::npos,
               cmd << ": " << r.err);
    BOOST_TEST(r.err.find("[store_corrupt]") != std::string::npos, cmd << ": " << r.err);
  }
  BOOST_TEST((slurp(dir / "flowgate.db") == before));
  BOOST_TEST(!std::filesystem::exists(dir / "flowgate.db-wal"));
}

BOOST_AUTO_TEST_CASE(an_empty_input_or_payload_is_refused_not_taken_as_null) {
  write("p.json", pipeline);
  write("empty.json", "");
  BOOST_TEST(run("tenant put acme").code == 0);
  BOOST_TEST(run("config put --tenant acme --queue q --version 1 p.json").code == 0);
  auto given = run("run start --tenant acme --queue q --input ''");
  BOOST_TEST(given.code == 1);
  BOOST_TEST(given.err.find("run input (--input): the document is empty") != std::string::npos,
             given.err);
  auto file = run("run start --tenant acme --queue q --input-file empty.json");
  BOOST_TEST(file.code == 1);
  BOOST_TEST(file.err.find("run input (--input-file empty.json): the document is empty") !=
               std::string::npos,
             file.err);
  auto started = run("--json run start --tenant acme --queue q");
  BOOST_REQUIRE(started.code == 0);
  auto id = std::to_string(boost::json::parse(started.out).at("run").as_int64());
  auto signal = run("run signal " + id + " --tenant acme --event e --payload ' '");
  BOOST_TEST(signal.code == 1);
  BOOST_TEST(signal.err.find("signal payload (--payload): the document is empty") !=
               std::string::npos,
             signal.err);
  // Nothing was created by the refused starts.
  auto list = run("--json run list --tenant acme");
  BOOST_TEST(boost::json::parse(list.out).as_array().size() == 1u);
}

BOOST_AUTO_TEST_CASE(a_directory_as_database_is_named_as_such) {
  std::filesystem::create_directory(dir / "d");
  auto r = run("--db d tenant list");
  BOOST_TEST(r.code == 1);
  BOOST_TEST(r.err.find("database 'd' is a directory, not a database file") != std::string::npos,
             r.err);
}

BOOST_AUTO_TEST_CASE(check_is_clean_on_what_flowgate_wrote_and_names_a_planted_defect) {
  write("p.json", pipeline);
  BOOST_TEST(run("tenant put acme").code == 0);
  BOOST_TEST(run("config put --tenant acme --queue q --version 1 p.json").code == 0);
  BOOST_TEST(run("run start --tenant acme --queue q").code == 0);
  auto clean = run("check");
  BOOST_TEST(clean.code == 0, clean.out + clean.err);
  BOOST_TEST(clean.out.find("checked 1 runs, 1 events, 0 step attempts") != std::string::npos,
             clean.out);
  BOOST_TEST(clean.out.find(": clean") != std::string::npos, clean.out);
  auto db = flowgate::sqlite::connection::open(flowgate::sqlite::open_options{
    (dir / "flowgate.db").string(), 5000, flowgate::sync_mode::full, false});
  BOOST_REQUIRE(db);
  BOOST_REQUIRE(!db->exec("UPDATE runs SET next_seq = 5"));
  auto found = run("--json check --tenant acme");
  BOOST_TEST(found.code == 1, found.out + found.err);
  auto doc = boost::json::parse(found.out);
  BOOST_TEST(!doc.at("clean").as_bool());
  auto finding = doc.at("findings").as_array().at(0).as_object();
  BOOST_TEST(finding.at("kind").as_string() == "history_gap");
  BOOST_TEST(finding.at("run").as_int64() == 1);
  BOOST_TEST(finding.at("tenant").as_string() == "acme");
  BOOST_TEST(run("check --tenant acme --all-tenants").code == 2);
  BOOST_TEST(run("check extra").code == 2);
}

BOOST_AUTO_TEST_CASE(another_tenants_run_is_answered_like_a_missing_one) {
  write("p.json", pipeline);
  BOOST_TEST(run("tenant put acme").code == 0);
  BOOST_TEST(run("tenant put other").code == 0);
  BOOST_TEST(run("config put --tenant acme --queue q --version 1 p.json").code == 0);
  BOOST_TEST(run("config put --tenant '' --queue q --version 1 p.json").code == 0);
  auto started = run("--json run start --tenant acme --queue q");
  BOOST_REQUIRE(started.code == 0);
  auto id = std::to_string(boost::json::parse(started.out).at("run").as_int64());
  // The same code and the same sentence (but for the id) for a foreign run
  // and a missing one, for every command that addresses a run.
  for (const char* cmd : {"run status", "run history", "run signal", "run cancel", "run wait",
                          "run resume", "replay"}) {
    std::string extra = std::string{cmd} == "run signal" ? " --event go" : "";
    auto foreign = run(std::string{cmd} + " " + id + " --tenant other" + extra);
    auto missing = run(std::string{cmd} + " 999 --tenant other" + extra);
    BOOST_TEST_CHECK(foreign.code == 1, cmd);
    BOOST_TEST_CHECK(missing.code == 1, cmd);
    auto masked = foreign.err;
    masked.replace(masked.find(id), id.size(), "999");
    BOOST_TEST_CHECK(masked == missing.err,
                     cmd << ": '" << foreign.err << "' vs '" << missing.err << "'");
    BOOST_TEST_CHECK(foreign.err.find("not_found") != std::string::npos, cmd << foreign.err);
  }
  // Without --tenant, and with a blank one, the scope is the default tenant:
  // acme's run is not found, and cancel does not reach it.
  BOOST_TEST(run("run status " + id).code == 1);
  BOOST_TEST(run("run cancel " + id + " --tenant ''").code == 1);
  auto replayed = run("replay --all");
  BOOST_TEST(replayed.out.find("0 runs replayed") != std::string::npos, replayed.out);
  BOOST_TEST(run("--json run list").out == "[]\n");
  // A run of the default tenant is found without a flag and with a blank one.
  auto mine = run("--json run start --tenant '' --queue q");
  BOOST_REQUIRE(mine.code == 0);
  auto mine_id = std::to_string(boost::json::parse(mine.out).at("run").as_int64());
  BOOST_TEST(run("run status " + mine_id).code == 0);
  BOOST_TEST(run("run status " + mine_id + " --tenant ''").code == 0);
  // Operators are explicit.
  auto all = run("--json run list --all-tenants");
  BOOST_TEST(boost::json::parse(all.out).as_array().size() == 2u);
  BOOST_TEST(run("replay " + id + " --all-tenants").code == 0);
  BOOST_TEST(run("run status " + id + " --all-tenants --tenant acme").code == 2);
  BOOST_TEST(run("--json run status " + id + " --tenant acme").code == 0);
}

BOOST_AUTO_TEST_CASE(tenant_stats_shows_limits_and_refusals) {
  write("t.json", R"({"max_concurrent_runs": 3, "admission": "reject",
                      "quota": {"soft_limit": 1, "hard_limit": 5}})");
  write("p.json", pipeline);
  BOOST_TEST(run("tenant put acme t.json").code == 0);
  BOOST_TEST(run("config put --tenant acme --queue q --version 1 p.json").code == 0);
  BOOST_TEST(run("run start --tenant acme --queue q").code == 0);
  auto refused = run("run start --tenant acme --queue q");
  BOOST_TEST(refused.code == 1);
  BOOST_TEST(refused.err.find("quota_exceeded") != std::string::npos, refused.err);
  auto stats = run("--json tenant stats acme");
  BOOST_TEST(stats.code == 0, stats.err);
  auto x = boost::json::parse(stats.out).as_array().at(0);
  BOOST_TEST(x.at("queued").as_int64() == 1);
  BOOST_TEST(x.at("limit").as_int64() == 3);
  BOOST_TEST(x.at("admission").as_string() == "reject");
  BOOST_TEST(x.at("rejected").at("soft_limit").as_int64() == 1);
  auto all = run("tenant stats");
  BOOST_TEST(all.code == 0);
  BOOST_TEST(all.out.find("acme") != std::string::npos);
  BOOST_TEST(run("tenant stats nobody").code == 1);
}

BOOST_AUTO_TEST_CASE(subscriptions_set_the_period_and_limit_of_quota_summary) {
  BOOST_TEST(run("tenant put acme").code == 0);
  auto calendar = boost::json::parse(run("--json quota summary --tenant acme").out);
  BOOST_TEST(calendar.at("period_source").as_string() == "calendar month");
  BOOST_TEST(calendar.at("limit").as_int64() == 150);
  BOOST_TEST(calendar.at("limit_source").as_string() == "tier default");
  // A period around now, whatever the date the test runs on.
  auto now = std::time(nullptr);
  auto iso = [](std::time_t t) {
    char buf[32];
    std::tm tm{};
    gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string{buf};
  };
  write("s.json", R"({"id": "sub_1", "status": "active", "current_period_start": ")" +
                    iso(now - 86400) + R"(", "current_period_end": ")" + iso(now + 86400) +
                    R"(", "price_metadata": {"workflow_step_limit": "lots"},
                    "product_metadata": {"workflow_step_limit": "300"}})");
  BOOST_TEST(run("subscription set --tenant acme s.json").code == 0);
  auto q = boost::json::parse(run("--json quota summary --tenant acme").out);
  BOOST_TEST(q.at("period_source").as_string() == "subscription sub_1");
  BOOST_TEST(q.at("period_start").as_string() == iso(now - 86400));
  BOOST_TEST(q.at("limit").as_int64() == 300);
  BOOST_TEST(q.at("limit_source").as_string() == "product metadata");
  BOOST_TEST(q.at("used").as_int64() == 0);
  BOOST_TEST(q.at("warnings").as_array().size() == 1u);
  auto listed = boost::json::parse(run("--json subscription get --tenant acme").out);
  BOOST_TEST(listed.as_array().size() == 1u);
  auto bad =
    run("subscription set --tenant acme -", R"({"id": "x", "status": "active", "extra": 1})");
  BOOST_TEST(bad.code == 1);
  BOOST_TEST(bad.err.find("unknown field 'extra'") != std::string::npos, bad.err);
  BOOST_TEST(run("subscription set --tenant nobody s.json").code == 1);
  BOOST_TEST(
    boost::json::parse(run("--json subscription get --tenant acme").out).as_array().size() == 1u);
}

BOOST_AUTO_TEST_CASE(schedule_commands_store_show_and_refuse_clearly) {
  BOOST_TEST(run("tenant put acme").code == 0);
  write("p.json", pipeline);
  BOOST_TEST(run("config put --tenant acme --queue reports --version 1 p.json").code == 0);
  BOOST_TEST(run("schedule --help").out.find("catch_up") != std::string::npos);
  write("s.json", R"({"queue": "reports", "cron": "0 6 * * 1-5", "timezone": "Europe/Berlin",
                      "input": {"kind": "daily"}, "catch_up": "all"})");
  auto put = run("--json schedule put --tenant acme --id daily s.json");
  BOOST_TEST(put.code == 0, put.err);
  auto v = boost::json::parse(put.out);
  BOOST_TEST(v.at("revision").as_int64() == 1);
  BOOST_TEST(v.at("paused").as_bool() == false);
  BOOST_TEST(v.at("upcoming").as_array().size() == 5u);
  // 06:00 in Berlin is 05:00Z in winter, 04:00Z in summer.
  auto next = std::string{v.at("next_fire").as_string()};
  BOOST_TEST(
    (next.find("T05:00:00Z") != std::string::npos || next.find("T04:00:00Z") != std::string::npos),
    next);
  BOOST_TEST(v.at("document").at("catch_up").as_string() == "all");
  auto paused = boost::json::parse(run("--json schedule pause --tenant acme --id daily").out);
  BOOST_TEST(paused.at("paused").as_bool());
  BOOST_TEST(paused.at("next_fire").is_null());
  auto listed = run("schedule list --tenant acme");
  BOOST_TEST(listed.out.find("daily") != std::string::npos);
  BOOST_TEST(listed.out.find("paused") != std::string::npos);
  BOOST_TEST(run("schedule resume --tenant acme --id daily").out.find("next fires:") !=
             std::string::npos);
  // Refusals name the problem and store nothing.
  struct bad {
    const char* document;
    const char* message;
  };
  for (const auto& b : {bad{R"({"queue": "reports", "cron": "0 6 * * 8"})", "day-of-week"},
                        bad{R"({"queue": "reports"})", "field 'cron' is required"},
                        bad{R"({"queue": "nope", "cron": "@daily"})", "nope"},
                        bad{R"({"queue": "reports", "version": "7", "cron": "@daily"})", "'7'"},
                        bad{R"({"queue": "reports", "cron": "@daily", "overlap": "queue"})",
                            "skip, allow, buffer_one"}}) {
    auto r = run("schedule put --tenant acme --id other -", b.document);
    BOOST_TEST(r.code == 1, b.document);
    BOOST_TEST(r.err.find(b.message) != std::string::npos, r.err);
  }
  auto bad_id = run("schedule put --tenant acme --id 'a b' s.json");
  BOOST_TEST(bad_id.code == 1);
  BOOST_TEST(bad_id.err.find("may contain only") != std::string::npos, bad_id.err);
  BOOST_TEST(run("schedule put --tenant acme s.json").code == 2);
  BOOST_TEST(run("schedule put --tenant nobody --id x s.json").code == 1);
  BOOST_TEST(boost::json::parse(run("--json schedule list --tenant acme").out).as_array().size() ==
             1u);
  BOOST_TEST(run("schedule delete --tenant acme --id daily").code == 0);
  auto gone = run("schedule get --tenant acme --id daily");
  BOOST_TEST(gone.code == 1);
  BOOST_TEST(gone.err.find("does not exist") != std::string::npos, gone.err);
  BOOST_TEST(run("schedule delete --tenant acme --id daily").code == 1);
}

BOOST_AUTO_TEST_CASE(quota_commands_answer_and_refuse_clearly) {
  BOOST_TEST(run("tenant put acme").code == 0);
  // A run that is not paused on quota cannot be resumed; the tenant is required.
  BOOST_TEST(run("config put --tenant acme --queue q --version 1 -",
                 R"({"name":"p","root":{"sequence":[{"id":"a","activity":"noop"}]}})")
               .code == 0);
  auto started = boost::json::parse(run("--json run start --tenant acme --queue q").out);
  auto id = std::to_string(started.at("run").as_int64());
  auto pending = run("run resume " + id + " --tenant acme");
  BOOST_TEST(pending.code == 1);
  BOOST_TEST(pending.err.find("not waiting on quota") != std::string::npos, pending.err);
  BOOST_TEST(run("run resume " + id).code == 2);
  BOOST_TEST(run("run resume 999 --tenant acme").code == 1);
  // Reconcile: the current period (no usage yet), a period that has no usage, a bad time.
  auto rec = boost::json::parse(run("--json quota reconcile --tenant acme").out);
  BOOST_TEST(rec.at("drift").as_int64() == 0);
  BOOST_TEST(rec.at("counter").as_int64() == 0);
  auto none = run("quota reconcile --tenant acme --period 2020-01-01T00:00:00Z");
  BOOST_TEST(none.code == 1);
  BOOST_TEST(none.err.find("no usage period starting at 2020-01-01T00:00:00Z") != std::string::npos,
             none.err);
  BOOST_TEST(run("quota reconcile --tenant acme --period yesterday").code == 2);
  BOOST_TEST(run("quota reconcile --tenant nobody").code == 1);
  auto scan = boost::json::parse(run("--json quota scan").out);
  BOOST_TEST(scan.at("resumed").as_int64() == 0);
  // Admin commands do not log info lines (the calendar fallback) to stderr.
  BOOST_TEST(run("quota summary --tenant acme").err.empty());
}

BOOST_AUTO_TEST_SUITE_END()
