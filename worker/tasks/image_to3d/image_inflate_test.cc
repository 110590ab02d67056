#include "worker/tasks/image_to3d/image_inflate.h"

#include <cmath>
#include <random>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/tasks/image_to3d/inflate_test_helpers.h"
#include "worker/tasks/mesh_stats.h"

namespace kiln::tasks {
namespace {

using testing::AlphaMask;
using testing::DrawShape;
using testing::FrontSilhouette;
using ::testing::HasSubstr;
using testing::IoU;
using testing::NonManifoldVertices;

// The silhouette must match the drawn mask at least this well (intersection over union).
constexpr double kMinIoU = 0.95;

TEST(SquaredDistanceTransformTest, MatchesBruteForce) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 20; ++trial) {
    const int w = 1 + static_cast<int>(rng() % 23), h = 1 + static_cast<int>(rng() % 17);
    std::vector<uint8_t> seed(static_cast<size_t>(w) * h);
    for (auto& s : seed) s = rng() % 7 == 0;
    seed[rng() % seed.size()] = 1;  // At least one seed.
    const std::vector<double> d = SquaredDistanceTransform(w, h, seed);
    for (int y = 0; y < h; ++y) {
      for (int x = 0; x < w; ++x) {
        double best = 1e18;
        for (int sy = 0; sy < h; ++sy) {
          for (int sx = 0; sx < w; ++sx) {
            if (seed[sy * w + sx])
              best = std::min(best, double((x - sx) * (x - sx) + (y - sy) * (y - sy)));
          }
        }
        ASSERT_EQ(d[y * w + x], best) << "trial " << trial << " at " << x << "," << y;
      }
    }
  }
}

TEST(LocalRadiusTest, DiscAndStripGetTheirOwnRadius) {
  // A disc of radius 30 joined to a strip 6 wide running off to the right.
  const int w = 160, h = 80;
  std::vector<uint8_t> outside(w * h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      const bool disc = std::hypot(x - 40, y - 40) < 30;
      const bool strip = x >= 40 && x < 155 && std::abs(y - 40) < 3;
      outside[y * w + x] = !(disc || strip);
    }
  }
  const std::vector<double> d2 = SquaredDistanceTransform(w, h, outside);
  std::vector<double> distance(d2.size());
  for (size_t i = 0; i < d2.size(); ++i) distance[i] = std::sqrt(d2[i]);
  const std::vector<double> radius = LocalRadius(w, h, distance);
  // Near the disc's rim, the disc's radius; far along the strip, the strip's half width.
  EXPECT_NEAR(radius[40 * w + 15], 30, 1.5);
  EXPECT_NEAR(radius[40 * w + 40], 30, 1.5);
  EXPECT_NEAR(radius[40 * w + 140], 3, 0.5);
  EXPECT_NEAR(radius[41 * w + 140], distance[41 * w + 140] + 1, 1.0);
  // Just past the disc it fades, without a step between neighbours.
  for (int x = 60; x < 150; ++x) {
    EXPECT_LE(std::abs(radius[40 * w + x + 1] - radius[40 * w + x]), 3.5) << x;
  }
  EXPECT_EQ(radius[5 * w + 5], 0);  // Outside.
}

TEST(FillDiagonalContactsTest, LeavesNoDiagonalOnlyContact) {
  // A checkerboard is all diagonal contacts.
  const int w = 9, h = 7;
  std::vector<uint8_t> mask(w * h);
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) mask[y * w + x] = (x + y) % 2;
  }
  const std::vector<uint8_t> before = mask;
  EXPECT_GT(FillDiagonalContacts(w, h, mask), 0);
  for (size_t i = 0; i < mask.size(); ++i) {
    if (before[i]) {
      EXPECT_TRUE(mask[i]) << "a foreground pixel was cleared";
    }
  }
  for (int y = 0; y + 1 < h; ++y) {
    for (int x = 0; x + 1 < w; ++x) {
      const bool tl = mask[y * w + x], tr = mask[y * w + x + 1], bl = mask[(y + 1) * w + x],
                 br = mask[(y + 1) * w + x + 1];
      EXPECT_FALSE((tl && br && !tr && !bl) || (tr && bl && !tl && !br)) << x << "," << y;
    }
  }
  std::vector<uint8_t> solid(w * h, 1);
  EXPECT_EQ(FillDiagonalContacts(w, h, solid), 0);
}

struct ShapeCase {
  const char* name;
  std::function<bool(double, double)> inside;
  int components;           // Pieces to keep.
  int64_t euler_per_piece;  // 2 for a sphere-like piece, 0 for one with a hole.
  // Silhouette against the drawn mask. A one-pixel diagonal line loses to the filled
  // diagonal contacts (each step gains a pixel), hence its lower bound.
  double min_iou = kMinIoU;
};

class InflateShapeTest : public ::testing::TestWithParam<ShapeCase> {};

TEST_P(InflateShapeTest, ClosedManifoldOutwardAndSilhouetteMatches) {
  const ShapeCase& shape = GetParam();
  const int w = 96, h = 80;
  const image::Image image = DrawShape(w, h, shape.inside);
  ImageTo3dParams params;
  params.input = "in";
  params.components = shape.components;
  params.size = 2.0;
  params.smoothing = 5;  // Beyond the outline's cap of 3, to check it holds.
  absl::StatusOr<InflatedImage> inflated = InflateImage(image, params);
  ASSERT_TRUE(inflated.ok()) << inflated.status();
  EXPECT_EQ(inflated->mask_width, w);
  EXPECT_EQ(inflated->mask_height, h);
  EXPECT_EQ(inflated->components_kept, shape.components);
  const Mesh& mesh = inflated->mesh;
  const MeshStats stats = ComputeMeshStats(mesh);
  EXPECT_TRUE(stats.watertight);
  EXPECT_EQ(stats.components, shape.components);
  EXPECT_EQ(stats.euler_characteristic, shape.euler_per_piece * shape.components);
  EXPECT_EQ(NonManifoldVertices(mesh), 0);
  EXPECT_GT(stats.signed_volume, 0) << "faces must wind counter-clockwise seen from outside";
  // No folds: seen from the front, every front triangle (above z = 0) winds
  // counter-clockwise and every back one clockwise, so the smoothed outline crossed no
  // interior vertex.
  int64_t folded = 0;
  for (const auto& t : mesh.triangles) {
    const auto& a = mesh.positions[t[0]];
    const auto& b = mesh.positions[t[1]];
    const auto& c = mesh.positions[t[2]];
    const double area = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0]);
    const double z = a[2] + b[2] + c[2];
    folded += z > 0 ? area <= 0 : area >= 0;
  }
  EXPECT_EQ(folded, 0);
  EXPECT_EQ(mesh.colors.size(), mesh.positions.size());
  EXPECT_EQ(mesh.normals.size(), mesh.positions.size());
  // Mirrored: as deep behind as in front.
  EXPECT_NEAR(stats.bbox_max[2], -stats.bbox_min[2], 1e-6);
  EXPECT_GT(stats.bbox_max[2], 0.001);
  // The image is 2 units wide, centred.
  EXPECT_GE(stats.bbox_min[0], -1.0 - 1e-6);
  EXPECT_LE(stats.bbox_max[0], 1.0 + 1e-6);

  const std::vector<uint8_t> silhouette = FrontSilhouette(mesh, w, h, params.size);
  const double iou = IoU(silhouette, AlphaMask(image));
  EXPECT_GT(iou, shape.min_iou) << shape.name;
  // At the working resolution the silhouette is the kept mask exactly.
  EXPECT_EQ(IoU(silhouette, inflated->mask), 1.0);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, InflateShapeTest,
    ::testing::Values(
        ShapeCase{"disc", [](double x, double y) { return std::hypot(x - 48, y - 40) < 30; }, 1, 2},
        ShapeCase{"rectangle",
                  [](double x, double y) { return x > 10 && x < 80 && y > 20 && y < 60; }, 1, 2},
        ShapeCase{"l_shape",
                  [](double x, double y) {
                    return (x > 10 && x < 30 && y > 5 && y < 75) ||
                           (x > 10 && x < 85 && y > 55 && y < 75);
                  },
                  1, 2},
        ShapeCase{"two_blobs",
                  [](double x, double y) {
                    return std::hypot(x - 25, y - 40) < 18 ||
                           std::hypot((x - 70) / 1.5, y - 35) < 14;
                  },
                  2, 2},
        ShapeCase{"ring_keeps_its_hole",
                  [](double x, double y) {
                    const double r = std::hypot(x - 48, y - 40);
                    return r < 35 && r > 15;
                  },
                  1, 0},
        ShapeCase{
            "thin_diagonal_line",
            [](double x, double y) { return std::abs((x - 8) - (y - 4) * 1.1) < 0.8 && y < 70; }, 1,
            2, 0.7}),
    [](const ::testing::TestParamInfo<ShapeCase>& info) { return std::string(info.param.name); });

TEST(InflateImageTest, DiscAtDepthOneIsNearlyASphere) {
  const double radius = 40;
  const image::Image image =
      DrawShape(100, 100, [&](double x, double y) { return std::hypot(x - 50, y - 50) < radius; });
  ImageTo3dParams params;
  params.depth = 1;
  params.smoothing = 0;
  params.size = 100;  // One unit per pixel.
  absl::StatusOr<InflatedImage> inflated = InflateImage(image, params);
  ASSERT_TRUE(inflated.ok()) << inflated.status();
  const MeshStats stats = ComputeMeshStats(inflated->mesh);
  EXPECT_NEAR(stats.bbox_max[2], radius, 0.05 * radius);
  const double sphere = 4.0 / 3.0 * M_PI * radius * radius * radius;
  EXPECT_NEAR(stats.signed_volume, sphere, 0.1 * sphere);
}

TEST(InflateImageTest, KeepsOnlyTheLargestPieceByDefault) {
  const image::Image image = DrawShape(64, 64, [](double x, double y) {
    return std::hypot(x - 20, y - 20) < 15 || std::hypot(x - 50, y - 50) < 6;
  });
  ImageTo3dParams params;
  absl::StatusOr<InflatedImage> inflated = InflateImage(image, params);
  ASSERT_TRUE(inflated.ok()) << inflated.status();
  EXPECT_EQ(inflated->components_found, 2);
  EXPECT_EQ(inflated->components_kept, 1);
  EXPECT_EQ(ComputeMeshStats(inflated->mesh).components, 1);
  // The disc at x 5..35 of 64 (scene x -0.42..0.05), not the one at 44..56.
  EXPECT_LT(ComputeMeshStats(inflated->mesh).bbox_max[0], 0.1);
}

TEST(InflateImageTest, ColorsComeFromTheImage) {
  // Red on the left half, blue on the right.
  const image::Image image = DrawShape(
      80, 60, [](double x, double y) { return x > 5 && x < 75 && y > 5 && y < 55; },
      [](double x, double) {
        return x < 40 ? std::array<uint8_t, 3>{230, 20, 20} : std::array<uint8_t, 3>{20, 20, 230};
      });
  absl::StatusOr<InflatedImage> inflated = InflateImage(image, ImageTo3dParams{});
  ASSERT_TRUE(inflated.ok()) << inflated.status();
  const Mesh& mesh = inflated->mesh;
  int left_red = 0, left = 0, right_blue = 0, right = 0;
  const double edge = 0.5 * 4 / 80.0;  // Two pixels either side of the colour edge.
  for (size_t i = 0; i < mesh.positions.size(); ++i) {
    const auto& c = mesh.colors[i];
    if (mesh.positions[i][0] < -edge) {
      ++left;
      left_red += c[0] > 200 && c[2] < 50;
    } else if (mesh.positions[i][0] > edge) {
      ++right;
      right_blue += c[2] > 200 && c[0] < 50;
    }
  }
  ASSERT_GT(left, 100);
  ASSERT_GT(right, 100);
  EXPECT_EQ(left_red, left);
  EXPECT_EQ(right_blue, right);
}

TEST(InflateImageTest, KeysOutAPlainBackgroundByDefault) {
  // Opaque: green backdrop, grey square; the border median is the backdrop.
  image::Image image = image::Image::Blank(50, 40);
  for (int y = 0; y < 40; ++y) {
    for (int x = 0; x < 50; ++x) {
      uint8_t* p = image.pixel(x, y);
      const bool square = x >= 10 && x < 30 && y >= 10 && y < 30;
      p[0] = square ? 128 : 10;
      p[1] = square ? 128 : 220;
      p[2] = square ? 128 : 10;
      p[3] = 255;
    }
  }
  absl::StatusOr<InflatedImage> inflated = InflateImage(image, ImageTo3dParams{});
  ASSERT_TRUE(inflated.ok()) << inflated.status();
  EXPECT_EQ(inflated->mask_mode, ImageMaskMode::kKey);
  EXPECT_EQ(inflated->background, (std::array<uint8_t, 3>{10, 220, 10}));
  EXPECT_EQ(inflated->mask_pixels, 400);
  for (const auto& c : inflated->mesh.colors) {
    EXPECT_EQ(c, (std::array<uint8_t, 4>{128, 128, 128, 255})) << "backdrop colour bled in";
  }
  // The same image with the backdrop as the explicit key and everything keyed out.
  ImageTo3dParams all_key;
  all_key.mask = ImageMaskMode::kKey;
  all_key.background = std::array<uint8_t, 3>{10, 220, 10};
  all_key.tolerance = 1;
  absl::StatusOr<InflatedImage> none = InflateImage(image, all_key);
  EXPECT_EQ(none.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(none.status().message(), HasSubstr("image has no foreground after keying"));
  // A key colour nowhere in the image: everything is foreground.
  ImageTo3dParams no_match;
  no_match.background = std::array<uint8_t, 3>{255, 0, 255};
  no_match.tolerance = 0.05;
  absl::StatusOr<InflatedImage> all = InflateImage(image, no_match);
  EXPECT_EQ(all.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(all.status().message(), HasSubstr("all foreground after keying"));
  // Alpha on an opaque image.
  ImageTo3dParams alpha;
  alpha.mask = ImageMaskMode::kAlpha;
  EXPECT_THAT(InflateImage(image, alpha).status().message(), HasSubstr("fully opaque"));
}

TEST(InflateImageTest, TransparentImageHasNoForeground) {
  const image::Image image = image::Image::Blank(20, 20);
  absl::StatusOr<InflatedImage> inflated = InflateImage(image, ImageTo3dParams{});
  EXPECT_EQ(inflated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(inflated.status().message(), HasSubstr("image has no foreground"));
}

TEST(InflateImageTest, RejectsMalformedAndHugeImages) {
  image::Image bad = image::Image::Blank(10, 10);
  bad.rgba.resize(17);
  EXPECT_THAT(InflateImage(bad, ImageTo3dParams{}).status().message(), HasSubstr("malformed"));
  image::Image huge;
  huge.width = kMaxImageTo3dSide + 1;
  huge.height = 1;
  huge.rgba.assign(static_cast<size_t>(huge.width) * 4, 255);
  EXPECT_THAT(InflateImage(huge, ImageTo3dParams{}).status().message(), HasSubstr("too large"));
}

TEST(InflateImageTest, DownsamplesToTheResolutionCap) {
  const image::Image image = DrawShape(
      600, 300, [](double x, double y) { return std::hypot((x - 300) / 2, y - 150) < 120; });
  ImageTo3dParams params;
  params.resolution = 60;
  absl::StatusOr<InflatedImage> inflated = InflateImage(image, params);
  ASSERT_TRUE(inflated.ok()) << inflated.status();
  EXPECT_EQ(inflated->mask_width, 60);
  EXPECT_EQ(inflated->mask_height, 30);
  const MeshStats stats = ComputeMeshStats(inflated->mesh);
  EXPECT_TRUE(stats.watertight);
  EXPECT_LE(stats.faces, 16 * 60 * 30);
  // Measured against the full-resolution mask.
  EXPECT_GT(IoU(FrontSilhouette(inflated->mesh, 600, 300, 1.0), AlphaMask(image)), kMinIoU);
}

}  // namespace
}  // namespace kiln::tasks
