// GPU check: Houlsby adapter training on CUDA (fp32 and bf16 autocast) and a one-rank NCCL
// allreduce, on a random backbone of all-MiniLM-L6-v2's shape (no files needed).
//  1. parity: eval-mode logits of the same task on the CPU and on CUDA agree (fp32);
//  2. training: samples/s of fixed-length synthetic batches after warm-up, fp32 and bf16;
//  3. NCCL: NcclCommunicator (bootstrap: LocalCommunicator) allreduce_sum, broadcast and barrier
//     of a flat float buffer of the task's parameter count; result checked, time and GB/s (one
//     rank exchanges nothing: this times the call path and stream ordering, not a link).
// Usage: trellis_gpu_bench [--steps N] [--warmup N] [--batch B] [--seq L] [--iters N]
// Prints one JSON line last and writes it to $OUT/gpu_bench.json when OUT is set. Exit 1 if a
// check fails.
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include <ATen/ATen.h>
#include <ATen/autocast_mode.h>
#include <cuda_runtime_api.h>
#include <nlohmann/json.hpp>
#include <torch/cuda.h>
#include <torch/torch.h>

#include "trainer/model/backbone.h"
#include "trainer/model/encoder.h"
#include "trainer/model/task_params.h"
#include "trainer/train/communicator.h"
#include "trainer/train/optimizer.h"
#include "worker/nccl/nccl_communicator.h"

using namespace trellis;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  int steps = 30, warmup = 5, batch = 32, seq = 64, iters = 20;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i];
    const int v = std::stoi(argv[i + 1]);
    if (k == "--steps") o.steps = v;
    else if (k == "--warmup") o.warmup = v;
    else if (k == "--batch") o.batch = v;
    else if (k == "--seq") o.seq = v;
    else if (k == "--iters") o.iters = v;
    else throw std::runtime_error("unknown option " + k);
  }
  return o;
}

BertConfig minilm_config() {
  BertConfig c;
  c.vocab_size = 30522;
  c.hidden_size = 384;
  c.num_hidden_layers = 6;
  c.num_attention_heads = 12;
  c.intermediate_size = 1536;
  c.max_position_embeddings = 512;
  return c;
}

Vocab minilm_shaped_vocab() {
  std::vector<std::string> tokens = {"[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"};
  for (int i = 0; tokens.size() < 30522; ++i) tokens.push_back(std::string(1, 'w').append(std::to_string(i)));
  return Vocab::from_tokens(tokens);
}

// Fixed-length batches of random words: [CLS] w... [SEP]; label = whether the first word is in
// the lower half of the vocab (learnable, so the loss can fall).
struct Batch {
  TokenBatch tokens;
  at::Tensor labels;
};
std::vector<Batch> synthetic_batches(int count, int batch, int seq, const at::Device& device) {
  std::mt19937 rng(1);
  std::uniform_int_distribution<int32_t> word(5, 30521);
  std::vector<Batch> out;
  for (int b = 0; b < count; ++b) {
    std::vector<Encoding> enc(batch);
    std::vector<int64_t> labels;
    for (Encoding& e : enc) {
      e.input_ids.push_back(2);
      for (int j = 1; j + 1 < seq; ++j) e.input_ids.push_back(word(rng));
      e.input_ids.push_back(3);
      e.token_type_ids.assign(e.input_ids.size(), 0);
      labels.push_back(e.input_ids[1] < 15000 ? 1 : 0);
    }
    std::vector<const Encoding*> ptrs;
    for (const Encoding& e : enc) ptrs.push_back(&e);
    out.push_back({make_token_batch(ptrs).to(device), torch::tensor(labels, torch::kLong).to(device)});
  }
  return out;
}

// Enables CUDA autocast to bf16 for its lifetime (as torch.autocast("cuda", torch.bfloat16)).
class Bf16Autocast {
 public:
  explicit Bf16Autocast(bool on) : on_(on) {
    if (!on_) return;
    at::autocast::set_autocast_dtype(at::kCUDA, at::kBFloat16);
    at::autocast::set_autocast_enabled(at::kCUDA, true);
    at::autocast::increment_nesting();
  }
  ~Bf16Autocast() {
    if (!on_) return;
    if (at::autocast::decrement_nesting() == 0) at::autocast::clear_cache();
    at::autocast::set_autocast_enabled(at::kCUDA, false);
  }

 private:
  bool on_;
};

double seconds_since(Clock::time_point t0) { return std::chrono::duration<double>(Clock::now() - t0).count(); }

nlohmann::json train(const Backbone& backbone, const Backbone& cpu_backbone, const Options& o, bool bf16) {
  const at::Device device = backbone.device();
  TaskParams params = TaskParams::create(cpu_backbone, Method::houlsby, AdapterSpec{}, 2, 42);
  params.to(device);
  auto optimizer = make_adamw(params, 1e-3, 0.01);
  const std::vector<Batch> batches = synthetic_batches(8, o.batch, o.seq, device);
  ForwardOptions fwd;
  fwd.training = true;
  fwd.hidden_dropout = 0.1;
  fwd.attention_dropout = 0.1;
  double first_loss = 0, last_loss = 0;
  auto step = [&](int i) {
    const Batch& b = batches[i % batches.size()];
    at::Tensor loss;
    {
      Bf16Autocast autocast(bf16);
      loss = at::cross_entropy_loss(task_outputs(backbone, params, b.tokens, fwd), b.labels);
    }
    optimizer->zero_grad();
    loss.backward();
    optimizer->step();
    return loss;
  };
  for (int i = 0; i < o.warmup; ++i) {
    const at::Tensor l = step(i);
    if (i == 0) first_loss = l.item<double>();
  }
  torch::cuda::synchronize();
  const auto t0 = Clock::now();
  at::Tensor loss;
  for (int i = 0; i < o.steps; ++i) loss = step(o.warmup + i);
  torch::cuda::synchronize();
  const double s = seconds_since(t0);
  last_loss = loss.item<double>();
  const double rate = o.steps * o.batch / s;
  std::cerr << (bf16 ? "bf16" : "fp32") << ": " << rate << " samples/s (" << o.steps << " steps of " << o.batch << " x "
            << o.seq << " in " << s << " s), loss " << first_loss << " -> " << last_loss << "\n";
  return {{"samples_per_s", rate},
          {"seconds", s},
          {"first_loss", first_loss},
          {"last_loss", last_loss},
          {"loss_finite", std::isfinite(last_loss)}};
}

// Eval-mode logits of the same task on the CPU and on CUDA (fp32): max |difference|.
double device_parity(const Backbone& cpu, const Backbone& gpu) {
  TaskParams on_cpu = TaskParams::create(cpu, Method::houlsby, AdapterSpec{}, 3, 7);
  TaskParams on_gpu = TaskParams::create(cpu, Method::houlsby, AdapterSpec{}, 3, 7);
  on_gpu.to(gpu.device());
  // Mixed lengths, so padding, the mask and the packed scatter are exercised.
  std::vector<Encoding> enc(4);
  for (size_t i = 0; i < enc.size(); ++i) {
    enc[i].input_ids = {2};
    for (size_t j = 0; j < 5 + 7 * i; ++j) enc[i].input_ids.push_back(static_cast<int32_t>(100 + 31 * j + i));
    enc[i].input_ids.push_back(3);
  }
  std::vector<const Encoding*> ptrs;
  for (const Encoding& e : enc) ptrs.push_back(&e);
  const TokenBatch batch = make_token_batch(ptrs);
  torch::NoGradGuard no_grad;
  const at::Tensor a = task_outputs(cpu, on_cpu, batch, {});
  const at::Tensor b = task_outputs(gpu, on_gpu, batch.to(gpu.device()), {}).to(at::kCPU);
  return (a - b).abs().max().item<double>();
}

nlohmann::json nccl_check(int64_t count, int iters) {
  LocalCommunicator bootstrap;
  auto comm = NcclCommunicator::create(bootstrap, 0);
  const auto opts = at::TensorOptions().dtype(at::kFloat).device(at::kCUDA, 0);
  const at::Tensor expected = at::arange(count, opts).remainder(977.0);
  at::Tensor buffer = expected.clone();
  for (int i = 0; i < 3; ++i) comm->allreduce_sum(buffer);
  comm->barrier();
  torch::cuda::synchronize();
  const auto t0 = Clock::now();
  for (int i = 0; i < iters; ++i) comm->allreduce_sum(buffer);
  torch::cuda::synchronize();
  const double per_call = seconds_since(t0) / iters;
  const bool allreduce_ok = at::equal(buffer, expected);  // one rank: the sum is the input
  at::Tensor root = at::full({16}, 5, opts.dtype(at::kLong));
  comm->broadcast(root, 0);
  const bool broadcast_ok = at::equal(root, at::full({16}, 5, opts.dtype(at::kLong)));
  const double gbps = static_cast<double>(count) * 4 / per_call / 1e9;
  std::cerr << "nccl: allreduce of " << count << " floats: " << per_call * 1e6 << " us, " << gbps
            << " GB/s (algorithm bandwidth), checks " << (allreduce_ok && broadcast_ok ? "ok" : "FAILED") << "\n";
  return {{"count", count},
          {"seconds_per_allreduce", per_call},
          {"algbw_gb_per_s", gbps},
          {"allreduce_ok", allreduce_ok},
          {"broadcast_ok", broadcast_ok}};
}

}  // namespace

int main(int argc, char** argv) {
  try {
    const Options o = parse(argc, argv);
    if (!torch::cuda::is_available()) throw std::runtime_error("no CUDA device is visible");
    const at::Device cuda(at::kCUDA, 0);
    auto cpu_backbone = make_random_backbone(minilm_config(), minilm_shaped_vocab(), 1, "random-minilm-shape");
    auto backbone = cpu_backbone->to(cuda);
    cudaDeviceProp props{};
    if (cudaGetDeviceProperties(&props, 0) != cudaSuccess) throw std::runtime_error("cudaGetDeviceProperties failed");
    nlohmann::json report = {
        {"device", std::string(props.name)}, {"batch", o.batch}, {"seq", o.seq}, {"steps", o.steps}};
    report["parity_max_abs_diff"] = device_parity(*cpu_backbone, *backbone);
    std::cerr << "parity: max |logit cpu - cuda| = " << report["parity_max_abs_diff"] << "\n";
    report["fp32"] = train(*backbone, *cpu_backbone, o, false);
    report["bf16"] = train(*backbone, *cpu_backbone, o, true);
    const int64_t count = TaskParams::create(*cpu_backbone, Method::houlsby, AdapterSpec{}, 2, 42).num_parameters();
    report["nccl"] = nccl_check(count, o.iters);
    const bool ok = report["parity_max_abs_diff"].get<double>() < 1e-3 && report["fp32"]["loss_finite"].get<bool>() &&
                    report["bf16"]["loss_finite"].get<bool>() && report["nccl"]["allreduce_ok"].get<bool>() &&
                    report["nccl"]["broadcast_ok"].get<bool>();
    report["ok"] = ok;
    std::cout << report.dump() << std::endl;
    if (const char* out = std::getenv("OUT"))
      std::ofstream(std::string(out) + "/gpu_bench.json") << report.dump(2) << "\n";
    return ok ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "gpu bench: " << e.what() << "\n";
    return 1;
  }
}
