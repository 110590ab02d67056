// The photo-like fixture's mesh seen through the project's own rasterizer
// (worker/render): its orthographic front view covers the input's alpha mask. With
// KILN_IMAGE_TO3D_RENDER_DIR set, the front and a three-quarter view are written there
// as PNGs for a person to look at.
#include <cstdlib>
#include <string>

#include "gtest/gtest.h"
#include "worker/image/png.h"
#include "worker/render/rasterizer.h"
#include "worker/tasks/image_to3d/image_inflate.h"
#include "worker/tasks/image_to3d/inflate_test_helpers.h"

namespace kiln::tasks {
namespace {

TEST(ImageTo3dRenderTest, FrontOrthographicViewMatchesTheAlphaMask) {
  absl::StatusOr<image::Image> photo =
      image::ReadPng(std::string(KILN_TEST_DATA_DIR) + "/images/photo_like_object.png");
  ASSERT_TRUE(photo.ok()) << photo.status();
  ImageTo3dParams params;
  params.input = "photo";
  absl::StatusOr<InflatedImage> inflated = InflateImage(*photo, params);
  ASSERT_TRUE(inflated.ok()) << inflated.status();
  const Mesh& mesh = inflated->mesh;

  const render::RenderOptions front = render::FrontOrthographicView(512, 512);
  absl::StatusOr<render::View> view = render::FitView(mesh, front);
  ASSERT_TRUE(view.ok()) << view.status();
  absl::StatusOr<image::Image> frame = render::RenderMeshOnCpu(mesh, front);
  ASSERT_TRUE(frame.ok()) << frame.status();
  // Each input pixel's centre, placed in the scene as image.to3d places it (1 unit wide,
  // centred, y up), then projected into the rendered frame: covered where alpha > 0.
  std::vector<uint8_t> covered(static_cast<size_t>(photo->width) * photo->height, 0);
  for (int y = 0; y < photo->height; ++y) {
    for (int x = 0; x < photo->width; ++x) {
      const double wx = (x + 0.5) / photo->width - 0.5;
      const double wy = (photo->height / 2.0 - (y + 0.5)) / photo->width;
      const std::array<double, 3> p = view->Project({wx, wy, 1.0});
      const int px = static_cast<int>(p[0]), py = static_cast<int>(p[1]);
      if (px < 0 || py < 0 || px >= frame->width || py >= frame->height) continue;
      covered[static_cast<size_t>(y) * photo->width + x] = frame->pixel(px, py)[3] > 0;
    }
  }
  const double iou = testing::IoU(covered, testing::AlphaMask(*photo));
  EXPECT_GT(iou, 0.95);
  RecordProperty("rasterizer_silhouette_iou", std::to_string(iou));

  if (const char* dir = std::getenv("KILN_IMAGE_TO3D_RENDER_DIR"); dir != nullptr && *dir) {
    ASSERT_TRUE(image::WritePng(*frame, std::string(dir) + "/front.png").ok());
    render::RenderOptions angled;
    angled.width = angled.height = 512;
    angled.azimuth_degrees = 40;
    angled.elevation_degrees = 25;
    absl::StatusOr<image::Image> side = render::RenderMeshOnCpu(mesh, angled);
    ASSERT_TRUE(side.ok()) << side.status();
    ASSERT_TRUE(image::WritePng(*side, std::string(dir) + "/angled.png").ok());
    angled.azimuth_degrees = 90;
    angled.elevation_degrees = 0;
    side = render::RenderMeshOnCpu(mesh, angled);
    ASSERT_TRUE(side.ok()) << side.status();
    ASSERT_TRUE(image::WritePng(*side, std::string(dir) + "/side.png").ok());
  }
}

}  // namespace
}  // namespace kiln::tasks
