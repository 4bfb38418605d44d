#pragma once

// A real PostgreSQL server for the tests (Debian's `postgresql` package,
// installed by tools/setup.sh): initdb into a fresh temporary directory,
// `postgres` listening on 127.0.0.1 on a free port (and a Unix socket in
// that directory), stopped by its pid when the test process ends, the
// directory removed. One server per test process, started on first use;
// each store gets a database of its own (`fresh_database`).
//
// The backend under test: FLOWGATE_TEST_BACKEND=postgres selects
// PostgreSQL (the `postgres` CTest label sets it), anything else SQLite.
//
// As root, initdb and postgres run as the `postgres` user (they refuse
// root). The server gets PR_SET_PDEATHSIG: if the test process is killed,
// the server goes with it.

#include <libpq-fe.h>

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace flowgate::testing {

/// True if the tests run against PostgreSQL.
inline bool postgres_backend() {
  const char* v = std::getenv("FLOWGATE_TEST_BACKEND");
  return v != nullptr && std::string{v} == "postgres";
}

/// Where the server listens (the default: 127.0.0.1 in this process's
/// network namespace).
struct pg_server_options {
  /// A named network namespace (`ip netns`) to run the server in.
  std::string netns;
  std::string listen = "127.0.0.1";
  /// A network (CIDR) whose clients may connect, besides the loopback.
  std::string allow_network;
};

class pg_test_server {
public:
  /// Starts a server of its own. Throws std::runtime_error naming what
  /// failed (with the server's log) if it cannot start.
  explicit pg_test_server(pg_server_options opts) : opts_(std::move(opts)) { start(); }

  /// The process's server, started on first use. Throws std::runtime_error
  /// naming what failed (with the server's log) if it cannot start.
  static pg_test_server& instance() {
    static pg_test_server server;
    return server;
  }

  /// Creates an empty database; returns its URL.
  std::string fresh_database() {
    auto name = "fg_" + std::to_string(getpid()) + "_" + std::to_string(++databases_);
    run_sql("CREATE DATABASE " + name);
    return url(name);
  }

  /// postgresql://postgres@ADDRESS:PORT/NAME
  std::string url(const std::string& name) const {
    return "postgresql://postgres@" + opts_.listen + ":" + std::to_string(port_) + "/" + name;
  }

  int port() const { return port_; }
  pid_t pid() const { return pid_; }

  /// Runs SQL on the `postgres` database.
  void run_sql(const std::string& sql) {
    auto* c = PQconnectdb(url("postgres").c_str());
    if (PQstatus(c) != CONNECTION_OK) {
      std::string why = PQerrorMessage(c);
      PQfinish(c);
      throw std::runtime_error("pg_test_server: cannot connect: " + why);
    }
    auto* r = PQexec(c, sql.c_str());
    auto ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    std::string why = ok ? "" : PQerrorMessage(c);
    PQclear(r);
    PQfinish(c);
    if (!ok) {
      throw std::runtime_error("pg_test_server: " + sql + ": " + why);
    }
  }

  pg_test_server(const pg_test_server&) = delete;
  pg_test_server& operator=(const pg_test_server&) = delete;

  ~pg_test_server() { stop(); }

private:
  pg_test_server() { start(); }

  void start() {
    bin_ = find_bin();
    char tmpl[] = "/tmp/flowgate-pg-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      throw std::runtime_error("pg_test_server: mkdtemp failed");
    }
    dir_ = tmpl;
    if (geteuid() == 0) {
      auto* pw = getpwnam("postgres");
      if (pw == nullptr) {
        cleanup();
        throw std::runtime_error("pg_test_server: running as root and there is no 'postgres' "
                                 "user (install Debian's postgresql: tools/setup.sh)");
      }
      uid_ = pw->pw_uid;
      gid_ = pw->pw_gid;
      if (chown(dir_.c_str(), uid_, gid_) != 0) {
        cleanup();
        throw std::runtime_error("pg_test_server: chown " + dir_ + " failed");
      }
    }
    auto data = dir_ + "/data";
    auto status = run_as_owner({bin_ + "/initdb", "-D", data, "-U", "postgres", "--auth=trust",
                                "-E", "UTF8", "--no-sync", "--no-instructions"},
                               dir_ + "/initdb.log", false);
    if (status != 0) {
      auto log = read_file(dir_ + "/initdb.log");
      cleanup();
      throw std::runtime_error("pg_test_server: initdb failed:\n" + log);
    }
    if (!opts_.allow_network.empty()) {
      std::ofstream{data + "/pg_hba.conf", std::ios::app} << "host all all " << opts_.allow_network
                                                          << " trust\n";
    }
    for (int attempt = 0; attempt < 5; ++attempt) {
      port_ = free_port();
      pid_ =
        run_as_owner({bin_ + "/postgres", "-D", data, "-p", std::to_string(port_), "-c",
                      "listen_addresses=" + opts_.listen, "-c", "unix_socket_directories=" + dir_,
                      "-c", "max_connections=300", "-c", "shared_buffers=64MB"},
                     dir_ + "/postgres.log", true);
      if (wait_ready()) {
        return;
      }
      stop_server();
    }
    auto log = read_file(dir_ + "/postgres.log");
    cleanup();
    throw std::runtime_error("pg_test_server: postgres did not start:\n" + log);
  }

  static std::string find_bin() {
    std::string best;
    std::error_code ec;
    for (const auto& e : std::filesystem::directory_iterator{"/usr/lib/postgresql", ec}) {
      auto bin = e.path() / "bin";
      if (std::filesystem::exists(bin / "postgres") && bin.string() > best) {
        best = bin.string();
      }
    }
    if (best.empty()) {
      throw std::runtime_error("pg_test_server: no /usr/lib/postgresql/*/bin/postgres (install "
                               "Debian's postgresql: tools/setup.sh)");
    }
    return best;
  }

  static int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
      ::close(fd);
      throw std::runtime_error("pg_test_server: no free port");
    }
    ::close(fd);
    return ntohs(addr.sin_port);
  }

  /// Runs `argv` as the directory's owner with output to `log`. Detached
  /// (`background`): returns the pid; else waits (bounded: 120 s) and
  /// returns the exit status.
  int run_as_owner(const std::vector<std::string>& argv, const std::string& log, bool background) {
    auto parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
      throw std::runtime_error("pg_test_server: fork failed");
    }
    if (pid == 0) {
      if (background) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent) {
          _exit(1);
        }
      }
      setpgid(0, 0);
      if (!opts_.netns.empty()) {
        int ns = ::open(("/var/run/netns/" + opts_.netns).c_str(), O_RDONLY);
        if (ns < 0 || setns(ns, CLONE_NEWNET) != 0) {
          _exit(125);
        }
        ::close(ns);
      }
      if (uid_ != 0) {
        if (setgroups(0, nullptr) != 0 || setgid(gid_) != 0 || setuid(uid_) != 0) {
          _exit(126);
        }
      }
      int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
        ::close(fd);
      }
      std::vector<char*> args;
      for (const auto& a : argv) {
        args.push_back(const_cast<char*>(a.c_str()));
      }
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
    if (background) {
      return pid;
    }
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{120};
    for (;;) {
      int status = 0;
      auto r = waitpid(pid, &status, WNOHANG);
      if (r == pid) {
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      if (std::chrono::steady_clock::now() > deadline) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        return 124;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
  }

  bool wait_ready() {
    auto conninfo = "host=" + opts_.listen + " port=" + std::to_string(port_) +
                    " user=postgres "
                    "dbname=postgres connect_timeout=2";
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{60};
    while (std::chrono::steady_clock::now() < deadline) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return false;
      }
      if (PQping(conninfo.c_str()) == PQPING_OK) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{50});
    }
    return false;
  }

  void stop_server() {
    if (pid_ <= 0) {
      return;
    }
    // SIGINT: PostgreSQL's fast shutdown (sessions end, no checkpoint wait).
    kill(pid_, SIGINT);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds{20};
    int status = 0;
    while (waitpid(pid_, &status, WNOHANG) == 0) {
      if (std::chrono::steady_clock::now() > deadline) {
        kill(-pid_, SIGKILL);
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds{20});
    }
    pid_ = -1;
  }

  void cleanup() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  void stop() {
    stop_server();
    cleanup();
  }

  static std::string read_file(const std::string& path) {
    std::ifstream in{path};
    std::stringstream s;
    s << in.rdbuf();
    auto text = s.str();
    return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
  }

  pg_server_options opts_;
  std::string bin_;
  std::string dir_;
  uid_t uid_ = 0;
  gid_t gid_ = 0;
  int port_ = 0;
  pid_t pid_ = -1;
  int databases_ = 0;
};

} // namespace flowgate::testing
