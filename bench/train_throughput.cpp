// Training-step throughput of the C++ trainer, measured the same way as bench/peer_adapters.py:
// same data, tokenizer, max_seq_len, length-bucketed dynamic padding, batch size and threads.
// Times `--steps` optimizer steps after `--warmup-steps`; prints and writes JSON.
#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>

#include <ATen/Parallel.h>
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "trainer/data/batching.h"
#include "trainer/data/dataset.h"
#include "trainer/model/backbone.h"
#include "trainer/model/encoder.h"
#include "trainer/model/task_params.h"
#include "trainer/train/encoded_dataset.h"
#include "trainer/train/optimizer.h"
#include "trainer/spec/backbone_descriptor.h"

using namespace trellis;

int main(int argc, char** argv) {
  CLI::App app{"C++ Houlsby training throughput"};
  std::string data, backbone_desc, json_out, method_name = "houlsby";
  int threads = 2, steps = 40, warmup = 5;
  size_t batch_size = 32;
  int64_t max_seq_len = 128, bottleneck = 64;
  double attention_dropout = 0.1;
  app.add_option("--data", data)->required();
  app.add_option("--backbone", backbone_desc, "descriptor JSON")->required();
  app.add_option("--threads", threads);
  app.add_option("--steps", steps);
  app.add_option("--warmup-steps", warmup);
  app.add_option("--batch-size", batch_size);
  app.add_option("--max-seq-len", max_seq_len);
  app.add_option("--bottleneck", bottleneck);
  app.add_option("--method", method_name);
  app.add_option("--attention-dropout", attention_dropout, "dropout on attention probabilities (HF: 0.1)");
  app.add_option("--json-out", json_out);
  CLI11_PARSE(app, argc, argv);
  at::set_num_threads(threads);
  at::set_num_interop_threads(1);

  auto backbone = Backbone::load(load_backbone_descriptor(backbone_desc));
  auto examples = read_examples(data, FieldNames{}, TaskType::classification);
  LabelSet labels = LabelSet::from_examples(examples);
  EncodedDataset ds =
      encode_examples(backbone->tokenizer(), examples, TaskType::classification, &labels, max_seq_len, data);
  const Method method = method_name == "full" ? Method::full : method_name == "head" ? Method::head : Method::houlsby;
  AdapterSpec adapter;
  adapter.bottleneck = bottleneck;
  TaskParams params = TaskParams::create(*backbone, method, adapter, static_cast<int64_t>(labels.size()), 42);
  auto optimizer = make_adamw(params, 1e-3, 0.01);
  torch::optim::AdamW& opt = *optimizer;
  auto all = params.parameters();
  torch::manual_seed(0);

  BatchPlanOptions plan_opts;
  plan_opts.batch_size = batch_size;
  std::vector<std::vector<size_t>> plan;
  for (uint64_t epoch = 0; plan.size() < static_cast<size_t>(steps + warmup); ++epoch) {
    auto p = plan_batches(ds.lengths(), plan_opts, 42, epoch);
    plan.insert(plan.end(), p.begin(), p.end());
  }
  const ForwardOptions fwd{true, 0.1, attention_dropout};
  std::vector<double> step_ms;
  int64_t samples = 0, tokens = 0;
  double seconds = 0;
  for (int s = 0; s < steps + warmup; ++s) {
    const auto t0 = std::chrono::steady_clock::now();
    std::vector<const Encoding*> encs;
    std::vector<int64_t> y;
    for (size_t i : plan[s]) {
      encs.push_back(&ds.encodings[i]);
      y.push_back(ds.labels[i]);
    }
    TokenBatch batch = make_token_batch(encs);
    opt.zero_grad();
    at::Tensor loss = at::cross_entropy_loss(task_outputs(*backbone, params, batch, fwd), torch::tensor(y));
    loss.backward();
    torch::nn::utils::clip_grad_norm_(all, 1.0);
    opt.step();
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (s >= warmup) {
      step_ms.push_back(dt * 1e3);
      seconds += dt;
      samples += static_cast<int64_t>(encs.size());
      tokens += batch.num_tokens;
    }
  }
  std::vector<double> sorted = step_ms;
  std::sort(sorted.begin(), sorted.end());
  nlohmann::json out = {{"impl", "trellis-cpp"},
                        {"method", method_name},
                        {"samples_per_s", samples / seconds},
                        {"tokens_per_s", tokens / seconds},
                        {"steps", steps},
                        {"step_ms_median", sorted[sorted.size() / 2]},
                        {"threads", threads},
                        {"batch_size", batch_size},
                        {"trained_params", params.num_parameters()},
                        {"torch_version", TORCH_VERSION}};
  std::cout << out.dump() << std::endl;
  if (!json_out.empty()) std::ofstream(json_out) << out.dump(2) << "\n";
  return 0;
}
