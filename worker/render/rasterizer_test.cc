#include "worker/render/rasterizer.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <numeric>
#include <random>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/image/png.h"
#include "worker/render/prepared_mesh.h"
#include "worker/render/raster_core.h"
#include "worker/render/renderer.h"
#include "worker/render/testing/test_meshes.h"

namespace kiln::render {
namespace {

using testing::ColoredBox;
using testing::CompareImages;
using ::testing::HasSubstr;

int Alpha(const image::Image& image, int x, int y) { return image.pixel(x, y)[3]; }

struct Box2 {
  int x0 = 1 << 30, y0 = 1 << 30, x1 = -1, y1 = -1;  // inclusive
  int64_t count = 0;
};
Box2 OpaqueBox(const image::Image& image) {
  Box2 b;
  for (int y = 0; y < image.height; ++y) {
    for (int x = 0; x < image.width; ++x) {
      if (Alpha(image, x, y) == 0) continue;
      b.x0 = std::min(b.x0, x), b.x1 = std::max(b.x1, x);
      b.y0 = std::min(b.y0, y), b.y1 = std::max(b.y1, y);
      ++b.count;
    }
  }
  return b;
}

// The reference image: 128x128, perspective, azimuth 35, elevation 25, transparent.
RenderOptions ReferenceOptions() {
  RenderOptions options;
  options.width = 128;
  options.height = 128;
  options.azimuth_degrees = 35;
  options.elevation_degrees = 25;
  return options;
}

TEST(RasterizerTest, MatchesReferenceImage) {
  // tests/data/render/reference_scene.png was made by this renderer and checked by eye (a
  // box with red +X, blue +Z, green +Y faces lit from the upper left, a smooth grey
  // sphere in front of its corner). Tolerance: at most 0.5% of pixels may differ by more
  // than 8/255 in some channel (room for a compiler's different float rounding).
  absl::StatusOr<image::Image> rendered =
      RenderMeshOnCpu(testing::ReferenceScene(), ReferenceOptions());
  ASSERT_TRUE(rendered.ok()) << rendered.status();
  const std::string reference_path = std::string(KILN_RENDER_TEST_DATA) + "/reference_scene.png";
  if (const char* update = std::getenv("KILN_UPDATE_RENDER_REFERENCE"); update && *update) {
    ASSERT_TRUE(image::WritePng(*rendered, reference_path).ok());
  }
  absl::StatusOr<image::Image> reference = image::ReadPng(reference_path);
  ASSERT_TRUE(reference.ok()) << reference.status();
  const testing::ImageDifference d = CompareImages(*rendered, *reference, 8);
  ASSERT_EQ(d.pixels, 128 * 128);
  EXPECT_LE(d.over_tolerance, d.pixels * 5 / 1000)
      << d.over_tolerance << " pixels differ by more than 8/255 (max " << d.max_channel_difference
      << ")";
}

TEST(RasterizerTest, SameInputSamePixels) {
  const tasks::Mesh mesh = testing::TriangleSoup(3000, 7);
  RenderOptions options;
  options.width = 200;
  options.height = 150;
  absl::StatusOr<image::Image> a = RenderMeshOnCpu(mesh, options);
  absl::StatusOr<image::Image> b = RenderMeshOnCpu(mesh, options);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->rgba, b->rgba);
}

// The GPU's atomicMin visits triangles in any order: the z-buffer must not depend on it
// (host emulation of the CUDA depth pass with shuffled triangle orders).
TEST(RasterizerTest, DepthPassIsIndependentOfTriangleOrder) {
  const tasks::Mesh mesh = testing::TriangleSoup(2000, 11);
  RenderOptions options;
  options.width = 160;
  options.height = 160;
  absl::StatusOr<PreparedMesh> prepared = PrepareMesh(mesh, options.default_color);
  ASSERT_TRUE(prepared.ok());
  absl::StatusOr<View> view = FitViewToMesh(*prepared, options);
  ASSERT_TRUE(view.ok());
  const core::FrameConstants frame = FrameFor(*view, options);
  const auto vertices = VertexPassOnCpu(*prepared, frame);
  std::vector<uint32_t> order(mesh.triangles.size());
  std::iota(order.begin(), order.end(), 0u);
  const auto keys = DepthPassOnCpu(vertices, prepared->indices, order, 160, 160);
  int64_t covered =
      std::count_if(keys.begin(), keys.end(), [](uint64_t k) { return k != core::kEmptyKey; });
  EXPECT_GT(covered, 160 * 160 / 8);  // the test checks something
  std::mt19937 rng(3);
  for (int round = 0; round < 3; ++round) {
    std::shuffle(order.begin(), order.end(), rng);
    EXPECT_EQ(DepthPassOnCpu(vertices, prepared->indices, order, 160, 160), keys);
  }
}

// The top-left rule: triangles sharing edges cover every pixel of their union exactly
// once (no cracks, no double-drawn pixels), also for edges through pixel centres.
TEST(RasterizerTest, SharedEdgesCoverEachPixelOnce) {
  auto vertex = [](int x, int y) {
    core::ScreenVertex v{};
    v.x = x;
    v.y = y;
    v.inv_w = 1;
    v.visible = 1;
    return v;
  };
  const int w = 40, h = 40;
  // A fan around a centre on a pixel centre, corners on pixel centres and off them.
  const core::ScreenVertex centre = vertex(20 * 256 + 128, 20 * 256 + 128);
  const core::ScreenVertex ring[6] = {
      vertex(2 * 256 + 128, 3 * 256),         vertex(30 * 256, 2 * 256 + 128),
      vertex(38 * 256 + 128, 20 * 256 + 128), vertex(33 * 256 + 77, 37 * 256 + 128),
      vertex(6 * 256 + 128, 38 * 256 + 3),    vertex(1 * 256 + 128, 20 * 256)};
  std::vector<int> hits(w * h, 0);
  for (int i = 0; i < 6; ++i) {
    // Alternate winding: back-facing triangles follow the same rule.
    core::TriangleSetup s;
    const bool flip = i % 2 == 1;
    ASSERT_TRUE(core::SetupTriangle(centre, flip ? ring[(i + 1) % 6] : ring[i],
                                    flip ? ring[i] : ring[(i + 1) % 6], w, h, &s));
    EXPECT_EQ(s.back_facing, flip ? 0 : 1);
    core::RasterizeRect(s, i, s.x_begin, s.x_end, s.y_begin, s.y_end,
                        [&](int x, int y, uint64_t) { ++hits[y * w + x]; });
  }
  int covered = 0;
  for (int v : hits) {
    EXPECT_LE(v, 1);
    covered += v > 0;
  }
  // Pixels strictly inside the hexagon around the centre are all covered.
  for (int y = 15; y < 26; ++y) {
    for (int x = 15; x < 26; ++x) EXPECT_EQ(hits[y * w + x], 1) << x << "," << y;
  }
  EXPECT_GT(covered, 700);
}

TEST(RasterizerTest, OrthographicFrontViewFitsTheBoxSilhouette) {
  // A box 2 wide and 1 high seen from the front: a 2:1 rectangle, as wide as the frame
  // minus the margins, centred.
  const tasks::Mesh box = ColoredBox({-1, -0.5f, -3}, {1, 0.5f, 3});
  RenderOptions options = FrontOrthographicView(200, 200);
  absl::StatusOr<image::Image> image = RenderMeshOnCpu(box, options);
  ASSERT_TRUE(image.ok()) << image.status();
  const Box2 b = OpaqueBox(*image);
  EXPECT_EQ(b.x0, 10);
  EXPECT_EQ(b.x1, 189);
  EXPECT_EQ(b.y0, 55);
  EXPECT_EQ(b.y1, 144);
  EXPECT_EQ(b.count, 180 * 90);
  // Front face (+Z) is blue.
  const uint8_t* p = image->pixel(100, 100);
  EXPECT_GT(p[2], p[0] + 50);
  // View::Project agrees with the pixels.
  absl::StatusOr<View> view = FitView(box, options);
  ASSERT_TRUE(view.ok());
  const auto corner = view->Project({-1, 0.5, 3});
  EXPECT_NEAR(corner[0], 10, 1e-6);
  EXPECT_NEAR(corner[1], 55, 1e-6);
}

TEST(RasterizerTest, TurntableSeesTheSidesAndElevationTheTop) {
  const tasks::Mesh box = ColoredBox({-1, -1, -1}, {1, 1, 1});
  RenderOptions base;
  base.width = 96;
  base.height = 96;
  base.elevation_degrees = 0;
  auto centre_colour = [&](const RenderOptions& options) {
    absl::StatusOr<image::Image> image = RenderMeshOnCpu(box, options);
    EXPECT_TRUE(image.ok());
    const uint8_t* p = image->pixel(48, 48);
    return std::array<int, 3>{p[0], p[1], p[2]};
  };
  // Azimuth 0: +Z (blue); 90: +X (red); 180: -Z (yellow); 270: -X (cyan).
  const auto front = centre_colour(TurntableView(0, 4, base));
  EXPECT_GT(front[2], front[0] + 40);
  const auto right = centre_colour(TurntableView(1, 4, base));
  EXPECT_GT(right[0], right[2] + 40);
  const auto back = centre_colour(TurntableView(2, 4, base));
  EXPECT_GT(back[0], back[2] + 40);
  EXPECT_GT(back[1], back[2] + 40);
  const auto left = centre_colour(TurntableView(3, 4, base));
  EXPECT_GT(left[1], left[0] + 40);
  EXPECT_GT(left[2], left[0] + 40);
  RenderOptions top = base;
  top.elevation_degrees = 89;
  const auto up = centre_colour(top);
  EXPECT_GT(up[1], up[0] + 40);  // green
}

TEST(RasterizerTest, NormalsFromFacesLightAMeshWithout) {
  // The sphere has no normals: the computed ones must face out (lit side bright, and the
  // silhouette is round). The light comes from the upper left.
  const tasks::Mesh sphere = testing::UvSphere({0, 0, 0}, 1, 32, 64);
  RenderOptions options;
  options.width = 100;
  options.height = 100;
  options.elevation_degrees = 0;
  absl::StatusOr<image::Image> image = RenderMeshOnCpu(sphere, options);
  ASSERT_TRUE(image.ok());
  const int upper_left = image->pixel(35, 35)[0];
  const int lower_right = image->pixel(65, 65)[0];
  EXPECT_GT(upper_left, lower_right + 60);
  EXPECT_EQ(Alpha(*image, 50, 50), 255);
  EXPECT_EQ(Alpha(*image, 2, 2), 0);
}

TEST(RasterizerTest, BackgroundAndEmptyMesh) {
  RenderOptions options;
  options.width = 16;
  options.height = 8;
  options.background = {10, 20, 30, 255};
  absl::StatusOr<image::Image> image = RenderMeshOnCpu(tasks::Mesh{}, options);
  ASSERT_TRUE(image.ok()) << image.status();
  for (int y = 0; y < 8; ++y) {
    for (int x = 0; x < 16; ++x) {
      const uint8_t* p = image->pixel(x, y);
      ASSERT_EQ(p[0], 10);
      ASSERT_EQ(p[1], 20);
      ASSERT_EQ(p[2], 30);
      ASSERT_EQ(p[3], 255);
    }
  }
}

TEST(RasterizerTest, BadMeshesAndOptionsAreClearErrors) {
  tasks::Mesh mesh = ColoredBox({0, 0, 0}, {1, 1, 1});
  RenderOptions options;
  options.width = 32;
  options.height = 32;

  tasks::Mesh bad_index = mesh;
  bad_index.triangles[3][1] = 999;
  EXPECT_THAT(RenderMeshOnCpu(bad_index, options).status().message(),
              HasSubstr("triangle 3 refers to vertex 999"));
  tasks::Mesh nan = mesh;
  nan.positions[5][2] = std::nanf("");
  EXPECT_THAT(RenderMeshOnCpu(nan, options).status().message(), HasSubstr("vertex 5"));
  tasks::Mesh normals = mesh;
  normals.normals.pop_back();
  EXPECT_THAT(RenderMeshOnCpu(normals, options).status().message(), HasSubstr("normals"));
  tasks::Mesh colors = mesh;
  colors.colors.resize(3);
  EXPECT_THAT(RenderMeshOnCpu(colors, options).status().message(), HasSubstr("colours"));

  RenderOptions too_big = options;
  too_big.width = kMaxRenderSide + 1;
  EXPECT_EQ(RenderMeshOnCpu(mesh, too_big).status().code(), absl::StatusCode::kInvalidArgument);
  RenderOptions steep = options;
  steep.elevation_degrees = 90;
  EXPECT_THAT(RenderMeshOnCpu(mesh, steep).status().message(), HasSubstr("elevation"));
}

TEST(RasterizerTest, RendererInterfaceMatchesTheFunction) {
  const tasks::Mesh mesh = testing::ReferenceScene();
  absl::StatusOr<std::unique_ptr<Renderer>> renderer = Renderer::Create(mesh, {});
  ASSERT_TRUE(renderer.ok());
  EXPECT_EQ((*renderer)->name(), "cpu");
  absl::StatusOr<image::Image> a = (*renderer)->Render(ReferenceOptions());
  absl::StatusOr<image::Image> b = RenderMeshOnCpu(mesh, ReferenceOptions());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->rgba, b->rgba);
  if (!CudaRendererBuilt()) {
    EXPECT_EQ(Renderer::Create(mesh, {.cuda_device = 0}).status().code(),
              absl::StatusCode::kFailedPrecondition);
  }
}

}  // namespace
}  // namespace kiln::render
