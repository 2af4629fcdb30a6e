#include "cli/cli_context.h"

#include <thread>

#include <ATen/Parallel.h>

#include "trainer/model/backbone.h"
#include "trainer/spec/backbone_descriptor.h"

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
  return Backbone::load(find_backbone(name, {ctx.config_dir / "backbones"}));
}

}  // namespace trellis
