// trellis fetch TASK[@REF] [-o DIR]: an artifact from the coordinator's HTTP API into DIR, every
// byte verified. No LibTorch.
//   1. GET .../files/manifest.json: its sha256 must equal the ETag; it must validate and name the task.
//   2. The tensors come from the cache (<cache>/<sha256>/adapter.safetensors, re-hashed before
//      use) or are downloaded by version number (never by a reference that could move meanwhile)
//      into a temporary file beside the cache entry, hashed, and renamed into the cache only if
//      the sha256 equals the manifest's. A corrupt or truncated download is refused and removed.
//   3. DIR (default ./<task>-<version>) is staged and renamed (common/files.h): it appears
//      complete or not at all, and an existing DIR is never overwritten (one that already holds
//      exactly this artifact is accepted as it is).
#include <unistd.h>

#include <iostream>
#include <random>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "cli/server_client.h"
#include "protocol/http_client.h"
#include "registry/artifact_ref.h"
#include "trainer/artifact/manifest.h"
#include "common/files.h"
#include "common/sha256.h"
#include "common/error.h"

namespace trellis {
namespace {

namespace fs = std::filesystem;

std::string unquote(std::string etag) {
  if (etag.size() >= 2 && etag.front() == '"' && etag.back() == '"') return etag.substr(1, etag.size() - 2);
  return etag;
}

void check_reply(const http::ClientReply& reply, const std::string& what) {
  if (reply.status != 200)
    throw Error(what + ": the server answered " + std::to_string(reply.status) + ": " +
                http::HttpClient::error_message(reply));
}

std::string unique_suffix() {
  std::random_device rd;
  return std::to_string(::getpid()) + "-" + std::to_string(rd());
}

// The cached tensors if present and intact.
bool cache_holds(const fs::path& file, const std::string& sha256) {
  std::error_code ec;
  if (!fs::is_regular_file(file, ec)) return false;
  return sha256_file_hex(file) == sha256;
}

bool dir_holds(const fs::path& dir, const std::string& manifest_bytes, const std::string& sha256) {
  std::error_code ec;
  if (!fs::is_regular_file(dir / kManifestFile, ec) || !fs::is_regular_file(dir / kAdapterFile, ec)) return false;
  return read_text_file(dir / kManifestFile) == manifest_bytes && sha256_file_hex(dir / kAdapterFile) == sha256;
}

}  // namespace

CommandAction add_fetch_command(CLI::App& app, CliContext& ctx) {
  struct Args {
    std::string ref;
    std::string out;
  };
  auto args = std::make_shared<Args>();
  CLI::App* cmd =
      app.add_subcommand("fetch", "Download a registry artifact from the coordinator, verifying every sha256");
  cmd->add_option("ref", args->ref, "TASK[@VERSION|@latest|@ALIAS]")->required();
  cmd->add_option("-o,--out", args->out, "Artifact directory to write (default ./<task>-<version>)");
  add_server_options(*cmd, ctx);
  return [args, &ctx]() {
    const ArtifactRef ref = ArtifactRef::parse(args->ref);
    const http::HttpClient client = make_server_client(ctx);
    const std::string task = ref.task;
    const std::string ref_part = ref.kind == ArtifactRef::Kind::version ? std::to_string(ref.version)
                                 : ref.kind == ArtifactRef::Kind::alias ? ref.alias
                                                                        : std::string(kLatestAlias);

    // 1. The manifest, checked against its ETag and validated.
    const auto manifest_reply = client.get("/v1/adapters/" + task + "/" + ref_part + "/files/manifest.json");
    check_reply(manifest_reply, args->ref);
    const std::string manifest_bytes = manifest_reply.body;
    if (manifest_reply.etag.empty() || unquote(manifest_reply.etag) != sha256_hex(manifest_bytes))
      throw Error(args->ref + ": manifest.json does not match the sha256 the server sent (corrupt download)");
    const ArtifactManifest manifest = ArtifactManifest::from_json(
        parse_json_text(manifest_bytes, args->ref + " manifest.json"), args->ref + " manifest.json");
    if (manifest.task != task || !manifest.version ||
        (ref.kind == ArtifactRef::Kind::version && *manifest.version != ref.version))
      throw Error(args->ref + ": the server sent the manifest of another artifact (" + manifest.task + "@" +
                  (manifest.version ? std::to_string(*manifest.version) : std::string("?")) + ")");
    const int64_t version = *manifest.version;
    const std::string& sha = manifest.adapter_sha256;

    // 2. The tensors: from the cache, or downloaded, verified and then cached.
    const fs::path cache_dir = ctx.cache_dir / sha;
    const fs::path cached = cache_dir / kAdapterFile;
    bool from_cache = cache_holds(cached, sha);
    if (!from_cache) {
      fs::create_directories(cache_dir);
      const fs::path partial = cache_dir / (".partial-" + unique_suffix());
      try {
        const auto reply = client.get_to_file(
            "/v1/adapters/" + task + "/" + std::to_string(version) + "/files/" + kAdapterFile, partial);
        check_reply(reply, task + "@" + std::to_string(version) + " " + kAdapterFile);
        const std::string got = sha256_file_hex(partial);
        if (got != sha)
          throw Error(task + "@" + std::to_string(version) + ": refused: the downloaded " + kAdapterFile +
                      " has sha256 " + got + ", the manifest says " + sha + " (corrupt or tampered on the server)");
        if (unquote(reply.etag) != sha)
          throw Error(task + "@" + std::to_string(version) + ": refused: the server's ETag " + reply.etag +
                      " differs from the manifest's sha256 " + sha);
        fs::rename(partial, cached);
        fsync_dir(cache_dir);
      } catch (...) {
        std::error_code ec;
        fs::remove(partial, ec);
        throw;
      }
    }

    // 3. The artifact directory, staged and renamed.
    const fs::path out = args->out.empty() ? fs::path(task + "-" + std::to_string(version)) : fs::path(args->out);
    std::error_code ec;
    if (fs::exists(out, ec)) {
      if (!dir_holds(out, manifest_bytes, sha))
        throw Error(out.string() + " exists and holds something else; not overwritten");
    } else {
      StagedDirectory staged(out);
      write_file_durably(staged.path() / kAdapterFile, read_binary_file(cached));
      write_file_durably(staged.path() / kManifestFile, manifest_bytes);
      staged.commit();
    }
    std::cout
        << nlohmann::json{{"task", task},        {"version", version}, {"ref", task + "@" + std::to_string(version)},
                          {"dir", out.string()}, {"sha256", sha},      {"cached", from_cache}}
               .dump()
        << std::endl;
    return 0;
  };
}

}  // namespace trellis
