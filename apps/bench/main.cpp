// troupe-bench: point selects by random primary key, measured against
// sysbench's oltp_point_select on the same server in the same run.
//
//   troupe-bench [--dsn D] [--modes loop,threads,actors,repository,sysbench]
//                [--seconds 5] [--rounds 1] [--connections 8] [--requesters 64]
//                [--table-size 100000] [--sysbench-threads 8]
//                [--server-pid PID]
//
// Without --dsn a private MariaDB server is started (its CPU use is measured
// too). Rounds interleave the modes so that a noisy neighbour hurts them
// alike; the report lists every round and the best one of each mode. Mode
// "repository" gets rows by primary key through the engine's repository
// (one row a request, so its qps are rows per second); the column sel/row
// is the server's SELECT count (Com_select, of every client) per row.
//
// Bulk modes (--bulk-rows 200000): "create_many" writes the rows through
// the engine's repository in one create_many, "load_data" has the server
// read the same rows from a file (LOAD DATA INFILE, the peer); qps are rows
// per second, p50 the time of the one request.

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <memory>
#include <random>
#include <regex>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fmt/format.h>

#include "bench.hpp"
#include "troupe/embedded_server.hpp"
#include "troupe/error.hpp"
#include "troupe/event_loop.hpp"
#include "troupe/mariadb/async_connection.hpp"
#include "troupe/mariadb/connection.hpp"
#include "troupe/option_parsing.hpp"

namespace troupe::bench {

#ifdef TROUPE_BENCH_ACTORS
// actors_bench.cpp
measurement run_actors(const options& opts);
measurement run_repository(const options& opts);
measurement run_create_many(const options& opts);
#endif
// bulk.cpp
measurement run_load_data(const options& opts);

// The statement of sysbench's oltp_point_select, so both do the same work.
const char* point_select_sql = "SELECT c FROM sbtest1 WHERE id = ?";

int64_t random_id(int table_size) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return static_cast<int64_t>(rng() % static_cast<uint64_t>(table_size)) + 1;
}

double children_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_CHILDREN, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec
         + ru.ru_stime.tv_usec / 1e6;
}

double process_cpu_seconds() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec
         + ru.ru_stime.tv_usec / 1e6;
}

double pid_cpu_seconds(pid_t pid) {
  if (pid <= 0)
    return 0;
  std::ifstream in{fmt::format("/proc/{}/stat", pid)};
  std::string line;
  if (!std::getline(in, line))
    return 0;
  // Fields after the command name (which may contain spaces) in parentheses.
  auto close = line.rfind(')');
  std::istringstream rest{line.substr(close + 2)};
  std::string field;
  unsigned long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14)
      utime = std::stoull(field);
    if (i == 15)
      stime = std::stoull(field);
  }
  return static_cast<double>(utime + stime) / sysconf(_SC_CLK_TCK);
}

recorder::recorder(const options& opts, std::string mode, int connections,
                   int requesters)
  : opts_(opts) {
  m_.mode = std::move(mode);
  m_.connections = connections;
  m_.requesters = requesters;
  latencies_us_.reserve(1 << 20);
}

void recorder::start() {
  t0_ = std::chrono::steady_clock::now();
  cpu0_ = process_cpu_seconds();
  server0_ = pid_cpu_seconds(opts_.server_pid);
  if (opts_.server_selects)
    selects0_ = opts_.server_selects();
}

void recorder::add(std::chrono::steady_clock::duration latency, bool ok) {
  if (!ok) {
    ++m_.errors;
    return;
  }
  ++m_.queries;
  latencies_us_.push_back(static_cast<uint32_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(latency).count()));
}

void recorder::add_rows(std::chrono::steady_clock::duration latency,
                        uint64_t rows) {
  m_.queries += rows;
  latencies_us_.push_back(static_cast<uint32_t>(
    std::chrono::duration_cast<std::chrono::microseconds>(latency).count()));
}

measurement recorder::finish() {
  m_.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now()
                                             - t0_)
                 .count();
  auto n = std::max<uint64_t>(m_.queries, 1);
  m_.client_cpu_us = (process_cpu_seconds() - cpu0_) * 1e6 / n;
  if (opts_.server_pid > 0)
    m_.server_cpu_us = (pid_cpu_seconds(opts_.server_pid) - server0_) * 1e6 / n;
  if (opts_.server_selects)
    m_.server_selects = static_cast<int64_t>(opts_.server_selects() - selects0_);
  if (!latencies_us_.empty()) {
    std::sort(latencies_us_.begin(), latencies_us_.end());
    auto at = [&](double q) {
      return latencies_us_[std::min(latencies_us_.size() - 1,
                                    static_cast<size_t>(q * latencies_us_.size()))]
             / 1000.0;
    };
    m_.p50_ms = at(0.50);
    m_.p99_ms = at(0.99);
  }
  return m_;
}

namespace {

mariadb::connect_options connect_options_of(const options& opts) {
  auto x = mariadb::connect_options::from_dsn(opts.target);
  if (!x) {
    std::cerr << "troupe-bench: " << render(x.error()) << "\n";
    std::exit(2);
  }
  return *x;
}

} // namespace

std::unique_ptr<mariadb::sync_connection> side_connection(const options& opts) {
  auto conn = mariadb::sync_connection::open(connect_options_of(opts));
  if (!conn) {
    std::cerr << "troupe-bench: cannot connect: " << render(conn.error()) << "\n";
    std::exit(1);
  }
  return std::move(*conn);
}

namespace {

// --- mode "loop": one event loop, N async connections, a shared FIFO ------

measurement run_loop(const options& opts) {
  auto loop = make_epoll_loop("bench-io");
  auto copts = connect_options_of(opts);
  std::vector<std::shared_ptr<mariadb::async_connection>> conns;
  recorder rec{opts, "loop", opts.connections, opts.requesters};
  struct state {
    std::deque<std::chrono::steady_clock::time_point> queue; // issue times
    std::vector<bool> busy;
    std::chrono::steady_clock::time_point deadline;
    bool stopping = false;
    int outstanding = 0;
  };
  auto st = std::make_shared<state>();
  auto done = std::make_shared<std::promise<void>>();
  std::function<void(size_t)> dispatch;
  // Requester r issues its next request as soon as its last one finished;
  // an idle connection takes the oldest queued request.
  std::function<void()> issue = [&, st] {
    st->queue.push_back(std::chrono::steady_clock::now());
    for (size_t c = 0; c < conns.size(); ++c)
      if (!st->busy[c])
        dispatch(c);
  };
  dispatch = [&, st, done](size_t c) {
    if (st->queue.empty() || st->busy[c])
      return;
    auto issued = st->queue.front();
    st->queue.pop_front();
    st->busy[c] = true;
    conns[c]->execute(point_select_sql, {random_id(opts.table_size)},
                      [&, st, done, c, issued](caf::expected<result> r) {
                        st->busy[c] = false;
                        bool ok = r && r->row_count() == 1;
                        if (!st->stopping) {
                          rec.add(std::chrono::steady_clock::now() - issued, ok);
                          if (std::chrono::steady_clock::now() >= st->deadline)
                            st->stopping = true;
                        }
                        if (st->stopping) {
                          // Drain what is queued, issue nothing new.
                          if (--st->outstanding == 0)
                            done->set_value();
                          else
                            dispatch(c);
                          return;
                        }
                        issue();
                        dispatch(c);
                      });
  };
  auto connected = std::make_shared<std::promise<int>>();
  loop->post([&, connected] {
    auto remaining = std::make_shared<int>(opts.connections);
    auto failures = std::make_shared<int>(0);
    for (int i = 0; i < opts.connections; ++i) {
      conns.push_back(mariadb::async_connection::make(*loop, copts));
      st->busy.push_back(false);
      conns.back()->connect([=](caf::expected<result> r) {
        if (!r) {
          std::cerr << "troupe-bench: " << render(r.error()) << "\n";
          ++*failures;
        }
        if (--*remaining == 0)
          connected->set_value(*failures);
      });
    }
  });
  if (connected->get_future().get() != 0)
    std::exit(1);
  loop->post([&, st] {
    rec.start();
    st->deadline = std::chrono::steady_clock::now()
                   + std::chrono::seconds{opts.seconds};
    st->outstanding = opts.requesters;
    for (int i = 0; i < opts.requesters; ++i)
      issue();
  });
  done->get_future().wait();
  auto m = rec.finish();
  auto closed = std::make_shared<std::promise<void>>();
  loop->post([&, closed] {
    conns.clear();
    closed->set_value();
  });
  closed->get_future().wait();
  loop->stop();
  return m;
}

// --- mode "threads": one blocking connection per thread ---------------------

measurement run_threads(const options& opts) {
  auto copts = connect_options_of(opts);
  recorder rec{opts, "threads", opts.connections, opts.connections};
  std::vector<std::unique_ptr<mariadb::sync_connection>> conns;
  for (int i = 0; i < opts.connections; ++i) {
    auto c = mariadb::sync_connection::open(copts);
    if (!c) {
      std::cerr << "troupe-bench: " << render(c.error()) << "\n";
      std::exit(1);
    }
    conns.push_back(std::move(*c));
  }
  std::mutex mtx;
  auto deadline = std::chrono::steady_clock::now()
                  + std::chrono::seconds{opts.seconds};
  rec.start();
  std::vector<std::thread> threads;
  for (auto& conn : conns) {
    threads.emplace_back([&, c = conn.get()] {
      std::vector<std::pair<std::chrono::steady_clock::duration, bool>> local;
      while (std::chrono::steady_clock::now() < deadline) {
        auto t = std::chrono::steady_clock::now();
        auto r = c->execute(point_select_sql, {random_id(opts.table_size)});
        local.emplace_back(std::chrono::steady_clock::now() - t,
                           r && r->row_count() == 1);
      }
      std::lock_guard<std::mutex> guard{mtx};
      for (auto& [d, ok] : local)
        rec.add(d, ok);
    });
  }
  for (auto& t : threads)
    t.join();
  return rec.finish();
}

// --- mode "sysbench": the peer -------------------------------------------------

// sysbench's connection options, from the driver's options (so that a
// password from password_file or password_env reaches sysbench too). The
// password goes into a private file (--config-file), never onto a command
// line that `ps` shows; nothing passes through a shell.
class sysbench_config {
public:
  explicit sysbench_config(const options& opts) {
    auto d = connect_options_of(opts);
    // sysbench's config file ends a value at white space unless it is
    // quoted, and knows no escapes inside quotes.
    char quote = d.password.find('\'') == std::string::npos ? '\'' : '"';
    if (d.password.find_first_of("\r\n") != std::string::npos
        || (quote == '"' && d.password.find('"') != std::string::npos))
      fail("the password holds a line break, or both kinds of quotes, which "
           "sysbench's config file cannot carry");
    char path[] = "/tmp/troupe-bench-sysbench.XXXXXX";
    int fd = ::mkostemp(path, O_CLOEXEC); // mode 0600
    if (fd < 0)
      fail(std::string{"cannot create a private file: "} + std::strerror(errno));
    path_ = path;
    auto text = "mysql-password=" + std::string(1, quote) + d.password
                + quote + "\n";
    bool ok = ::write(fd, text.data(), text.size())
              == static_cast<ssize_t>(text.size());
    ::close(fd);
    std::fill(text.begin(), text.end(), '\0');
    std::fill(d.password.begin(), d.password.end(), '\0');
    if (!ok)
      fail("cannot write " + path_);
    args_ = {"--config-file=" + path_, "--db-driver=mysql"};
    if (!d.socket.empty()) {
      args_.push_back("--mysql-socket=" + d.socket);
    } else {
      args_.push_back("--mysql-host=" + d.host);
      args_.push_back("--mysql-port=" + std::to_string(d.port));
    }
    args_.push_back("--mysql-user=" + d.user);
    args_.push_back("--mysql-db=" + d.database);
    args_.push_back("--tables=1");
    args_.push_back("--table-size=" + std::to_string(opts.table_size));
  }

  ~sysbench_config() {
    if (!path_.empty())
      ::unlink(path_.c_str());
  }

  sysbench_config(const sysbench_config&) = delete;
  sysbench_config& operator=(const sysbench_config&) = delete;

  /// sysbench oltp_point_select <connection options> <extra>.
  std::vector<std::string> command(std::vector<std::string> extra) const {
    std::vector<std::string> out{"sysbench", "oltp_point_select"};
    out.insert(out.end(), args_.begin(), args_.end());
    out.insert(out.end(), extra.begin(), extra.end());
    return out;
  }

private:
  [[noreturn]] static void fail(const std::string& why) {
    std::cerr << "troupe-bench: " << why << "\n";
    std::exit(1);
  }

  std::string path_;
  std::vector<std::string> args_;
};

// Runs `argv` (searched in PATH, no shell) and returns what it wrote to
// stdout and stderr; `status` gets its wait status, -1 if it did not start.
std::string run_command(const std::vector<std::string>& argv, int& status) {
  std::string out;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    status = -1;
    return out;
  }
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  auto pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    status = -1;
    return out;
  }
  if (pid == 0) {
    ::dup2(fds[1], STDOUT_FILENO);
    ::dup2(fds[1], STDERR_FILENO);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  char buf[4096];
  for (;;) {
    auto n = ::read(fds[0], buf, sizeof(buf));
    if (n < 0 && errno == EINTR)
      continue;
    if (n <= 0)
      break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return out;
}

measurement run_sysbench(const options& opts) {
  measurement m;
  m.mode = "sysbench";
  m.connections = opts.sysbench_threads;
  m.requesters = opts.sysbench_threads;
  double server0 = pid_cpu_seconds(opts.server_pid);
  uint64_t selects0 = opts.server_selects ? opts.server_selects() : 0;
  // sysbench's own CPU (it is a waited-for child; includes its warm-up).
  double children0 = children_cpu_seconds();
  int status = 0;
  sysbench_config sb{opts};
  auto out = run_command(
    sb.command({"--threads=" + std::to_string(opts.sysbench_threads),
                "--time=" + std::to_string(opts.seconds), "--percentile=99",
                "--histogram=off", "run"}),
    status);
  std::smatch match;
  if (status != 0
      || !std::regex_search(out, match,
                            std::regex{R"(queries:\s+(\d+)\s+\(([\d.]+) per sec)"})) {
    std::cerr << "troupe-bench: sysbench failed:\n" << out << "\n";
    m.errors = 1;
    return m;
  }
  m.queries = std::stoull(match[1]);
  m.seconds = m.queries / std::stod(match[2]);
  if (std::regex_search(out, match, std::regex{R"(99th percentile:\s+([\d.]+))"}))
    m.p99_ms = std::stod(match[1]);
  if (std::regex_search(out, match, std::regex{R"(avg:\s+([\d.]+))"}))
    m.p50_ms = std::stod(match[1]); // sysbench reports no median: its average
  if (opts.server_pid > 0)
    m.server_cpu_us = (pid_cpu_seconds(opts.server_pid) - server0) * 1e6
                      / std::max<uint64_t>(m.queries, 1);
  m.client_cpu_us = (children_cpu_seconds() - children0) * 1e6
                    / std::max<uint64_t>(m.queries, 1);
  if (opts.server_selects)
    m.server_selects = static_cast<int64_t>(opts.server_selects() - selects0);
  return m;
}

// Reads the server's Com_select (SELECTs run, prepared or not, by every
// client) through a side connection; SHOW STATUS is no SELECT itself.
std::function<uint64_t()> select_counter(const options& opts) {
  std::shared_ptr<mariadb::sync_connection> conn = side_connection(opts);
  return [conn]() -> uint64_t {
    auto r = conn->query("SHOW GLOBAL STATUS LIKE 'Com_select'");
    if (r && !r->first().empty())
      if (auto text = r->first().row(0).get<std::string>(1))
        return std::stoull(*text);
    std::cerr << "troupe-bench: cannot read Com_select"
              << (r ? std::string{} : ": " + render(r.error())) << "\n";
    std::exit(1);
  };
}

// Creates sbtest1 with `table_size` rows (sysbench prepare) unless present.
void prepare_table(const options& opts) {
  auto conn = side_connection(opts);
  auto count = conn->query("SELECT COUNT(*) FROM sbtest1");
  if (count && count->scalar<int64_t>() == int64_t{opts.table_size})
    return;
  std::cout << fmt::format("preparing sbtest1 with {} rows (sysbench prepare)\n",
                           opts.table_size);
  conn->query("DROP TABLE IF EXISTS sbtest1");
  int status = 0;
  sysbench_config sb{opts};
  auto out = run_command(sb.command({"prepare"}), status);
  if (status != 0) {
    std::cerr << "troupe-bench: sysbench prepare failed:\n" << out << "\n";
    std::exit(1);
  }
}

void print(const measurement& m) {
  // SELECTs per row on the server: below 1 when lookups were coalesced.
  auto selects = m.server_selects < 0
                   ? std::string{"-"}
                   : fmt::format("{:.3f}",
                                 static_cast<double>(m.server_selects)
                                   / std::max<uint64_t>(m.queries, 1));
  std::cout << fmt::format("{:<10} {:>5} {:>6} {:>9.0f} {:>8.2f} {:>8.2f} "
                           "{:>10.1f} {:>10.1f} {:>7} {:>9}\n",
                           m.mode, m.connections, m.requesters, m.qps(), m.p50_ms,
                           m.p99_ms, m.client_cpu_us, m.server_cpu_us, m.errors,
                           selects);
}

void usage() {
  std::cout << "usage: troupe-bench [--dsn D] [--modes loop,threads,actors,"
               "repository,sysbench,create_many,load_data]\n"
               "                    [--bulk-rows N]\n"
               "                    [--seconds N] [--rounds N] [--connections N] "
               "[--requesters N] [--table-size N]\n"
               "                    [--sysbench-threads N] [--server-pid PID] "
               "[--scheduler-threads N]\n"
               "                    [--scheduler-policy stealing|sharing|reactor] "
               "[--io-threads N] [--pipeline-depth N]\n"
               "                    [--aggressive-poll-attempts N] "
               "[--moderate-poll-attempts N] [--moderate-sleep-us N]\n";
}

} // namespace

} // namespace troupe::bench

int main(int argc, char** argv) {
  using namespace troupe;
  using namespace troupe::bench;
  options opts;
  #ifdef TROUPE_BENCH_ACTORS
  std::string dsn_text, modes = "actors,loop,threads,sysbench";
#else
  std::string dsn_text, modes = "loop,threads,sysbench";
#endif
  auto need = [&](int& i) -> std::string {
    if (i + 1 >= argc) {
      std::cerr << "troupe-bench: " << argv[i] << " needs a value\n";
      std::exit(2);
    }
    return argv[++i];
  };
  auto number = [&](const char* key, const std::string& text, int lo, int hi) {
    auto n = parse_uint(key, text, lo, hi);
    if (!n) {
      std::cerr << "troupe-bench: " << render(n.error()) << "\n";
      std::exit(2);
    }
    return static_cast<int>(*n);
  };
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--dsn")
      dsn_text = need(i);
    else if (a == "--modes")
      modes = need(i);
    else if (a == "--seconds")
      opts.seconds = number("--seconds", need(i), 1, 3600);
    else if (a == "--rounds")
      opts.rounds = number("--rounds", need(i), 1, 100);
    else if (a == "--connections")
      opts.connections = number("--connections", need(i), 1, 1000);
    else if (a == "--requesters")
      opts.requesters = number("--requesters", need(i), 1, 100000);
    else if (a == "--bulk-rows")
      opts.bulk_rows = number("--bulk-rows", need(i), 1, 1000000);
    else if (a == "--table-size")
      opts.table_size = number("--table-size", need(i), 1, 100000000);
    else if (a == "--sysbench-threads")
      opts.sysbench_threads = number("--sysbench-threads", need(i), 1, 1000);
    else if (a == "--scheduler-threads")
      opts.scheduler_threads = number("--scheduler-threads", need(i), 1, 64);
    else if (a == "--scheduler-policy")
      opts.scheduler_policy = need(i);
    else if (a == "--moderate-poll-attempts")
      opts.moderate_poll_attempts = number("--moderate-poll-attempts", need(i),
                                           0, 1000000);
    else if (a == "--aggressive-poll-attempts")
      opts.aggressive_poll_attempts = number("--aggressive-poll-attempts",
                                             need(i), 0, 1000000);
    else if (a == "--pipeline-depth")
      opts.pipeline_depth = number("--pipeline-depth", need(i), 1, 8);
    else if (a == "--io-threads")
      opts.io_threads = number("--io-threads", need(i), 1, 64);
    else if (a == "--moderate-sleep-us")
      opts.moderate_sleep_us = number("--moderate-sleep-us", need(i), 1,
                                      1000000);
    else if (a == "--server-pid")
      opts.server_pid = number("--server-pid", need(i), 1, 1 << 30);
    else if (a == "--help" || a == "-h") {
      usage();
      return 0;
    } else {
      std::cerr << "troupe-bench: unknown argument '" << a << "'\n";
      usage();
      return 2;
    }
  }
  std::stringstream ms{modes};
  for (std::string m; std::getline(ms, m, ',');) {
    bool known = m == "loop" || m == "threads" || m == "sysbench"
                 || m == "load_data";
#ifdef TROUPE_BENCH_ACTORS
    known = known || m == "actors" || m == "repository" || m == "create_many";
#endif
    if (!known) {
      std::cerr << "troupe-bench: unknown mode '" << m << "'\n";
      return 2;
    }
    opts.modes.push_back(m);
  }
  std::unique_ptr<embedded_server> server;
  if (dsn_text.empty()) {
    embedded_server_options so;
    so.extra_args = {"--innodb-buffer-pool-size=256M"};
    // LOAD DATA INFILE, confined to the server's files directory.
    so.file_privilege = true;
    auto s = embedded_server::start(so);
    if (!s) {
      std::cerr << "troupe-bench: " << render(s.error()) << "\n";
      return 1;
    }
    server = std::move(*s);
    opts.files_dir = server->files_dir();
    opts.target = server->dsn();
    opts.server_pid = server->server_pid();
  } else {
    auto d = parse_dsn(dsn_text);
    if (!d) {
      std::cerr << "troupe-bench: " << render(d.error()) << "\n";
      return 2;
    }
    opts.target = *d;
  }
  // Bulk modes compare with load_data, the others with sysbench.
  auto peer_of = [](const std::string& mode) {
    return mode == "create_many" || mode == "load_data" ? "load_data"
                                                        : "sysbench";
  };
  bool point_selects = false;
  bool bulk = false;
  for (const auto& mode : opts.modes)
    (peer_of(mode) == std::string{"sysbench"} ? point_selects : bulk) = true;
  if (point_selects) {
    prepare_table(opts);
    opts.server_selects = select_counter(opts);
    std::cout << fmt::format("point selects on sbtest1 ({} rows), {} s per "
                             "run, {} round(s), server {}\n",
                             opts.table_size, opts.seconds, opts.rounds,
                             to_string(opts.target));
  }
  if (bulk) {
    if (opts.files_dir.empty()) {
      // Another server: where it reads files from, if it says.
      auto r = side_connection(opts)->query("SELECT @@secure_file_priv");
      if (r && !r->first().empty())
        if (auto dir = r->first().row(0).get<std::string>(0))
          opts.files_dir = *dir;
      while (opts.files_dir.size() > 1 && opts.files_dir.back() == '/')
        opts.files_dir.pop_back();
    }
    std::cout << fmt::format("bulk writes of {} rows into bulk_items (k INT, "
                             "c CHAR(120), pad CHAR(60)), {} round(s), "
                             "server {}\n",
                             opts.bulk_rows, opts.rounds,
                             to_string(opts.target));
  }
  std::cout << fmt::format("{:<10} {:>5} {:>6} {:>9} {:>8} {:>8} {:>10} {:>10} "
                           "{:>7} {:>9}\n",
                           "mode", "conns", "req", "qps", "p50 ms", "p99 ms",
                           "client us", "server us", "errors", "sel/row");
  std::map<std::string, measurement> best;
  // Per round, each mode's qps over sysbench's in the same round.
  std::map<std::string, std::vector<double>> round_ratios;
  for (int round = 0; round < opts.rounds; ++round) {
    std::map<std::string, double> qps;
    for (const auto& mode : opts.modes) {
      measurement m;
      if (mode == "loop")
        m = run_loop(opts);
      else if (mode == "threads")
        m = run_threads(opts);
#ifdef TROUPE_BENCH_ACTORS
      else if (mode == "actors")
        m = run_actors(opts);
      else if (mode == "repository")
        m = run_repository(opts);
      else if (mode == "create_many")
        m = run_create_many(opts);
#endif
      else if (mode == "load_data")
        m = run_load_data(opts);
      else
        m = run_sysbench(opts);
      print(m);
      qps[mode] = m.qps();
      if (best[mode].qps() < m.qps())
        best[mode] = m;
    }
    for (const auto& [mode, q] : qps) {
      std::string peer = peer_of(mode);
      if (mode != peer && qps.count(peer) && qps[peer] > 0)
        round_ratios[mode].push_back(q / qps[peer]);
    }
  }
  if (opts.rounds > 1) {
    std::cout << "best of each mode:\n";
    for (const auto& mode : opts.modes)
      print(best[mode]);
  }
  for (const auto& mode : opts.modes) {
    std::string peer = peer_of(mode);
    if (mode != peer && best.count(peer) && best[peer].qps() > 0)
      std::cout << fmt::format("ratio {}/{}: {:.2f}\n", mode, peer,
                               best[mode].qps() / best[peer].qps());
  }
  // The best rounds flatter a mode that is more sensitive to a noisy
  // machine; the median of the per-round ratios does not.
  for (auto& [mode, v] : round_ratios) {
    if (v.size() < 2)
      continue;
    std::sort(v.begin(), v.end());
    auto median = v.size() % 2 ? v[v.size() / 2]
                               : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
    std::cout << fmt::format("ratio {}/{}, median of {} rounds: {:.2f} "
                             "(range {:.2f}-{:.2f})\n",
                             mode, peer_of(mode), v.size(), median, v.front(),
                             v.back());
  }
  return 0;
}
