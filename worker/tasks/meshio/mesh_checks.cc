#include "worker/tasks/meshio/mesh_checks.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace kiln::tasks {

absl::Status CheckCount(absl::string_view name, absl::string_view what, uint64_t count,
                        uint64_t limit) {
  if (count <= limit) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(name, ": ", what, " count ", count, " exceeds the limit ", limit));
}

absl::Status CheckMesh(const Mesh& mesh, absl::string_view name) {
  const size_t n = mesh.positions.size();
  if (absl::Status s = CheckCount(name, "vertex", n, kMaxMeshVertices); !s.ok()) return s;
  if (absl::Status s = CheckCount(name, "face", mesh.triangles.size(), kMaxMeshFaces); !s.ok()) {
    return s;
  }
  if (!mesh.normals.empty() && mesh.normals.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", mesh.normals.size(), " normals for ", n, " vertices"));
  }
  if (!mesh.colors.empty() && mesh.colors.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": ", mesh.colors.size(), " colors for ", n, " vertices"));
  }
  for (size_t i = 0; i < n; ++i) {
    for (float c : mesh.positions[i]) {
      if (!std::isfinite(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": vertex ", i, " has a non-finite coordinate (NaN or inf)"));
      }
    }
  }
  for (size_t i = 0; i < mesh.normals.size(); ++i) {
    for (float c : mesh.normals[i]) {
      if (!std::isfinite(c)) {
        return absl::InvalidArgumentError(
            absl::StrCat(name, ": normal ", i, " has a non-finite component (NaN or inf)"));
      }
    }
  }
  for (size_t t = 0; t < mesh.triangles.size(); ++t) {
    for (uint32_t v : mesh.triangles[t]) {
      if (v >= n) {
        return absl::InvalidArgumentError(absl::StrCat(name, ": triangle ", t, " has vertex index ",
                                                       v, ", out of range [0, ", n, ")"));
      }
    }
  }
  return absl::OkStatus();
}

}  // namespace kiln::tasks
