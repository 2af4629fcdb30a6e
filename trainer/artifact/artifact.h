#pragma once
// An adapter artifact directory: adapter.safetensors (exactly the task's trained tensors, HF-style
// names) and manifest.json. Written into a staging directory beside the target, fsynced and
// renamed into place: a crash leaves no partial artifact, and an existing directory is never
// overwritten.
#include <filesystem>
#include <memory>
#include <string>

#include "trainer/artifact/manifest.h"
#include "trainer/model/task_params.h"

namespace trellis {

class Backbone;

// Fills manifest.adapter_sha256 and params_trained, writes the artifact to `dir` and returns the
// manifest as written. Throws trellis::Error if `dir` exists or anything fails (nothing is left
// behind then).
ArtifactManifest write_artifact(const std::filesystem::path& dir, ArtifactManifest manifest, const TaskParams& params);

struct LoadedArtifact {
  ArtifactManifest manifest;
  TaskParams params;
};

// read_manifest(dir) (manifest.json only, validated) and the file names kAdapterFile and
// kManifestFile are declared in manifest.h (torch-free).

// Loads and verifies an artifact for `backbone`: the manifest parses, the tensor file's sha256
// equals the manifest's, the backbone's weights sha256 equals the one it was trained on, and the
// tensors are exactly those of its method and adapter config. Errors name the file and field.
LoadedArtifact load_artifact(const std::filesystem::path& dir, const Backbone& backbone);

}  // namespace trellis
