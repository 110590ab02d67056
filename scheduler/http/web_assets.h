// WebAssets: the dashboard's single-page app (scheduler/http/web: HTML, ES modules, CSS)
// and the pinned three.js files it imports, embedded into the binary at build time by
// embed_web_assets.cmake (a generated web_assets.cc), so kiln-scheduler serves the
// dashboard with no files beside it and no external fetches. Immutable; any thread.
#ifndef KILN_SCHEDULER_HTTP_WEB_ASSETS_H_
#define KILN_SCHEDULER_HTTP_WEB_ASSETS_H_

#include "absl/strings/string_view.h"

namespace kiln::http {

struct WebAsset {
  // URL path, e.g. "/index.html" or "/vendor/three/build/three.module.min.js".
  absl::string_view path;
  absl::string_view content_type;
  absl::string_view data;
  // Hex sha256 of data, computed at build time (the ETag).
  absl::string_view sha256;
};

// The asset served at `path`, or null.
const WebAsset* FindWebAsset(absl::string_view path);

}  // namespace kiln::http

#endif  // KILN_SCHEDULER_HTTP_WEB_ASSETS_H_
