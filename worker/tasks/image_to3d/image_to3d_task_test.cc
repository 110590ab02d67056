#include "worker/tasks/image_to3d/image_to3d_task.h"

#include <zlib.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/image/png.h"
#include "worker/tasks/image_to3d/inflate_test_helpers.h"
#include "worker/tasks/mesh_stats.h"
#include "worker/tasks/meshio/glb.h"
#include "worker/tasks/testing/task_fixture.h"

namespace kiln::tasks {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

const std::string kPhoto = std::string(KILN_TEST_DATA_DIR) + "/images/photo_like_object.png";

class ImageTo3dTaskTest : public testing::TaskFixture<ImageTo3dTask> {
 protected:
  double Number(const TaskOutput& output, const std::string& key) {
    return output.summary.fields().at(key).number_value();
  }
};

// The committed photo-like fixture (tests/data/images/make_photo_like_object.py): soft
// alpha edge, a shadow under 50% alpha, dust specks, noisy colours.
TEST_F(ImageTo3dTaskTest, PhotoLikeImageBecomesAClosedMeshMatchingItsSilhouette) {
  AddInputFile("photo.png", kPhoto);
  absl::StatusOr<TaskOutput> output = Run(R"({"input": "photo.png", "output": "apple.glb"})");
  ASSERT_TRUE(output.ok()) << output.status();
  ASSERT_EQ(output->outputs.size(), 1u);
  EXPECT_EQ(output->outputs[0].name(), "apple.glb");
  const auto& summary = output->summary.fields();
  EXPECT_TRUE(summary.at("watertight").bool_value());
  EXPECT_EQ(Number(*output, "components"), 1);
  EXPECT_EQ(Number(*output, "components_found"), 4);  // The object and three specks.
  EXPECT_EQ(summary.at("mask").string_value(), "alpha");
  EXPECT_EQ(summary.at("mask_size").list_value().values(0).number_value(), 128);

  // Read back from the GLB: still closed, coloured, and its front silhouette matches
  // the full-resolution alpha mask.
  absl::StatusOr<Mesh> mesh = ReadGlb(output->outputs[0].path());
  ASSERT_TRUE(mesh.ok()) << mesh.status();
  EXPECT_EQ(static_cast<double>(mesh->triangles.size()), Number(*output, "faces"));
  const MeshStats stats = ComputeMeshStats(*mesh);
  EXPECT_TRUE(stats.watertight);
  EXPECT_EQ(stats.components, 1);
  EXPECT_GT(stats.signed_volume, 0);
  EXPECT_EQ(testing::NonManifoldVertices(*mesh), 0);
  ASSERT_EQ(mesh->colors.size(), mesh->positions.size());
  // Mostly red, as the apple is.
  int64_t red = 0;
  for (const auto& c : mesh->colors) red += c[0] > c[1] + 40 && c[0] > c[2] + 40;
  EXPECT_GT(red, static_cast<int64_t>(mesh->colors.size()) * 6 / 10);

  absl::StatusOr<image::Image> photo = image::ReadPng(kPhoto);
  ASSERT_TRUE(photo.ok()) << photo.status();
  const std::vector<uint8_t> silhouette =
      testing::FrontSilhouette(*mesh, photo->width, photo->height, 1.0);
  const double iou = testing::IoU(silhouette, testing::AlphaMask(*photo));
  EXPECT_GT(iou, 0.95);
  RecordProperty("silhouette_iou", std::to_string(iou));
}

TEST_F(ImageTo3dTaskTest, KeyedImageThroughTheTask) {
  // Opaque blue backdrop with two white discs; keep both.
  image::Image image = image::Image::Blank(120, 80);
  for (int y = 0; y < 80; ++y) {
    for (int x = 0; x < 120; ++x) {
      const bool disc = std::hypot(x - 30, y - 40) < 20 || std::hypot(x - 85, y - 40) < 25;
      uint8_t* p = image.pixel(x, y);
      p[0] = disc ? 250 : 20, p[1] = disc ? 250 : 40, p[2] = disc ? 250 : 200, p[3] = 255;
    }
  }
  const std::string path = dir_.Sub("discs.png");
  ASSERT_TRUE(image::WritePng(image, path).ok());
  AddInputFile("discs", path);
  absl::StatusOr<TaskOutput> output =
      Run(R"({"input": "discs", "components": 2, "depth": 0.5, "size": 3,
              "preview": {"frames": 2, "size": [64, 48]}})");
  ASSERT_TRUE(output.ok()) << output.status();
  std::vector<std::string> names;
  for (const auto& file : output->outputs) {
    names.push_back(file.name());
    EXPECT_GT(std::filesystem::file_size(file.path()), 0u) << file.name();
  }
  EXPECT_THAT(names, ::testing::ElementsAre("mesh.glb", "preview.png", "preview.gif"));
  EXPECT_EQ(output->summary.fields().at("mask").string_value(), "key");
  EXPECT_EQ(Number(*output, "components"), 2);
  EXPECT_TRUE(output->summary.fields().at("watertight").bool_value());
  const auto& bbox_min = output->summary.fields().at("bbox_min").list_value();
  EXPECT_NEAR(bbox_min.values(0).number_value(), -1.5 + 10 * 3.0 / 120, 0.03);
}

TEST_F(ImageTo3dTaskTest, BadInputsGiveClearErrors) {
  absl::StatusOr<TaskOutput> missing = Run(R"({"input": "photo.png"})");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(),
              HasSubstr("parameters.input: the job has no input named \"photo.png\""));

  const std::string not_png = dir_.Sub("not.png");
  { std::ofstream(not_png) << "GIF89a definitely not a PNG"; }
  AddInputFile("not.png", not_png);
  absl::StatusOr<TaskOutput> bad = Run(R"({"input": "not.png"})");
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(bad.status().message()), StartsWith("input \"not.png\": "));
  // Named by the input, not by where the worker staged it.
  EXPECT_THAT(std::string(bad.status().message()), ::testing::Not(HasSubstr(not_png)));
  std::cout << "not a PNG: " << bad.status().message() << "\n";

  // A PNG truncated half way.
  std::ifstream in(kPhoto, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  const std::string cut = dir_.Sub("cut.png");
  { std::ofstream(cut, std::ios::binary) << bytes.substr(0, bytes.size() / 2); }
  AddInputFile("cut.png", cut);
  absl::StatusOr<TaskOutput> truncated = Run(R"({"input": "cut.png"})");
  EXPECT_EQ(truncated.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(truncated.status().message()), StartsWith("input \"cut.png\": "));

  const std::string empty = dir_.Sub("empty.png");
  ASSERT_TRUE(image::WritePng(image::Image::Blank(16, 16), empty).ok());
  AddInputFile("empty.png", empty);
  absl::StatusOr<TaskOutput> nothing = Run(R"({"input": "empty.png"})");
  EXPECT_EQ(nothing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(nothing.status().message(), HasSubstr("image has no foreground"));

  // A PNG declaring 20000 x 20000 pixels (with an empty IDAT): refused by its header,
  // before anything that size is allocated.
  const std::string huge = dir_.Sub("huge.png");
  {
    auto be32 = [](std::string& out, uint32_t v) {
      for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
    };
    auto chunk = [&](std::string& out, const std::string& type_and_data) {
      be32(out, static_cast<uint32_t>(type_and_data.size() - 4));
      out += type_and_data;
      be32(out,
           static_cast<uint32_t>(::crc32(0, reinterpret_cast<const Bytef*>(type_and_data.data()),
                                         static_cast<uInt>(type_and_data.size()))));
    };
    std::string ihdr = "IHDR";
    be32(ihdr, 20000);
    be32(ihdr, 20000);
    ihdr += std::string("\x08\x06\x00\x00\x00", 5);
    std::string png = "\x89PNG\r\n\x1a\n";
    chunk(png, ihdr);
    chunk(png, "IDAT");
    chunk(png, "IEND");
    std::ofstream(huge, std::ios::binary) << png;
  }
  AddInputFile("huge.png", huge);
  absl::StatusOr<TaskOutput> too_large = Run(R"({"input": "huge.png"})");
  EXPECT_EQ(too_large.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(too_large.status().message()), StartsWith("input \"huge.png\": "));
  EXPECT_THAT(std::string(too_large.status().message()), HasSubstr("20000"));
  std::cout << "huge: " << too_large.status().message() << "\n";

  absl::StatusOr<TaskOutput> bad_param = Run(R"({"input": "empty.png", "depth": 0})");
  EXPECT_THAT(std::string(bad_param.status().message()), StartsWith("parameters.depth: "));
  EXPECT_FALSE(std::filesystem::exists(dir_.Sub("out/mesh.glb")));
}

}  // namespace
}  // namespace kiln::tasks
