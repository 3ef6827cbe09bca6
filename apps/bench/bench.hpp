#pragma once

// Shared pieces of troupe-bench: options, measurements and their report.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <sys/types.h>

#include "troupe/dsn.hpp"

namespace troupe::mariadb {
class sync_connection;
} // namespace troupe::mariadb

namespace troupe::bench {

struct options {
  troupe::dsn target;
  std::vector<std::string> modes;
  int seconds = 5;
  int rounds = 1;
  int connections = 8;
  int requesters = 64;
  int table_size = 100000;
  int sysbench_threads = 8;
  int scheduler_threads = 2;
  std::string scheduler_policy = "stealing";
  /// work-stealing: attempts and sleep of the moderate polling phase.
  int moderate_poll_attempts = 0;
  int moderate_sleep_us = -1;
  int aggressive_poll_attempts = -1;
  int io_threads = 2;
  int pipeline_depth = 1;
  pid_t server_pid = 0;
  /// The SELECT statements the server has run so far (Com_select); empty
  /// when unknown.
  std::function<uint64_t()> server_selects;
  /// Bulk modes (create_many, load_data): rows written per run, and the
  /// directory the server reads LOAD DATA INFILE from (secure_file_priv).
  int bulk_rows = 200000;
  std::string files_dir;
};

/// One measured run.
struct measurement {
  std::string mode;
  int connections = 0;
  int requesters = 0;
  uint64_t queries = 0;
  uint64_t errors = 0;
  double seconds = 0;
  double p50_ms = 0;
  double p99_ms = 0;
  double client_cpu_us = 0; // per query, this process
  double server_cpu_us = 0; // per query, mariadbd (0 when unknown)
  /// SELECT statements the server ran during the run (-1 when unknown).
  int64_t server_selects = -1;

  double qps() const { return seconds > 0 ? queries / seconds : 0; }
};

/// Collects per-request latencies and CPU use over a run.
class recorder {
public:
  recorder(const options& opts, std::string mode, int connections,
           int requesters);
  void start();
  void add(std::chrono::steady_clock::duration latency, bool ok);
  /// One request that wrote `rows` rows (bulk modes: qps are rows/s).
  void add_rows(std::chrono::steady_clock::duration latency, uint64_t rows);
  measurement finish();

private:
  const options& opts_;
  measurement m_;
  std::vector<uint32_t> latencies_us_;
  std::chrono::steady_clock::time_point t0_;
  double cpu0_ = 0;
  double server0_ = 0;
  uint64_t selects0_ = 0;
};

/// CPU seconds used by this process so far.
double process_cpu_seconds();

/// CPU seconds used by `pid` so far (0 when unknown).
double pid_cpu_seconds(pid_t pid);

/// A blocking connection beside the measured ones (exits on failure).
std::unique_ptr<mariadb::sync_connection> side_connection(const options& opts);

/// Bulk modes: the rows (sysbench's table shape: k INT, c CHAR(120),
/// pad CHAR(60)), the same in every run.
struct bulk_row {
  int32_t k;
  std::string c;
  std::string pad;
};
std::vector<bulk_row> make_bulk_rows(int n);

/// Drops and creates the bulk modes' table, `bulk_items` (sbtest's shape).
void prepare_bulk_table(const options& opts);

/// The rows in `bulk_items`, and whether they are the rows of
/// make_bulk_rows (checked by count and sum of k).
bool check_bulk_table(const options& opts, int rows);

/// The point-select statement and a random id for it.
extern const char* point_select_sql;
int64_t random_id(int table_size);

} // namespace troupe::bench
