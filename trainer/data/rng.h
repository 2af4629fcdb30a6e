#pragma once
// Portable deterministic randomness. std::mt19937_64's output sequence is fixed by the standard,
// but std::shuffle and the std::*_distribution classes are implementation-defined, so results
// built on them differ between standard libraries. Everything here is built only on the raw
// engine output and gives the same results on every platform and compiler; keep it that way
// (splits and batch orders recorded in artifacts must stay reproducible).
// Free functions; an engine must not be shared between threads without external locking.
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

namespace trellis {

// Uniform integer in [0, n) by rejection sampling (unbiased). n must be > 0.
inline uint64_t uniform_below(std::mt19937_64& rng, uint64_t n) {
  // 2^64 mod n: draws below it would make small residues more likely.
  const uint64_t threshold = (0 - n) % n;
  for (;;) {
    const uint64_t x = rng();
    if (x >= threshold) return x % n;
  }
}

// Uniform double in [0, 1) with 53 random bits.
inline double uniform_unit(std::mt19937_64& rng) { return static_cast<double>(rng() >> 11) * 0x1.0p-53; }

// Fisher-Yates (Durstenfeld) shuffle driven by uniform_below.
template <class T>
void deterministic_shuffle(std::vector<T>& v, std::mt19937_64& rng) {
  for (size_t i = v.size(); i > 1; --i) {
    const size_t j = static_cast<size_t>(uniform_below(rng, i));
    using std::swap;
    swap(v[i - 1], v[j]);
  }
}

// Derives an independent seed from (seed, stream), e.g. (job seed, epoch), so that nearby
// inputs give unrelated engine states. SplitMix64 finaliser over both words.
inline uint64_t derive_seed(uint64_t seed, uint64_t stream) {
  auto mix = [](uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  };
  return mix(mix(seed) ^ stream);
}

}  // namespace trellis
