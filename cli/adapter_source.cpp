#include "cli/adapter_source.h"

#include "registry/artifact_registry.h"
#include "common/error.h"

namespace trellis {

AdapterLocation locate_adapter(const std::string& arg, const CliContext& ctx) {
  if (std::filesystem::is_directory(arg)) return AdapterLocation{arg, arg};
  if (arg.find('/') != std::string::npos) throw Error("--adapter '" + arg + "': no such artifact directory");
  if (ctx.registry.empty())
    throw Error("--adapter '" + arg +
                "': not a directory; to use a registry reference (task@version, task@alias) "
                "give --registry ROOT or set TRELLIS_REGISTRY");
  const ResolvedVersion v = ArtifactRegistry(RegistryOptions{.root = ctx.registry}).resolve(arg);
  return AdapterLocation{v.dir, arg};
}

}  // namespace trellis
