#pragma once

// A fixed-size log-linear histogram of durations in microseconds: constant
// memory, O(1) recording, percentiles reported as the upper bound of their
// bucket, at most 12.5 % above the true value (8 sub-buckets per power of
// two). Not thread-safe.

#include <array>
#include <cstdint>

namespace troupe {

class latency_histogram {
public:
  /// Records one sample.
  void record(uint64_t micros);

  /// The value below which `q` of the samples fall, in microseconds (an
  /// upper bucket bound; 0 without samples). `q` is clamped to 0..1.
  uint64_t percentile(double q) const;

  uint64_t count() const { return count_; }
  uint64_t max() const { return max_; }

  void clear();

private:
  static constexpr int sub_buckets = 8;
  static constexpr int buckets = 64 * sub_buckets;
  static int index_of(uint64_t v);
  static uint64_t upper_bound_of(int index);

  std::array<uint64_t, buckets> counts_{};
  uint64_t count_ = 0;
  uint64_t max_ = 0;
};

} // namespace troupe
