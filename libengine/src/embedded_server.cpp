// The embedded server's lifecycle, the owner's side (see
// troupe/embedded_server.hpp): validating the options, preparing the private
// directory, forking the keeper and driving it through install, start and
// stop. Not here: the keeper itself (embedded/keeper.cpp), the account's
// rules and init.sql (embedded/account.cpp) and the POSIX helpers (posix/).

#include "troupe/embedded_server.hpp"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <initializer_list>
#include <utility>

#include <fcntl.h>
#include <poll.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mysql.h>
#include <spdlog/spdlog.h>

#include "embedded/account.hpp"
#include "embedded/keeper.hpp"
#include "posix/child_process.hpp"
#include "posix/descriptors.hpp"
#include "posix/failure.hpp"
#include "posix/files.hpp"
#include "posix/free_port.hpp"
#include "posix/private_directory.hpp"
#include "posix/programs.hpp"
#include "posix/unique_fd.hpp"
#include "troupe/error.hpp"

extern char** environ;

namespace troupe {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;
using detail::keeper_plan;
using posix::unique_fd;

// mariadb-install-db needs about a second; this only catches a hung install.
constexpr milliseconds install_timeout{120'000};

// The keeper answers at once, except for 'K', which may use its full grace.
constexpr milliseconds keeper_reply_timeout{detail::server_stop_grace_ms
                                            + 5'000};

// The keeper kills mariadbd with SIGKILL on EOF, so it exits quickly; this
// only catches a keeper that hangs (e.g. on a dead NFS mount).
constexpr milliseconds keeper_exit_timeout{15'000};

constexpr milliseconds connect_retry_interval{50};
constexpr int max_port_attempts = 3;
constexpr const char* dir_prefix = "troupe-mariadb.";

struct mysql_closer {
  void operator()(MYSQL* ptr) const {
    mysql_close(ptr);
  }
};

// -- helpers for the owner ----------------------------------------------------

std::string errno_text(int code) {
  return std::string{std::strerror(code)};
}

caf::error sys_error(const posix::failure& why) {
  return make_error(errc::internal, "embedded mariadb: " + why.what + ": "
                                      + errno_text(why.code));
}

caf::error sys_error(const char* what) {
  auto code = errno;
  return sys_error(posix::failure{what, code});
}

} // namespace

// -- the owner's side ---------------------------------------------------------

struct embedded_server::impl {
  impl(embedded_server_options opts, uint16_t port_number, std::string dir)
    : options(std::move(opts)),
      port(port_number),
      directory(std::move(dir)),
      data_dir(directory.path() + "/data"),
      tmp_dir(directory.path() + "/tmp"),
      socket_path(directory.path() + "/mysqld.sock"),
      pid_file(directory.path() + "/mysqld.pid"),
      error_log(directory.path() + "/error.log"),
      install_log(directory.path() + "/install.log"),
      init_file(directory.path() + "/init.sql"),
      files_dir(directory.path() + "/files") {
  }

  impl(const impl&) = delete;
  impl& operator=(const impl&) = delete;

  ~impl() {
    // Closing the control pipe is the keeper's signal to clean up.
    control.reset();
    if (!keeper.wait_for_exit(keeper_exit_timeout))
      spdlog::warn("embedded mariadb: keeper (pid {}) did not exit within {} "
                   "ms; killing its process group",
                   keeper.pid(), keeper_exit_timeout.count());
    keeper.kill_and_reap();
    // `directory` removes whatever the keeper could not.
  }

  enum class read_result { line, timeout, eof };

  /// Options with the resolved binaries and the actual password.
  embedded_server_options options;
  uint16_t port;
  // Declared before `keeper`: destroyed after it, so the directory is removed
  // only when no process uses it any more.
  posix::private_directory directory;
  std::string data_dir;
  std::string tmp_dir;
  std::string socket_path;
  std::string pid_file;
  std::string error_log;
  std::string install_log;
  std::string init_file;
  /// The only place LOAD DATA INFILE and SELECT ... INTO OUTFILE may use
  /// (secure_file_priv); empty.
  std::string files_dir;
  /// The account the server runs as (see keeper_plan), when root.
  uid_t run_uid = static_cast<uid_t>(-1);
  gid_t run_gid = static_cast<gid_t>(-1);
  posix::child_process keeper;
  unique_fd control;        // Write end; only the owner holds it.
  mutable unique_fd status; // Read end.
  mutable std::string status_buffer;
  mutable pid_t server = 0;
  mutable int last_exit_status = 0;
  milliseconds startup_time{0};

  keeper_plan make_plan() const {
    // As root without a server account to switch to, mariadbd must be told
    // that root is meant.
    bool as_root = geteuid() == 0 && run_uid == static_cast<uid_t>(-1);
    keeper_plan plan;
    plan.run_uid = run_uid;
    plan.run_gid = run_gid;
    plan.directory = directory.path();
    plan.error_log = error_log;
    plan.install_log = install_log;
    plan.install_args = {options.install_db,
                         "--no-defaults",
                         "--datadir=" + data_dir,
                         // Passed on to mariadbd. Private, because parallel
                         // bootstraps sharing /tmp fail now and then with
                         // "Could not remove temporary table".
                         "--tmpdir=" + tmp_dir,
                         "--auth-root-authentication-method=socket",
                         "--skip-test-db"};
    // mariadbd refuses to run as root unless told to; install-db passes the
    // option on to the mariadbd it bootstraps with.
    if (as_root)
      plan.install_args.emplace_back("--user=root");
    // Bootstrap with the same binary that will serve.
    for (auto env = environ; env != nullptr && *env != nullptr; ++env)
      if (std::strncmp(*env, "MYSQLD_BOOTSTRAP=", 17) != 0)
        plan.install_env.emplace_back(*env);
    plan.install_env.emplace_back("MYSQLD_BOOTSTRAP=" + options.mariadbd);
    plan.server_args = {options.mariadbd,
                        "--no-defaults",
                        "--datadir=" + data_dir,
                        "--tmpdir=" + tmp_dir,
                        "--socket=" + socket_path,
                        "--port=" + std::to_string(port),
                        "--bind-address=127.0.0.1",
                        "--pid-file=" + pid_file,
                        "--log-error=" + error_log,
                        "--skip-name-resolve",
                        "--character-set-server=utf8mb4",
                        "--collation-server=utf8mb4_unicode_ci",
                        "--max-allowed-packet=64M",
                        "--max-connections=1000",
                        "--innodb-buffer-pool-size=128M",
                        "--innodb-flush-log-at-trx-commit=2",
                        "--skip-log-bin",
                        "--secure-file-priv=" + files_dir,
                        "--local-infile=0",
                        "--init-file=" + init_file};
    if (as_root)
      plan.server_args.emplace_back("--user=root");
    for (auto& arg : options.extra_args)
      plan.server_args.push_back(arg);
    plan.finalize();
    return plan;
  }

  /// As root, the server runs as Debian's `mysql` account when it exists:
  /// the private directory and what is in it so far become its own (still
  /// 0700/0600: nobody else gets in).
  caf::error hand_to_server_account() {
    if (geteuid() != 0)
      return {};
    auto* pw = getpwnam("mysql");
    if (pw == nullptr || pw->pw_uid == 0) {
      spdlog::warn("embedded mariadb: running as root and there is no "
                   "'mysql' account: the server runs as root");
      return {};
    }
    std::initializer_list<const std::string*> paths{
      &directory.path(), &data_dir, &tmp_dir, &files_dir, &init_file,
      &error_log, &install_log};
    for (const auto* path : paths)
      if (::lchown(path->c_str(), pw->pw_uid, pw->pw_gid) != 0)
        return sys_error(("cannot hand " + *path + " to the mysql account")
                           .c_str());
    // The account must reach the directory: every directory above it must
    // let it through.
    auto path = directory.path();
    for (auto cut = path.rfind('/'); cut != std::string::npos && cut > 0;
         cut = path.rfind('/', cut - 1)) {
      auto parent = path.substr(0, cut);
      struct stat st;
      if (::stat(parent.c_str(), &st) != 0)
        return sys_error(("cannot inspect " + parent).c_str());
      bool passes = (st.st_mode & S_IXOTH) != 0
                    || (st.st_uid == pw->pw_uid && (st.st_mode & S_IXUSR))
                    || (st.st_gid == pw->pw_gid && (st.st_mode & S_IXGRP));
      if (!passes)
        return make_error(errc::invalid_argument,
                          "embedded mariadb: the server runs as the 'mysql' "
                          "account, which cannot enter "
                            + parent
                            + "; choose a base directory that others may "
                              "traverse (mode o+x)");
    }
    run_uid = pw->pw_uid;
    run_gid = pw->pw_gid;
    return {};
  }

  caf::error spawn_keeper() {
    auto plan = make_plan();
    int ctl[2];
    int st[2];
    if (pipe2(ctl, O_CLOEXEC) != 0)
      return sys_error("pipe2");
    unique_fd ctl_read{ctl[0]};
    unique_fd ctl_write{ctl[1]};
    if (pipe2(st, O_CLOEXEC) != 0)
      return sys_error("pipe2");
    unique_fd st_read{st[0]};
    unique_fd st_write{st[1]};
    auto pid = fork();
    if (pid < 0)
      return sys_error("fork");
    if (pid == 0)
      detail::keeper_main(plan, ctl_read.get(), st_write.get());
    // Also here, so that kill(-pid) works even before the child ran.
    setpgid(pid, pid);
    keeper.assign(pid);
    control = std::move(ctl_write);
    status = std::move(st_read);
    return {};
  }

  caf::error send(char command) {
    if (posix::write_without_sigpipe(control.get(), &command, 1) != 1)
      return sys_error("the keeper process is gone");
    return {};
  }

  void apply(const std::string& line) const {
    auto space = line.find(' ');
    if (space == std::string::npos)
      return;
    auto word = line.substr(0, space);
    auto value = std::atoll(line.c_str() + space + 1);
    if (word == "started" && value > 0) {
      server = static_cast<pid_t>(value);
    } else if (word == "exited") {
      server = 0;
      if (value >= 0)
        last_exit_status = static_cast<int>(value);
    }
  }

  // Reads one status line (and applies it) unless the deadline passes first.
  read_result read_line(clock_type::time_point deadline,
                        std::string& line) const {
    for (;;) {
      auto nl = status_buffer.find('\n');
      if (nl != std::string::npos) {
        line = status_buffer.substr(0, nl);
        status_buffer.erase(0, nl + 1);
        apply(line);
        return read_result::line;
      }
      if (!status)
        return read_result::eof;
      auto left = std::chrono::duration_cast<milliseconds>(deadline
                                                           - clock_type::now());
      pollfd pfd{status.get(), POLLIN, 0};
      auto n = ::poll(&pfd, 1, static_cast<int>(std::max<long long>(
                                 0, std::min<long long>(left.count(), 1000))));
      if (n < 0 && errno != EINTR)
        return read_result::eof;
      if (n <= 0) {
        if (clock_type::now() >= deadline)
          return read_result::timeout;
        continue;
      }
      char buf[256];
      auto got = ::read(status.get(), buf, sizeof(buf));
      if (got < 0 && errno == EINTR)
        continue;
      if (got <= 0) {
        status.reset(); // The keeper is gone.
        server = 0;
        return read_result::eof;
      }
      status_buffer.append(buf, static_cast<size_t>(got));
    }
  }

  // Applies every status line that is available right now.
  void drain() const {
    std::string line;
    while (read_line(clock_type::now(), line) == read_result::line) {
      // apply() did the work.
    }
  }

  // Waits for the reply `word` and returns its number.
  caf::expected<long long> await(const char* word, milliseconds timeout) {
    auto deadline = clock_type::now() + timeout;
    auto prefix = std::string{word} + " ";
    std::string line;
    for (;;) {
      switch (read_line(deadline, line)) {
        case read_result::line:
          if (line.compare(0, prefix.size(), prefix) == 0)
            return std::atoll(line.c_str() + prefix.size());
          break;
        case read_result::timeout:
          return make_error(errc::internal,
                            std::string{"embedded mariadb: the keeper did not "
                                        "report '"}
                              + word + "' within "
                              + std::to_string(timeout.count()) + " ms");
        case read_result::eof:
          return make_error(errc::internal,
                            std::string{"embedded mariadb: the keeper exited "
                                        "while waiting for '"}
                              + word + "'");
      }
    }
  }

  caf::error install() {
    if (auto err = send('I'))
      return err;
    auto status_value = await("installed", install_timeout);
    if (!status_value)
      return make_error(errc::internal,
                        "embedded mariadb: mariadb-install-db did not finish "
                        "(" + render(status_value.error()) + "); from "
                          + install_log + ":\n" + install_problems());
    if (*status_value < 0)
      return make_error(errc::internal,
                        "embedded mariadb: cannot fork mariadb-install-db: "
                          + errno_text(static_cast<int>(-*status_value)));
    auto wait_status = static_cast<int>(*status_value);
    if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0)
      return make_error(errc::internal,
                        "embedded mariadb: " + options.install_db + " "
                          + posix::describe_wait_status(wait_status)
                          + "; from " + install_log + ":\n"
                          + install_problems());
    return {};
  }

  // The error lines of the install log (its last lines are always the same
  // advice), or its tail when it has none.
  std::string install_problems() const {
    auto text = posix::tail_of_file(install_log, 200);
    std::string result;
    size_t count = 0;
    size_t pos = 0;
    while (pos < text.size() && count < 10) {
      auto nl = text.find('\n', pos);
      auto line = text.substr(pos, nl == std::string::npos ? nl : nl - pos);
      auto mentions = [&line](const char* word) {
        return line.find(word) != std::string::npos;
      };
      if (mentions("ERROR") || mentions("Error") || mentions("failed")
          || mentions("Fatal")) {
        result += line + "\n";
        ++count;
      }
      if (nl == std::string::npos)
        break;
      pos = nl + 1;
    }
    if (result.empty())
      result = posix::tail_of_file(install_log, 20);
    return result.empty() ? "(the log is empty)" : result;
  }

  // Returns an empty string when the server accepted a login.
  std::string try_connect() const {
    std::unique_ptr<MYSQL, mysql_closer> mysql{mysql_init(nullptr)};
    if (!mysql)
      return "mysql_init failed (out of memory)";
    unsigned connect_timeout = 1;
    unsigned io_timeout = 5;
    unsigned protocol = MYSQL_PROTOCOL_SOCKET;
    mysql_options(mysql.get(), MYSQL_OPT_CONNECT_TIMEOUT, &connect_timeout);
    mysql_options(mysql.get(), MYSQL_OPT_READ_TIMEOUT, &io_timeout);
    mysql_options(mysql.get(), MYSQL_OPT_WRITE_TIMEOUT, &io_timeout);
    mysql_options(mysql.get(), MYSQL_OPT_PROTOCOL, &protocol);
    if (mysql_real_connect(mysql.get(), "localhost", options.user.c_str(),
                           options.password.c_str(), options.database.c_str(),
                           0, socket_path.c_str(), 0)
        == nullptr)
      return mysql_error(mysql.get());
    return {};
  }

  // Starts mariadbd (if not running) and waits until it accepts a login.
  // Sets `port_taken` when it died because its TCP port was in use.
  caf::error launch(bool& port_taken) {
    port_taken = false;
    auto t0 = clock_type::now();
    auto deadline = t0 + options.startup_timeout;
    if (auto err = send('R'))
      return err;
    auto pid = await("started", keeper_reply_timeout);
    if (!pid)
      return pid.error();
    if (*pid < 0)
      return make_error(errc::internal,
                        "embedded mariadb: cannot fork mariadbd: "
                          + errno_text(static_cast<int>(-*pid)));
    std::string last_error = "none yet";
    std::string line;
    for (;;) {
      drain();
      if (server == 0) {
        auto tail = log_excerpt();
        port_taken = tail.find("Address already in use") != std::string::npos
                     || tail.find("Bind on TCP/IP port") != std::string::npos;
        return make_error(errc::connect_failed,
                          "embedded mariadb: mariadbd "
                            + posix::describe_wait_status(last_exit_status)
                            + " during startup; last lines of " + error_log
                            + ":\n" + tail);
      }
      auto err = try_connect();
      if (err.empty()) {
        startup_time = std::chrono::duration_cast<milliseconds>(
          clock_type::now() - t0);
        return {};
      }
      last_error = std::move(err);
      auto now = clock_type::now();
      if (now >= deadline) {
        // Stop it first: the log then also says how far it got.
        if (!send('K'))
          static_cast<void>(await("exited", keeper_reply_timeout));
        return make_error(errc::connect_failed,
                          "embedded mariadb: mariadbd did not accept "
                          "connections on "
                            + socket_path + " within "
                            + std::to_string(options.startup_timeout.count())
                            + " ms (last error: " + last_error
                            + "); last lines of " + error_log + ":\n"
                            + log_excerpt());
      }
      // Sleeps, but wakes up at once when the keeper reports an exit.
      read_line(std::min(deadline, now + connect_retry_interval), line);
    }
  }

  caf::error stop() {
    drain();
    if (server == 0)
      return {};
    if (auto err = send('K'))
      return err;
    auto res = await("exited", keeper_reply_timeout);
    if (!res)
      return res.error();
    spdlog::info("embedded mariadb: stopped the server on 127.0.0.1:{}", port);
    return {};
  }

  std::string log_tail(size_t lines) const {
    return posix::tail_of_file(error_log, lines);
  }

  // The tail of the error log for an error message.
  std::string log_excerpt() const {
    auto text = log_tail(20);
    return text.empty() ? "(the log is empty)" : text;
  }
};

embedded_server::embedded_server(std::unique_ptr<impl> ptr)
  : impl_(std::move(ptr)) {
}

embedded_server::~embedded_server() {
  if (impl_)
    spdlog::info("embedded mariadb: shutting down the server on "
                 "127.0.0.1:{} and removing {}",
                 impl_->port, impl_->directory.path());
}

caf::expected<std::unique_ptr<embedded_server>>
embedded_server::start(embedded_server_options options) {
  // Validate everything before creating anything.
  if (!detail::is_valid_name(options.database))
    return make_error(errc::invalid_argument,
                      "embedded mariadb: invalid database name '"
                        + options.database
                        + "' (1 to 64 letters, digits or '_')");
  if (!detail::is_valid_name(options.user))
    return make_error(errc::invalid_argument,
                      "embedded mariadb: invalid user name '" + options.user
                        + "' (1 to 64 letters, digits or '_')");
  if (!detail::is_valid_password(options.password))
    return make_error(errc::invalid_argument,
                      "embedded mariadb: invalid password (up to 128 "
                      "printable ASCII characters, no quote or backslash)");
  if (options.startup_timeout.count() <= 0)
    return make_error(errc::invalid_argument,
                      "embedded mariadb: startup_timeout must be positive");
  auto mariadbd = posix::find_program(options.mariadbd, "mariadbd",
                                      {"/usr/sbin", "/usr/libexec"});
  if (!mariadbd)
    return make_error(errc::invalid_argument,
                      "embedded mariadb: mariadbd not found or not executable"
                        + (options.mariadbd.empty()
                             ? std::string{" (searched PATH, /usr/sbin, "
                                           "/usr/libexec)"}
                             : ": " + options.mariadbd));
  auto install_db = posix::find_program(options.install_db,
                                        "mariadb-install-db", {"/usr/bin"});
  if (!install_db)
    return make_error(errc::invalid_argument,
                      "embedded mariadb: mariadb-install-db not found or not "
                      "executable"
                        + (options.install_db.empty()
                             ? std::string{" (searched PATH, /usr/bin)"}
                             : ": " + options.install_db));
  options.mariadbd = std::move(*mariadbd);
  options.install_db = std::move(*install_db);
  if (options.password.empty()) {
    std::string password;
    if (auto why = detail::random_password(password))
      return sys_error(why);
    options.password = std::move(password);
  }
  auto base_dir = options.base_dir;
  if (base_dir.empty()) {
    auto tmp = std::getenv("TMPDIR");
    base_dir = tmp != nullptr && *tmp != '\0' ? tmp : "/tmp";
  }
  while (base_dir.size() > 1 && base_dir.back() == '/')
    base_dir.pop_back();
  auto dir_template = base_dir + "/" + dir_prefix + "XXXXXX";
  auto longest_socket = dir_template + "/mysqld.sock";
  if (longest_socket.size() >= sizeof(sockaddr_un::sun_path))
    return make_error(errc::invalid_argument,
                      "embedded mariadb: base directory '" + base_dir
                        + "' is too long for a unix socket path ("
                        + std::to_string(longest_socket.size()) + " of at most "
                        + std::to_string(sizeof(sockaddr_un::sun_path) - 1)
                        + " bytes)");
  for (int attempt = 1;; ++attempt) {
    auto install_started = clock_type::now();
    auto port = options.port;
    if (port == 0) {
      // Another process may take it before mariadbd binds it; then the loop
      // retries with a new port.
      if (auto why = posix::free_port(port))
        return sys_error(why);
    }
    auto dir_buf = dir_template;
    if (mkdtemp(dir_buf.data()) == nullptr)
      return sys_error(("cannot create a directory in " + base_dir).c_str());
    // From here on, `self` owns the directory.
    auto self = std::make_unique<impl>(options, port, dir_buf);
    for (auto sub : {&self->data_dir, &self->tmp_dir, &self->files_dir})
      if (::mkdir(sub->c_str(), 0700) != 0)
        return sys_error(("cannot create " + *sub).c_str());
    auto sql = detail::init_sql(self->options.database, self->options.user,
                                self->options.password,
                                self->options.file_privilege);
    if (auto why = posix::write_private_file(self->init_file, sql))
      return sys_error(why);
    // Created here so that they can be handed to the server's account.
    for (auto log : {&self->error_log, &self->install_log})
      if (auto why = posix::write_private_file(*log, {}))
        return sys_error(why);
    if (auto err = self->hand_to_server_account())
      return err;
    if (auto err = self->spawn_keeper())
      return err;
    if (auto err = self->install())
      return err;
    auto install_time = std::chrono::duration_cast<milliseconds>(
      clock_type::now() - install_started);
    bool port_taken = false;
    if (auto err = self->launch(port_taken)) {
      if (port_taken && options.port == 0 && attempt < max_port_attempts) {
        spdlog::warn("embedded mariadb: port {} was taken before mariadbd "
                     "could bind it; retrying with another port",
                     port);
        continue;
      }
      return err;
    }
    spdlog::info("embedded mariadb: started on 127.0.0.1:{} in {} ms", port,
                 self->startup_time.count());
    spdlog::debug("embedded mariadb: data directory {} initialized in {} ms",
                  self->data_dir, install_time.count());
    return std::unique_ptr<embedded_server>{new embedded_server(std::move(self))};
  }
}

troupe::dsn embedded_server::dsn() const {
  troupe::dsn result;
  result.scheme = "mariadb";
  result.user = impl_->options.user;
  result.password = impl_->options.password;
  result.host = "127.0.0.1";
  result.port = impl_->port;
  result.database = impl_->options.database;
  return result;
}

troupe::dsn embedded_server::socket_dsn() const {
  auto result = dsn();
  result.host.clear();
  result.socket = impl_->socket_path;
  return result;
}

uint16_t embedded_server::port() const {
  return impl_->port;
}

const std::string& embedded_server::socket_path() const {
  return impl_->socket_path;
}

const std::string& embedded_server::directory() const {
  return impl_->directory.path();
}

const std::string& embedded_server::files_dir() const {
  return impl_->files_dir;
}

pid_t embedded_server::server_pid() const {
  impl_->drain();
  return impl_->server;
}

pid_t embedded_server::keeper_pid() const {
  return impl_->keeper.pid();
}

std::chrono::milliseconds embedded_server::startup_time() const {
  return impl_->startup_time;
}

caf::error embedded_server::stop() {
  return impl_->stop();
}

caf::error embedded_server::restart() {
  bool port_taken = false;
  if (auto err = impl_->launch(port_taken))
    return err;
  spdlog::info("embedded mariadb: restarted on 127.0.0.1:{} in {} ms",
               impl_->port, impl_->startup_time.count());
  return {};
}

bool embedded_server::running() const {
  impl_->drain();
  return impl_->server != 0;
}

std::string embedded_server::log_tail(size_t lines) const {
  return impl_->log_tail(lines);
}

} // namespace troupe
