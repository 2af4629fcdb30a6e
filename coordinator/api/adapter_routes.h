#pragma once
// The adapter registry over HTTP (/v1/adapters/...). Registers its routes on a Router; the
// registry is a collaborator (not owned) and must outlive the router.
//
//   GET    /v1/adapters                              tasks with their latest version and metrics
//   GET    /v1/adapters/{task}                       versions (any state) and aliases
//   GET    /v1/adapters/{task}/{ref}                 the manifest (ref: N, latest, or an alias)
//   GET    /v1/adapters/{task}/{ref}/files/{name}    adapter.safetensors or manifest.json, streamed;
//                                                    ETag "<sha256>", Range, If-None-Match
//   PUT    /v1/adapters/{task}/aliases/{alias}       {"version": N}          (user, admin)
//   DELETE /v1/adapters/{task}/{version}[?reason=]   optional {"reason": ""} (admin)
//
// GETs take any role. Errors answer through http::error_response (invalid 400, not_found 404,
// conflict 409, broken 500: the version exists but cannot be served, io 500).
#include "coordinator/http/router.h"

namespace trellis {
class ArtifactRegistry;
}

namespace trellis::api {

void add_adapter_routes(http::Router& router, ArtifactRegistry& registry);

// GET /healthz: {"status": "ok"}, no authentication.
void add_health_route(http::Router& router);

}  // namespace trellis::api
