#include "cli/cli_context.h"

#include <algorithm>
#include <thread>

#include <ATen/Parallel.h>

#include "trainer/model/backbone.h"
#include "trainer/spec/backbone_descriptor.h"
#include "trainer/util/error.h"

namespace trellis {

void apply_threads(const CliContext& ctx) {
  const int n = ctx.threads > 0 ? ctx.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  at::set_num_threads(n);
  static bool interop_set = false;  // set_num_interop_threads may be called once per process
  if (!interop_set) {
    at::set_num_interop_threads(1);
    interop_set = true;
  }
}

std::shared_ptr<const Backbone> load_backbone_by_name(const CliContext& ctx, const std::string& name) {
  const std::filesystem::path dir = ctx.config_dir / "backbones";
  if (!valid_backbone_name(name)) throw Error("backbone name '" + name + "' is not valid");
  const std::filesystem::path file = dir / (name + ".json");
  if (!std::filesystem::exists(file)) {
    std::vector<std::string> known;
    std::error_code ec;
    for (const auto& entry : std::filesystem::directory_iterator(dir, ec))
      if (entry.path().extension() == ".json") known.push_back(entry.path().stem().string());
    std::sort(known.begin(), known.end());
    std::string list;
    for (const auto& k : known) list += (list.empty() ? "" : ", ") + k;
    throw Error("unknown backbone '" + name + "': no " + file.string() + " (known: " + (list.empty() ? "none" : list) +
                ")");
  }
  BackboneDescriptor desc = load_backbone_descriptor(file);
  if (desc.name != name) throw Error(file.string() + ": field 'name' is '" + desc.name + "', expected '" + name + "'");
  return Backbone::load(desc);
}

}  // namespace trellis
