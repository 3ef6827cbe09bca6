#pragma once

// A private temporary directory for what a test writes (password files,
// config files, state directories, certificates), removed with everything
// in it at the end of the test.

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <catch2/catch.hpp>

namespace troupe::test {

class temp_dir {
public:
  temp_dir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string{base != nullptr ? base : "/tmp"}
                       + "/troupe-test-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr)
      FAIL("mkdtemp failed");
    path_ = tmpl;
  }

  ~temp_dir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }

  temp_dir(const temp_dir&) = delete;
  temp_dir& operator=(const temp_dir&) = delete;

  const std::string& path() const { return path_; }

  /// Writes `content` to file `name` with permissions `mode`; returns its
  /// path.
  std::string write(const std::string& name, const std::string& content,
                    mode_t mode) {
    auto file = track(name);
    {
      std::ofstream out{file, std::ios::binary};
      out << content;
    }
    REQUIRE(::chmod(file.c_str(), mode) == 0);
    return file;
  }

  /// The path of `name` in the directory (for files made by other means).
  std::string track(const std::string& name) const {
    return path_ + "/" + name;
  }

private:
  std::string path_;
};

/// Sets (or, with nullptr, unsets) an environment variable until the end of
/// the scope.
class env_var {
public:
  env_var(std::string name, const char* value) : name_(std::move(name)) {
    if (value != nullptr)
      ::setenv(name_.c_str(), value, 1);
    else
      ::unsetenv(name_.c_str());
  }

  ~env_var() { ::unsetenv(name_.c_str()); }

  env_var(const env_var&) = delete;
  env_var& operator=(const env_var&) = delete;

private:
  std::string name_;
};

} // namespace troupe::test
