#include "troupe/latency_histogram.hpp"

#include <algorithm>

namespace troupe {

// Values below 8 get exact buckets; above, bucket = 8 * (exponent - 2) +
// the three bits below the leading one.
int latency_histogram::index_of(uint64_t v) {
  if (v < sub_buckets)
    return static_cast<int>(v);
  int exp = 63 - __builtin_clzll(v);
  auto mantissa = static_cast<int>((v >> (exp - 3)) & (sub_buckets - 1));
  return std::min(buckets - 1, (exp - 2) * sub_buckets + mantissa);
}

uint64_t latency_histogram::upper_bound_of(int index) {
  if (index < sub_buckets)
    return static_cast<uint64_t>(index);
  int exp = index / sub_buckets + 2;
  uint64_t mantissa = static_cast<uint64_t>(index % sub_buckets);
  return ((sub_buckets + mantissa + 1) << (exp - 3)) - 1;
}

void latency_histogram::record(uint64_t micros) {
  ++counts_[index_of(micros)];
  ++count_;
  max_ = std::max(max_, micros);
}

uint64_t latency_histogram::percentile(double q) const {
  if (count_ == 0)
    return 0;
  if (!(q > 0.0)) // also NaN
    q = 0.0;
  if (q > 1.0)
    q = 1.0;
  auto rank = static_cast<uint64_t>(q * static_cast<double>(count_));
  if (rank >= count_)
    rank = count_ - 1;
  uint64_t seen = 0;
  for (int i = 0; i < buckets; ++i) {
    seen += counts_[i];
    if (seen > rank)
      return std::min(upper_bound_of(i), max_);
  }
  return max_;
}

void latency_histogram::clear() {
  counts_.fill(0);
  count_ = 0;
  max_ = 0;
}

} // namespace troupe
