#include "troupe/latency_histogram.hpp"

#include <cstdint>
#include <limits>

#include <catch2/catch.hpp>

using troupe::latency_histogram;

namespace {

// Records 1, 2, ..., n once each.
void record_one_to(latency_histogram& h, uint64_t n) {
  for (uint64_t v = 1; v <= n; ++v)
    h.record(v);
}

// True when `x` is within `rel` (e.g. 0.07) of `expected`.
bool within(uint64_t x, double expected, double rel) {
  auto d = static_cast<double>(x);
  return d >= expected * (1.0 - rel) && d <= expected * (1.0 + rel);
}

} // namespace

TEST_CASE("latency_histogram without samples reports zero everywhere",
          "[histogram]") {
  latency_histogram h;
  CHECK(h.count() == 0);
  CHECK(h.max() == 0);
  CHECK(h.percentile(0.0) == 0);
  CHECK(h.percentile(0.5) == 0);
  CHECK(h.percentile(0.99) == 0);
  CHECK(h.percentile(1.0) == 0);
}

TEST_CASE("latency_histogram with one sample reports it within a bucket's "
          "width and never above max",
          "[histogram]") {
  auto v = GENERATE(as<uint64_t>{}, 0, 1, 7, 8, 1000, 123456789);
  CAPTURE(v);
  latency_histogram h;
  h.record(v);
  CHECK(h.count() == 1);
  CHECK(h.max() == v);
  for (double q : {0.0, 0.5, 0.99, 1.0}) {
    CAPTURE(q);
    auto p = h.percentile(q);
    CHECK(p >= v);
    CHECK(static_cast<double>(p) <= static_cast<double>(v) * 1.13);
    CHECK(p <= h.max());
  }
}

TEST_CASE("latency_histogram reports p50 and p99 of 1..10000 within 7 %",
          "[histogram]") {
  latency_histogram h;
  record_one_to(h, 10000);
  auto p50 = h.percentile(0.5);
  auto p99 = h.percentile(0.99);
  CAPTURE(p50, p99);
  CHECK(within(p50, 5000.0, 0.07));
  CHECK(within(p99, 9900.0, 0.07));
  CHECK(h.percentile(1.0) == 10000);
  CHECK(h.percentile(1.0) <= h.max());
}

TEST_CASE("latency_histogram percentiles never decrease as q grows",
          "[histogram]") {
  latency_histogram h;
  record_one_to(h, 10000);
  // A second, skewed population so that buckets differ in height.
  for (uint64_t v = 1; v <= 1000; ++v)
    h.record(v * v);
  uint64_t previous = 0;
  for (int i = 0; i <= 100; ++i) {
    auto q = i / 100.0;
    auto p = h.percentile(q);
    CAPTURE(q, p, previous);
    CHECK(p >= previous);
    CHECK(p <= h.max());
    previous = p;
  }
  CHECK(previous == h.max());
}

TEST_CASE("latency_histogram counts samples and keeps the largest",
          "[histogram]") {
  latency_histogram h;
  h.record(5);
  h.record(500);
  h.record(50);
  h.record(500);
  CHECK(h.count() == 4);
  CHECK(h.max() == 500);
  CHECK(h.percentile(0.0) == 5);
  CHECK(h.percentile(1.0) == 500);
}

TEST_CASE("latency_histogram clear forgets every sample", "[histogram]") {
  latency_histogram h;
  record_one_to(h, 1000);
  h.record(1000000);
  REQUIRE(h.count() == 1001);
  h.clear();
  CHECK(h.count() == 0);
  CHECK(h.max() == 0);
  CHECK(h.percentile(0.5) == 0);
  CHECK(h.percentile(1.0) == 0);
  // Old buckets must not leak into new percentiles.
  h.record(3);
  CHECK(h.count() == 1);
  CHECK(h.max() == 3);
  CHECK(h.percentile(0.5) == 3);
  CHECK(h.percentile(1.0) == 3);
}

TEST_CASE("latency_histogram handles huge values without overflowing",
          "[histogram]") {
  constexpr auto top = std::numeric_limits<uint64_t>::max();
  auto v = GENERATE_COPY(as<uint64_t>{}, top / 2, top / 2 + 1, top - 1, top);
  CAPTURE(v);
  latency_histogram h;
  h.record(1);
  h.record(v);
  CHECK(h.count() == 2);
  CHECK(h.max() == v);
  CHECK(h.percentile(0.0) == 1);
  auto p = h.percentile(1.0);
  CHECK(p <= h.max());
  CHECK(static_cast<double>(p) >= static_cast<double>(v) / 1.13);
  CHECK(h.percentile(0.99) <= h.max());
}
