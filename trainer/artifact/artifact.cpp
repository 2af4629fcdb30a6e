#include "trainer/artifact/artifact.h"

#include <nlohmann/json.hpp>

#include "common/files.h"
#include "trainer/io/safetensors.h"
#include "common/sha256.h"
#include "trainer/model/backbone.h"
#include "trainer/model/tensor_io.h"
#include "common/error.h"

namespace trellis {

ArtifactManifest write_artifact(const std::filesystem::path& dir, ArtifactManifest manifest, const TaskParams& params) {
  if (std::filesystem::symlink_status(dir).type() != std::filesystem::file_type::not_found)
    throw Error(dir.string() + ": already exists; artifacts are never overwritten");
  const auto bytes = serialize_tensors(params.tensors(), {{"format", "pt"}, {"trellis.task", manifest.task}});
  manifest.adapter_sha256 = sha256_hex(bytes);
  manifest.params_trained = params.num_parameters();
  StagedDirectory staged(dir);
  write_file_durably(staged.path() / kAdapterFile, std::span<const std::byte>(bytes));
  write_file_durably(staged.path() / kManifestFile, manifest.to_json().dump(2) + "\n");
  staged.commit();
  return manifest;
}

LoadedArtifact load_artifact(const std::filesystem::path& dir, const Backbone& backbone) {
  ArtifactManifest m = read_manifest(dir);
  const auto file = dir / kAdapterFile;
  if (m.backbone_sha256 != backbone.weights_sha256())
    throw Error((dir / kManifestFile).string() + ": the artifact was trained on backbone '" + m.backbone_name +
                "' with weights sha256 " + m.backbone_sha256 + ", but the loaded backbone '" + backbone.name() +
                "' has sha256 " + backbone.weights_sha256());
  std::vector<std::byte> bytes = read_binary_file(file);  // read once: verified, then parsed
  const std::string sha = sha256_hex(bytes);
  if (sha != m.adapter_sha256)
    throw Error(file.string() + ": sha256 " + sha + " differs from the manifest's " + m.adapter_sha256 +
                " (the file is corrupt or was modified)");
  const SafetensorsFile st = SafetensorsFile::parse(std::move(bytes), file.string());
  std::map<std::string, at::Tensor> tensors;
  for (const auto& name : st.names()) tensors.emplace(name, to_tensor(st.get(name)));
  const int64_t outputs = m.spec.data.task_type == TaskType::regression ? 1 : static_cast<int64_t>(m.labels.size());
  TaskParams params =
      TaskParams::from_tensors(backbone, m.spec.method, m.spec.adapter, outputs, std::move(tensors), file.string());
  return LoadedArtifact{std::move(m), std::move(params)};
}

}  // namespace trellis
