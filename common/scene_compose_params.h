// Parameters of the scene.compose task (several meshes with transforms written as one
// GLB scene, one node per object; worker/tasks/scene_compose/): the schema, limits and
// the parser shared by the scheduler (validation at submit) and the executor.
// Pure functions; any thread may call them.
#ifndef KILN_COMMON_SCENE_COMPOSE_PARAMS_H_
#define KILN_COMMON_SCENE_COMPOSE_PARAMS_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "common/image_segment_params.h"
#include "common/render_preview_params.h"
#include "google/protobuf/struct.pb.h"

namespace kiln {

inline constexpr std::string_view kSceneComposeTask = "scene.compose";

// scene.compose parameters (JSON object):
//   objects  (required) a list of 1..kMaxSceneObjects objects:
//     input        (required) the job input holding the mesh (OBJ, PLY, STL or GLB, by
//                  the input's file extension); one input may be placed many times
//     name         node name, 1..128 bytes (default: the input name)
//     translation  [x, y, z] (default [0, 0, 0])
//     rotation     {"axis": [x, y, z], "degrees": d}: a right-handed rotation of d
//                  degrees about the axis (any non-zero length); default none
//     scale        a number or [sx, sy, sz], each in (0, 1e6] (default 1)
//     segment      index (0..kMaxSegmentObjects-1) of an object of the layout (below): the
//                  node is placed where that object stood in the segmented image; its
//                  translation is then an offset and its scale a factor on top
//   Each node's transform is translation * rotation * scale (scale applied first), as glTF.
//   layout   image.segment's objects.json, for objects with a segment:
//     input        (required) the job input holding objects.json
//     width        scene units the image's width spans, (0, 1e6] (default 1)
//     mesh_size    the image.to3d `size` the object meshes were made from their crops
//                  with, (0, 1e6] (default 1)
//            The image maps to the scene's z = 0 plane, centred on the origin, x right, y
//            up. An object's node is translated to its crop's centre (the bbox centre)
//            and scaled by width / image width * crop width / mesh_size, so an
//            image.to3d mesh of its crop covers the object's pixels.
//   output   GLB file name, [A-Za-z0-9._-]{1,128} ending in ".glb" (default "scene.glb")
//   preview  a turntable preview of the whole scene (common/render_preview_params.h;
//            default none)
inline constexpr int kMaxSceneObjects = 256;
inline constexpr size_t kMaxSceneNodeNameLength = 128;
inline constexpr double kMaxSceneMagnitude = 1e6;
// The executor refuses a scene whose meshes hold more triangles than this in total.
inline constexpr int64_t kMaxSceneTriangles = int64_t{64} << 20;

struct SceneObjectParams {
  std::string input;
  std::string name;
  std::array<double, 3> translation{0, 0, 0};
  // Unit quaternion x, y, z, w (glTF order), from the axis and degrees.
  std::array<double, 4> rotation{0, 0, 0, 1};
  std::array<double, 3> scale{1, 1, 1};
  // Index into the layout's objects; placement from the layout when set.
  std::optional<int> segment;
};

struct SceneLayoutParams {
  std::string input;
  double width = 1;
  double mesh_size = 1;
};

struct SceneComposeParams {
  std::vector<SceneObjectParams> objects;
  // Set when (and only when) an object has a segment.
  std::optional<SceneLayoutParams> layout;
  std::string output = "scene.glb";
  std::optional<PreviewParams> preview;
};

// Errors are InvalidArgument "parameters.<field>: ...", e.g.
// "parameters.objects[2].rotation.axis: must not be the zero vector".
absl::StatusOr<SceneComposeParams> ParseSceneComposeParams(
    const google::protobuf::Struct& parameters);

}  // namespace kiln

#endif  // KILN_COMMON_SCENE_COMPOSE_PARAMS_H_
