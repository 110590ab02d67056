// Test-only: a GLB read back with tinygltf and the nodes of it that carry a mesh, in file
// order (the composed scenes of image.segment pipelines). Header-only.
#ifndef KILN_TESTS_GLTF_GLB_MESH_NODES_H_
#define KILN_TESTS_GLTF_GLB_MESH_NODES_H_

#include <string>
#include <vector>

#include "tiny_gltf.h"

namespace kiln::testing {

struct GlbMeshNodes {
  tinygltf::Model model;
  std::vector<const tinygltf::Node*> nodes;  // into model
  std::string error;                         // tinygltf's, when the file did not load
};

// Loads `path`; error is set (and nodes empty) when it cannot. Not movable: nodes point
// into model.
inline void LoadGlbMeshNodes(const std::string& path, GlbMeshNodes* out) {
  tinygltf::TinyGLTF loader;
  std::string warning;
  if (!loader.LoadBinaryFromFile(&out->model, &out->error, &warning, path)) {
    if (out->error.empty()) out->error = "cannot load " + path;
    return;
  }
  for (const tinygltf::Node& node : out->model.nodes) {
    if (node.mesh >= 0) out->nodes.push_back(&node);
  }
}

}  // namespace kiln::testing

#endif  // KILN_TESTS_GLTF_GLB_MESH_NODES_H_
