// The "preview" option (parser, AddPreviewOutputs through mesh.extract) and the
// render.preview task, on the CPU, with real files.
#include "worker/render/preview_output.h"

#include <gif_lib.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "common/render_preview_params.h"
#include "common/task_catalog.h"
#include "common/testing/json_struct.h"
#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "worker/image/png.h"
#include "worker/render/render_preview_task.h"
#include "worker/render/testing/test_meshes.h"
#include "worker/tasks/mesh_extract_task.h"
#include "worker/tasks/meshio/mesh_io.h"

namespace kiln::render {
namespace {

using ::testing::HasSubstr;

using ::kiln::testing::JsonStruct;

google::protobuf::Value JsonValue(const std::string& json) {
  return JsonStruct("{\"v\": " + json + "}").fields().at("v");
}

int GifFrames(const std::string& path, int* width, int* height) {
  int error = 0;
  GifFileType* gif = DGifOpenFileName(path.c_str(), &error);
  if (gif == nullptr) return -1;
  int frames = DGifSlurp(gif) == GIF_OK ? gif->ImageCount : -1;
  *width = gif->SWidth;
  *height = gif->SHeight;
  DGifCloseFile(gif, &error);
  return frames;
}

std::map<std::string, std::string> Outputs(const tasks::TaskOutput& output) {
  std::map<std::string, std::string> files;
  for (const auto& f : output.outputs) files[f.name()] = f.path();
  return files;
}

TEST(PreviewParamsTest, ParsesTrueFalseAndObjects) {
  auto on = ParsePreviewParams(JsonValue("true"), "preview");
  ASSERT_TRUE(on.ok() && on->has_value());
  EXPECT_EQ((*on)->frames, kDefaultPreviewFrames);
  EXPECT_EQ((*on)->size[0], 512);
  auto off = ParsePreviewParams(JsonValue("false"), "preview");
  ASSERT_TRUE(off.ok());
  EXPECT_FALSE(off->has_value());
  auto custom =
      ParsePreviewParams(JsonValue(R"({"frames": 6, "size": [64, 32], "background": [1, 2, 3, 255],
                    "elevation": -10})"),
                         "preview");
  ASSERT_TRUE(custom.ok()) << custom.status();
  EXPECT_EQ((*custom)->frames, 6);
  EXPECT_EQ((*custom)->size[1], 32);
  EXPECT_EQ((*custom)->background[2], 3);
  EXPECT_EQ((*custom)->elevation_degrees, -10);
}

TEST(PreviewParamsTest, ErrorsNameTheField) {
  EXPECT_THAT(ParsePreviewParams(JsonValue(R"({"frames": 0})"), "preview").status().message(),
              HasSubstr("parameters.preview.frames"));
  EXPECT_THAT(ParsePreviewParams(JsonValue(R"({"size": [8, 64]})"), "preview").status().message(),
              HasSubstr("parameters.preview.size"));
  EXPECT_THAT(ParsePreviewParams(JsonValue(R"({"size": 64})"), "preview").status().message(),
              HasSubstr("[width, height]"));
  EXPECT_THAT(ParsePreviewParams(JsonValue(R"({"fps": 3})"), "preview").status().message(),
              HasSubstr("parameters.preview.fps: unknown field"));
  EXPECT_THAT(ParsePreviewParams(JsonValue(R"("yes")"), "preview").status().message(),
              HasSubstr("parameters.preview"));
  EXPECT_THAT(ParsePreviewParams(JsonValue(R"({"background": [0, 0, 300, 0]})"), "preview")
                  .status()
                  .message(),
              HasSubstr("parameters.preview.background"));

  // The catalog knows render.preview and mesh.extract's preview.
  const TaskLimits limits;
  EXPECT_TRUE(
      ValidateTaskParameters("render.preview", JsonStruct(R"({"input": "a.ply"})"), limits).ok());
  EXPECT_THAT(
      ValidateTaskParameters("render.preview", JsonStruct(R"({"frames": 3})"), limits).message(),
      HasSubstr("parameters.input: required"));
  EXPECT_THAT(ValidateTaskParameters("render.preview",
                                     JsonStruct(R"({"input": "a.ply", "frames": 361})"), limits)
                  .message(),
              HasSubstr("parameters.frames"));
  EXPECT_THAT(ValidateTaskParameters(
                  "render.preview", JsonStruct(R"({"input": "a", "input_format": "step"})"), limits)
                  .message(),
              HasSubstr("parameters.input_format"));
  EXPECT_THAT(ValidateTaskParameters("mesh.extract",
                                     JsonStruct(R"({"shape": {"type": "sphere", "radius": 1},
                                              "preview": {"frames": 1000}})"),
                                     limits)
                  .message(),
              HasSubstr("parameters.preview.frames"));
}

class RenderPreviewTaskTest : public ::testing::Test {
 protected:
  absl::StatusOr<tasks::TaskOutput> Run(const std::string& parameters,
                                        const std::map<std::string, std::string>& inputs) {
    request_ = {};
    for (const auto& [name, path] : inputs) {
      kiln::v1::LocalFile* file = request_.add_inputs();
      file->set_name(name);
      file->set_path(path);
    }
    request_.set_task("render.preview");
    out_dir_ = dir_.Sub("out");
    std::filesystem::remove_all(out_dir_);
    std::filesystem::create_directories(out_dir_);
    request_.set_output_dir(out_dir_);
    EXPECT_TRUE(
        google::protobuf::util::JsonStringToMessage(parameters, request_.mutable_parameters())
            .ok());
    tasks::TaskContext context;
    context.request = &request_;
    context.report_progress = [this](double fraction, std::string_view) {
      EXPECT_GE(fraction, last_progress_);
      last_progress_ = fraction;
    };
    return RenderPreviewTask().Run(context);
  }

  kiln::testing::ScopedTempDir dir_;
  kiln::v1::RunTaskRequest request_;
  std::string out_dir_;
  double last_progress_ = 0;
};

TEST_F(RenderPreviewTaskTest, WritesFramesPreviewAndGif) {
  // Stored under a name without extension, as the worker stages blobs.
  const std::string mesh_path = dir_.Sub("blob-1234");
  ASSERT_TRUE(tasks::WriteMesh(testing::ReferenceScene(), dir_.Sub("scene.ply")).ok());
  std::filesystem::rename(dir_.Sub("scene.ply"), mesh_path);
  absl::StatusOr<tasks::TaskOutput> output =
      Run(R"({"input": "scene.ply", "frames": 4, "size": [96, 64]})", {{"scene.ply", mesh_path}});
  ASSERT_TRUE(output.ok()) << output.status();
  const auto files = Outputs(*output);
  for (const char* name : {"frame_000.png", "frame_001.png", "frame_002.png", "frame_003.png",
                           "preview.png", "preview.gif"}) {
    ASSERT_EQ(files.count(name), 1u) << name;
    EXPECT_TRUE(std::filesystem::exists(files.at(name))) << name;
  }
  EXPECT_EQ(files.size(), 6u);
  absl::StatusOr<image::Image> frame0 = image::ReadPng(files.at("frame_000.png"));
  absl::StatusOr<image::Image> frame1 = image::ReadPng(files.at("frame_001.png"));
  absl::StatusOr<image::Image> preview = image::ReadPng(files.at("preview.png"));
  ASSERT_TRUE(frame0.ok() && frame1.ok() && preview.ok());
  EXPECT_EQ(frame0->width, 96);
  EXPECT_EQ(frame0->height, 64);
  EXPECT_EQ(preview->rgba, frame0->rgba);
  EXPECT_NE(frame1->rgba, frame0->rgba);  // the turntable turned
  int width = 0, height = 0;
  EXPECT_EQ(GifFrames(files.at("preview.gif"), &width, &height), 4);
  EXPECT_EQ(width, 96);
  EXPECT_EQ(height, 64);
  const auto& summary = output->summary.fields();
  EXPECT_EQ(summary.at("renderer").string_value(), "cpu");
  EXPECT_EQ(summary.at("frames").number_value(), 4);
  EXPECT_EQ(summary.at("triangles").number_value(), testing::ReferenceScene().triangles.size());
  EXPECT_DOUBLE_EQ(last_progress_, 1.0);
}

TEST_F(RenderPreviewTaskTest, BadInputsAreClearErrors) {
  absl::StatusOr<tasks::TaskOutput> missing = Run(R"({"input": "x.ply"})", {});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("parameters.input"));

  const std::string junk = dir_.Sub("junk");
  std::ofstream(junk) << "not a mesh at all";
  absl::StatusOr<tasks::TaskOutput> bad = Run(R"({"input": "m.ply"})", {{"m.ply", junk}});
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(bad.status().message(), HasSubstr("input m.ply"));

  absl::StatusOr<tasks::TaskOutput> no_format = Run(R"({"input": "mesh"})", {{"mesh", junk}});
  EXPECT_THAT(no_format.status().message(), HasSubstr("parameters.input_format"));
}

TEST(MeshExtractPreviewTest, MeshExtractAddsPreviewOutputs) {
  kiln::testing::ScopedTempDir dir;
  kiln::v1::RunTaskRequest request;
  request.set_task("mesh.extract");
  request.set_output_dir(dir.path());
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(
                  R"({"shape": {"type": "sphere", "radius": 1}, "resolution": 16,
                      "preview": {"frames": 3, "size": [48, 40]}})",
                  request.mutable_parameters())
                  .ok());
  tasks::TaskContext context;
  context.request = &request;
  absl::StatusOr<tasks::TaskOutput> output = tasks::MeshExtractTask().Run(context);
  ASSERT_TRUE(output.ok()) << output.status();
  const auto files = Outputs(*output);
  ASSERT_EQ(files.count("mesh.ply"), 1u);
  ASSERT_EQ(files.count("preview.png"), 1u);
  ASSERT_EQ(files.count("preview.gif"), 1u);
  absl::StatusOr<image::Image> preview = image::ReadPng(files.at("preview.png"));
  ASSERT_TRUE(preview.ok());
  EXPECT_EQ(preview->width, 48);
  EXPECT_EQ(preview->height, 40);
  EXPECT_EQ(preview->pixel(24, 20)[3], 255);  // the sphere is in the middle
  EXPECT_EQ(preview->pixel(0, 0)[3], 0);
  int width = 0, height = 0;
  EXPECT_EQ(GifFrames(files.at("preview.gif"), &width, &height), 3);
  const auto& preview_summary = output->summary.fields().at("preview").struct_value().fields();
  EXPECT_EQ(preview_summary.at("renderer").string_value(), "cpu");
  EXPECT_EQ(preview_summary.at("frames").number_value(), 3);

  // Without "preview": no preview files.
  request.mutable_parameters()->mutable_fields()->erase("preview");
  std::filesystem::remove_all(dir.Sub("preview.png"));
  output = tasks::MeshExtractTask().Run(context);
  ASSERT_TRUE(output.ok());
  EXPECT_EQ(Outputs(*output).count("preview.png"), 0u);
}

TEST(AddPreviewOutputsTest, OneFrameIsJustAPng) {
  kiln::testing::ScopedTempDir dir;
  tasks::TaskOutput output;
  PreviewParams params;
  params.frames = 1;
  params.size = {32, 32};
  ASSERT_TRUE(AddPreviewOutputs(params, testing::ColoredBox({0, 0, 0}, {1, 1, 1}), dir.path(),
                                /*cuda_device=*/-1, &output)
                  .ok());
  const auto files = Outputs(output);
  EXPECT_EQ(files.size(), 1u);
  EXPECT_EQ(files.count("preview.png"), 1u);
  // A bad mesh is an error that says it came from the preview.
  tasks::Mesh bad = testing::ColoredBox({0, 0, 0}, {1, 1, 1});
  bad.triangles[0][0] = 1000;
  absl::Status status = AddPreviewOutputs(params, bad, dir.path(), -1, &output);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("preview: "));
}

}  // namespace
}  // namespace kiln::render
