// The HTTP API on the wire: real `flowgate serve --http` processes on
// 127.0.0.1, driven with curl (and bash's /dev/tcp for a malformed
// request). The README's curl examples run here as they are written.

#include "tests/tools/serve_cluster.hpp"

#include <boost/json.hpp>

#include <cstdio>

using namespace flowgate::testing;

namespace {

struct http_fixture : cluster_fixture {
  std::string dir = db.dir.string();

  /// The API's URL from the node's "serving" line (bounded wait).
  std::string url_of(const std::string& name) {
    auto deadline = std::chrono::steady_clock::now() + 30s;
    while (std::chrono::steady_clock::now() < deadline) {
      std::istringstream in{log_of(name)};
      for (std::string line; std::getline(in, line);) {
        if (line.find("\"event\":\"serving\"") != std::string::npos) {
          return std::string{boost::json::parse(line).at("http").as_string()};
        }
      }
      std::this_thread::sleep_for(20ms);
    }
    BOOST_FAIL("node " << name << " did not start serving:\n" << log_of(name));
    return {};
  }

  /// Runs a shell command (bounded); its exit code and stdout.
  std::pair<int, std::string> sh(const std::string& cmd) {
    auto script = db.dir / "cmd.sh";
    std::ofstream(script) << cmd << "\n";
    auto full = "timeout 120 bash '" + script.string() + "' 2>'" + dir + "/cmd.err'";
    FILE* p = popen(full.c_str(), "r");
    BOOST_REQUIRE(p != nullptr);
    std::string out;
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, p)) > 0;) {
      out.append(buf, n);
    }
    int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
  }

  std::string errors() {
    std::ifstream in{db.dir / "cmd.err"};
    return std::string{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  }

  /// An operator key made on the database host.
  std::string operator_key() {
    auto [code, out] = sh("timeout 60 " FLOWGATE_BINARY " --db '" + location +
                          "' --json key create --operator --name http-test");
    BOOST_REQUIRE_MESSAGE(code == 0, errors());
    return std::string{boost::json::parse(out).at("key").as_string()};
  }

  /// The HTTP status curl saw (000 when no HTTP answer came).
  std::string status_of(const std::string& curl_args) {
    return sh("curl -s -o /dev/null -w '%{http_code}' --max-time 30 " + curl_args).second;
  }
};

std::string readme_examples() {
  std::ifstream in{std::string{FLOWGATE_SOURCE_DIR} + "/README.md"};
  std::string text{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  auto begin = text.find("<!-- http-examples-begin -->");
  auto end = text.find("<!-- http-examples-end -->");
  BOOST_REQUIRE_MESSAGE(begin != std::string::npos && end != std::string::npos && begin < end,
                        "README.md has no http-examples block");
  auto block = text.substr(begin, end - begin);
  auto open = block.find("```sh\n");
  auto close = block.rfind("```");
  BOOST_REQUIRE(open != std::string::npos && close > open);
  return block.substr(open + 6, close - open - 6);
}

} // namespace

BOOST_FIXTURE_TEST_SUITE(http, http_fixture)

BOOST_AUTO_TEST_CASE(the_readme_examples_run_against_a_live_node) {
  auto node = serve("h", 30'000, "", "", {"--http", "127.0.0.1:0", "--json"});
  auto url = url_of("h");
  BOOST_REQUIRE(url.rfind("http://127.0.0.1:", 0) == 0);
  auto key = operator_key();
  auto [code, out] = sh("set -euo pipefail\nexport FLOWGATE_URL='" + url + "' FLOWGATE_KEY='" +
                        key + "'\n" + readme_examples());
  BOOST_TEST(code == 0, "the README's examples failed:\n" << out << "\n" << errors());
  // Every answer was JSON; the run waited, got its event and completed.
  BOOST_TEST(out.find("\"status\":\"WAITING\"") != std::string::npos);
  BOOST_TEST(out.find("\"status\":\"COMPLETED\"") != std::string::npos);
  BOOST_TEST(query("SELECT count(*) FROM runs WHERE status = 'COMPLETED' AND tenant_id = 'acme'") ==
             1);
  BOOST_TEST(node->stop(SIGTERM, 20s) == 0);
}

BOOST_AUTO_TEST_CASE(limits_and_malformed_requests_on_the_wire) {
  auto node = serve("h", 30'000, "", "", {"--http", "127.0.0.1:0", "--json"});
  auto url = url_of("h");
  auto key = operator_key();
  auto auth = "-H 'Authorization: Bearer " + key + "' ";
  BOOST_TEST(status_of("'" + url + "/healthz'") == "200");
  BOOST_TEST(status_of("'" + url + "/v1/runs'") == "401");
  BOOST_TEST(status_of(auth + "'" + url + "/v1/runs'") == "200");
  // A body over the limit (1 MiB + 64 KiB) is refused before it is read.
  BOOST_REQUIRE(sh("head -c 1200000 /dev/zero | tr '\\0' 'x' > '" + dir + "/big'").first == 0);
  BOOST_TEST(status_of(auth + "-X POST --data-binary @'" + dir + "/big' '" + url + "/v1/runs'") ==
             "413");
  // Bytes that are not HTTP: a 400, then the connection is closed.
  auto port = url.substr(url.rfind(':') + 1);
  auto [code, raw] = sh("exec 3<>/dev/tcp/127.0.0.1/" + port +
                        " && printf 'NOT HTTP AT ALL\\r\\n\\r\\n' >&3 && timeout 10 cat <&3");
  BOOST_TEST(code == 0, errors());
  BOOST_TEST(raw.rfind("HTTP/1.1 400", 0) == 0, raw);
  // Still serving afterwards.
  BOOST_TEST(status_of("'" + url + "/healthz'") == "200");
  BOOST_TEST(node->stop(SIGTERM, 20s) == 0);
}

BOOST_AUTO_TEST_CASE(plain_text_only_on_loopback_and_https_with_a_certificate) {
  // No plain-text API on a reachable address: refused at start.
  auto refused = serve("open", 30'000, "", "", {"--http", "0.0.0.0:0"});
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (refused->running() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(20ms);
  }
  BOOST_REQUIRE(!refused->running());
  BOOST_TEST(log_of("open").find("a plain-text API binds to a loopback address only") !=
             std::string::npos);
  // HTTPS with a certificate for 127.0.0.1.
  auto made = sh("cd '" + dir +
                 "' && openssl req -x509 -newkey rsa:2048 -nodes -keyout http.key -out http.pem "
                 "-days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1 2>/dev/null");
  BOOST_REQUIRE_MESSAGE(made.first == 0, errors());
  auto node = serve("tls", 30'000, "", "",
                    {"--http", "127.0.0.1:0", "--json", "--tls-cert", dir + "/http.pem",
                     "--tls-key", dir + "/http.key"});
  auto url = url_of("tls");
  BOOST_REQUIRE(url.rfind("https://127.0.0.1:", 0) == 0);
  auto key = operator_key();
  auto [code, body] =
    sh("curl -sS --fail-with-body --max-time 30 --cacert '" + dir +
       "/http.pem' -H 'Authorization: Bearer " + key + "' '" + url + "/v1/tenants'");
  BOOST_TEST(code == 0, errors());
  BOOST_TEST(boost::json::parse(body).is_array());
  // Without the CA the client refuses the node; plain HTTP gets no answer.
  BOOST_TEST(status_of("'" + url + "/healthz'") == "000");
  auto plain = "http://" + url.substr(std::string{"https://"}.size());
  BOOST_TEST(status_of("'" + plain + "/healthz'") != "200");
  BOOST_TEST(node->stop(SIGTERM, 20s) == 0);
}

BOOST_AUTO_TEST_CASE(a_stopping_node_answers_503_until_it_exits) {
  prepare(4000); // its first step sleeps 4 s: the drain waits for it
  auto node = serve("h", 30'000, "", "", {"--http", "127.0.0.1:0", "--json"});
  auto url = url_of("h");
  auto key = operator_key();
  auto started = status_of("-X POST -H 'Authorization: Bearer " + key +
                           "' -d '{\"tenant\":\"acme\",\"queue\":\"q\"}' '" + url + "/v1/runs'");
  BOOST_REQUIRE(started == "201");
  BOOST_REQUIRE(eventually("SELECT count(*) FROM run_steps WHERE status = 'started'", 1, 30s));
  node->signal(SIGTERM);
  bool saw_503 = false;
  auto deadline = std::chrono::steady_clock::now() + 30s;
  while (!saw_503 && std::chrono::steady_clock::now() < deadline) {
    saw_503 = status_of("'" + url + "/healthz'") == "503";
  }
  BOOST_TEST(saw_503);
  BOOST_TEST(node->stop(SIGTERM, 20s) == 0);
}

BOOST_AUTO_TEST_CASE(every_endpoint_in_the_openapi_document_is_served) {
  // docs/openapi.yaml and the router agree: each documented method and
  // path reaches an endpoint (whatever it answers for these arguments),
  // never "no such endpoint".
  auto node = serve("h", 30'000, "", "", {"--http", "127.0.0.1:0", "--json"});
  auto url = url_of("h");
  auto key = operator_key();
  std::ifstream in{std::string{FLOWGATE_SOURCE_DIR} + "/docs/openapi.yaml"};
  std::string path;
  int checked = 0;
  for (std::string line; std::getline(in, line);) {
    if (line.rfind("  /", 0) == 0 && line.back() == ':') {
      // Path parameters: a run id 1, any other word x.
      path.clear();
      auto raw = line.substr(2, line.size() - 3);
      for (size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '{') {
          path.push_back(raw[i]);
          continue;
        }
        auto close = raw.find('}', i);
        path += raw.substr(i, close - i + 1) == "{run}" ? "1" : "x";
        i = close;
      }
      continue;
    }
    if (line.rfind("components:", 0) == 0) {
      break;
    }
    for (const char* method : {"get", "put", "post"}) {
      if (!path.empty() && line == std::string{"    "} + method + ":") {
        std::string upper;
        for (const char* c = method; *c != '\0'; ++c) {
          upper += static_cast<char>(std::toupper(static_cast<unsigned char>(*c)));
        }
        auto [code, out] = sh("curl -sS --max-time 30 -w '\\n%{http_code}' -X " + upper +
                              " -H 'Authorization: Bearer " + key + "' '" + url + path + "'");
        BOOST_TEST(code == 0, errors());
        auto status = out.substr(out.rfind('\n') + 1);
        BOOST_TEST(out.find("no such endpoint") == std::string::npos, upper << " " << path);
        BOOST_TEST(status != "405", upper << " " << path);
        ++checked;
      }
    }
  }
  BOOST_TEST(checked >= 20);
  BOOST_TEST(node->stop(SIGTERM, 20s) == 0);
}

BOOST_AUTO_TEST_SUITE_END()

// -- the web console in a real browser ------------------------------------------

BOOST_FIXTURE_TEST_SUITE(console, http_fixture)

BOOST_AUTO_TEST_CASE(the_console_renders_quota_runs_and_nodes_and_resumes_in_chromium) {
  // tests/console/console_test.mjs drives Debian's Chromium (headless,
  // playwright-core from tests/console's npm install) against this node and
  // checks what the pages show; its screenshots stay in the build tree.
  const std::string scripts = std::string{FLOWGATE_SOURCE_DIR} + "/tests/console";
  BOOST_REQUIRE_MESSAGE(std::filesystem::exists("/usr/bin/chromium"),
                        "chromium is not installed: run tools/setup.sh");
  BOOST_REQUIRE_MESSAGE(std::filesystem::exists(scripts + "/node_modules/playwright-core"),
                        "playwright-core is not installed: run tools/setup.sh");
  auto node = serve("console", 30'000, "", "", {"--http", "127.0.0.1:0", "--json"});
  auto url = url_of("console");
  auto key = operator_key();
  // The page is served with the API, without a key; it holds no data.
  auto [page_code, page] = sh("curl -sS --max-time 30 -D - '" + url + "/'");
  BOOST_REQUIRE_MESSAGE(page_code == 0, errors());
  BOOST_TEST(page.find("text/html; charset=utf-8") != std::string::npos, page);
  BOOST_TEST(page.find("Content-Security-Policy: default-src 'none'") != std::string::npos, page);
  BOOST_TEST(page.find("/console/app.js") != std::string::npos);
  BOOST_TEST(status_of("'" + url + "/console/app.js'") == "200");
  BOOST_TEST(status_of("'" + url + "/console/nothing.js'") == "404");
  BOOST_TEST(status_of("-X POST '" + url + "/'") == "405");
  for (const char* tenant : {"acme", "beta"}) {
    auto [code, out] =
      sh("curl -sS --fail-with-body --max-time 30 -X PUT -H 'Authorization: Bearer " + key + "' '" +
         url + "/v1/tenants/" + tenant + "' -d '{\"tier\":\"pro\"}'");
    BOOST_REQUIRE_MESSAGE(code == 0, out << errors());
  }
  auto [tk_code, tk] = sh("timeout 60 " FLOWGATE_BINARY " --db '" + location +
                          "' --json key create --tenant acme --name console");
  BOOST_REQUIRE_MESSAGE(tk_code == 0, errors());
  auto tenant_key = std::string{boost::json::parse(tk).at("key").as_string()};
  auto shots = std::filesystem::current_path() / "console-screenshots";
  std::filesystem::remove_all(shots);
  auto [code, out] = sh("cd '" + scripts + "' && FLOWGATE_URL='" + url + "' FLOWGATE_KEY='" + key +
                        "' FLOWGATE_TENANT_KEY='" + tenant_key + "' SCREENSHOTS='" +
                        shots.string() + "' timeout 110 node console_test.mjs 2>&1");
  BOOST_TEST_MESSAGE(out);
  BOOST_TEST(code == 0, "the browser checks failed:\n" << out << errors() << log_of("console"));
  BOOST_TEST(std::filesystem::exists(shots / "06-run-completed.png"));
  BOOST_TEST(node->stop(SIGTERM, 20s) == 0);
  // The node's log: JSON lines, each naming the node and its incarnation
  // (the quota pause above names its tenant and run too).
  std::istringstream log{log_of("console")};
  int lines = 0;
  bool paused_logged = false;
  for (std::string line; std::getline(log, line);) {
    if (line.find("\"level\"") == std::string::npos) {
      continue; // the "serving" line on stdout
    }
    auto o = boost::json::parse(line).as_object();
    BOOST_TEST(o.at("node").as_string() == "console", line);
    BOOST_TEST(o.at("incarnation").as_string() == "1", line);
    if (o.at("msg").as_string().find("quota exhausted") != std::string::npos) {
      paused_logged = o.contains("tenant") && o.contains("run");
    }
    ++lines;
  }
  BOOST_TEST(lines > 0);
  BOOST_TEST(paused_logged);
}

BOOST_AUTO_TEST_SUITE_END()
