// troupe-bench, bulk modes: the same rows written into the same table, by
// the peer "load_data" (the server reading a file: LOAD DATA INFILE) and by
// "create_many" (the engine's repository, actors_bench.cpp).

#include <cstdio>
#include <fstream>
#include <iostream>

#include <sys/stat.h>
#include <unistd.h>

#include <fmt/format.h>

#include "bench.hpp"
#include "troupe/error.hpp"
#include "troupe/mariadb/connection.hpp"

namespace troupe::bench {

namespace {

[[noreturn]] void bulk_fail(const std::string& what, const caf::error& err) {
  std::cerr << "troupe-bench: " << what << ": " << render(err) << "\n";
  std::exit(1);
}

// A path we made and may put between quotes in SQL text (LOAD DATA takes no
// bound file name): letters, digits and / . _ - only.
bool plain_path(const std::string& path) {
  for (char c : path)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '/' || c == '.'
          || c == '_' || c == '-'))
      return false;
  return !path.empty();
}

} // namespace

std::vector<bulk_row> make_bulk_rows(int n) {
  std::vector<bulk_row> out;
  out.reserve(static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    // sysbench's shapes: c is ten 11-digit groups joined by '-', pad five.
    auto k = static_cast<int32_t>((static_cast<int64_t>(i) * 7919) % 100003);
    std::string c;
    for (int g = 0; g < 10; ++g)
      c += fmt::format("{}{:011}", g == 0 ? "" : "-", (i * 31 + g) % 99999999);
    c.resize(120, ' ');
    std::string pad;
    for (int g = 0; g < 5; ++g)
      pad += fmt::format("{}{:011}", g == 0 ? "" : "-", (i * 17 + g) % 9999999);
    pad.resize(60, ' ');
    out.push_back(bulk_row{k, std::move(c), std::move(pad)});
  }
  return out;
}

void prepare_bulk_table(const options& opts) {
  auto conn = side_connection(opts);
  for (const char* sql :
       {"DROP TABLE IF EXISTS bulk_items",
        "CREATE TABLE bulk_items (id INT NOT NULL AUTO_INCREMENT PRIMARY KEY, "
        "k INT NOT NULL DEFAULT 0, c CHAR(120) NOT NULL DEFAULT '', "
        "pad CHAR(60) NOT NULL DEFAULT '', KEY k_1 (k)) ENGINE=InnoDB"})
    if (auto r = conn->query(sql); !r)
      bulk_fail("preparing bulk_items", r.error());
}

bool check_bulk_table(const options& opts, int rows) {
  auto conn = side_connection(opts);
  auto r = conn->query("SELECT COUNT(*), CAST(COALESCE(SUM(k), 0) AS SIGNED), "
                       "COUNT(DISTINCT c) FROM bulk_items");
  if (!r || r->first().empty())
    return false;
  int64_t sum = 0;
  for (const auto& row : make_bulk_rows(rows))
    sum += row.k;
  auto row = r->first().row(0);
  auto count = row.get<int64_t>(0);
  auto got_sum = row.get<int64_t>(1);
  auto distinct = row.get<int64_t>(2);
  return count && got_sum && distinct && *count == rows && *got_sum == sum
         && *distinct == rows;
}

// --- mode "load_data": the peer ----------------------------------------------

measurement run_load_data(const options& opts) {
  if (opts.files_dir.empty()) {
    std::cerr << "troupe-bench: load_data needs a directory the server reads "
                 "files from (its secure_file_priv); this server has none\n";
    std::exit(2);
  }
  auto path = opts.files_dir + "/bulk_items.tsv";
  if (!plain_path(path)) {
    std::cerr << "troupe-bench: cannot use " << path << " in LOAD DATA\n";
    std::exit(2);
  }
  {
    std::ofstream out{path, std::ios::trunc};
    for (const auto& r : make_bulk_rows(opts.bulk_rows))
      out << r.k << '\t' << r.c << '\t' << r.pad << '\n';
    if (!out) {
      std::cerr << "troupe-bench: cannot write " << path << "\n";
      std::exit(1);
    }
  }
  ::chmod(path.c_str(), 0644); // the server may run as another account
  prepare_bulk_table(opts);
  auto conn = side_connection(opts);
  recorder rec{opts, "load_data", 1, 1};
  auto sql = fmt::format("LOAD DATA INFILE '{}' INTO TABLE bulk_items "
                         "(k, c, pad)",
                         path);
  rec.start();
  auto t0 = std::chrono::steady_clock::now();
  auto r = conn->query(sql);
  auto took = std::chrono::steady_clock::now() - t0;
  if (r)
    rec.add_rows(took, r->affected_rows());
  else
    std::cerr << "troupe-bench: LOAD DATA failed: " << render(r.error())
              << "\n";
  auto m = rec.finish();
  if (!r || !check_bulk_table(opts, opts.bulk_rows))
    m.errors = 1;
  ::unlink(path.c_str());
  return m;
}

} // namespace troupe::bench
