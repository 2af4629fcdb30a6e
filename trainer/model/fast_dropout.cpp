#include "trainer/model/fast_dropout.h"

#include <cmath>
#include <mutex>

#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Parallel.h>

namespace trellis {
namespace {

inline uint64_t splitmix64(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t draw_seed() {
  auto gen = at::detail::getDefaultCPUGenerator();
  std::lock_guard<std::mutex> lock(gen.mutex());
  return gen.get<at::CPUGeneratorImpl>()->random64();
}

}  // namespace

at::Tensor fast_dropout(const at::Tensor& x, double p) {
  if (p <= 0) return x;
  if (!x.is_cpu()) return at::dropout(x, p, /*train=*/true);
  const uint64_t seed = draw_seed();
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  const uint64_t threshold = static_cast<uint64_t>(std::ldexp(p, 32));
  at::Tensor mask = at::empty(x.sizes(), x.options().dtype(at::kFloat).requires_grad(false));
  float* m = mask.data_ptr<float>();
  at::parallel_for(0, mask.numel(), 16384, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i)
      m[i] = (splitmix64(seed ^ (static_cast<uint64_t>(i) * 0xd1b54a32d192ed03ULL)) >> 32) >= threshold ? scale : 0.0f;
  });
  return x * mask.to(x.scalar_type());
}

}  // namespace trellis
