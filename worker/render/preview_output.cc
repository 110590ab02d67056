#include "worker/render/preview_output.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <memory>
#include <new>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "worker/image/gif.h"
#include "worker/image/png.h"
#include "worker/render/renderer.h"

namespace kiln::render {
namespace {

void AddOutput(const std::string& name, const std::string& path, tasks::TaskOutput* output) {
  kiln::v1::LocalFile& file = output->outputs.emplace_back();
  file.set_name(name);
  file.set_path(path);
}

// About four seconds a turn, within what viewers honour (2..100 hundredths).
int GifDelay(int frames) {
  return std::clamp(static_cast<int>(std::lround(400.0 / std::max(frames, 1))), 2, 100);
}

}  // namespace

absl::StatusOr<TurntableResult> RenderTurntable(
    const PreviewParams& params, const tasks::Mesh& mesh, const std::string& output_dir,
    int cuda_device, bool write_frames, bool write_gif, tasks::TaskOutput* output,
    const std::function<void(int done, int total)>& progress) {
  const auto start = std::chrono::steady_clock::now();
  TurntableResult result;
  std::unique_ptr<Renderer> renderer;
  if (cuda_device >= 0) {
    absl::StatusOr<std::unique_ptr<Renderer>> cuda =
        Renderer::Create(mesh, {.cuda_device = cuda_device});
    if (cuda.ok()) {
      renderer = *std::move(cuda);
    } else if (cuda.status().code() == absl::StatusCode::kInvalidArgument) {
      return cuda.status();  // the mesh itself is bad; the CPU would say the same
    } else {
      // A GPU that cannot render (no kernel image, out of memory) still gets a preview.
      result.gpu_fallback_reason = std::string(cuda.status().message());
      KILN_LOG(WARNING) << "preview: rendering on the CPU: " << cuda.status();
    }
  }
  if (renderer == nullptr) {
    KILN_ASSIGN_OR_RETURN(renderer, Renderer::Create(mesh, {}));
  }
  result.renderer = std::string(renderer->name());

  RenderOptions base;
  base.width = params.size[0];
  base.height = params.size[1];
  base.elevation_degrees = params.elevation_degrees;
  base.background = params.background;

  std::unique_ptr<image::AnimatedGifWriter> gif;
  const std::string gif_path = output_dir + "/preview.gif";
  for (int i = 0; i < params.frames; ++i) {
    KILN_ASSIGN_OR_RETURN(image::Image frame,
                          renderer->Render(TurntableView(i, params.frames, base)));
    if (write_frames) {
      char name[32];
      std::snprintf(name, sizeof(name), "frame_%03d.png", i);
      const std::string path = output_dir + "/" + name;
      KILN_RETURN_IF_ERROR(image::WritePng(frame, path));
      AddOutput(name, path, output);
    }
    if (i == 0) {
      const std::string path = output_dir + "/preview.png";
      KILN_RETURN_IF_ERROR(image::WritePng(frame, path));
      AddOutput("preview.png", path, output);
    }
    if (write_gif) {
      const image::Image small = image::ShrinkToFit(frame, kMaxGifSide);
      if (gif == nullptr) {
        KILN_ASSIGN_OR_RETURN(gif,
                              image::AnimatedGifWriter::Create(gif_path, small.width, small.height,
                                                               GifDelay(params.frames)));
      }
      KILN_RETURN_IF_ERROR(gif->AddFrame(small));
    }
    if (progress) progress(i + 1, params.frames);
  }
  if (gif != nullptr) {
    KILN_RETURN_IF_ERROR(gif->Finish());
    AddOutput("preview.gif", gif_path, output);
  }
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

absl::Status AddPreviewOutputs(const PreviewParams& params, const tasks::Mesh& mesh,
                               const std::string& output_dir, int cuda_device,
                               tasks::TaskOutput* output) {
  absl::StatusOr<TurntableResult> turntable;
  try {
    turntable = RenderTurntable(params, mesh, output_dir, cuda_device, /*write_frames=*/false,
                                /*write_gif=*/params.frames > 1, output);
  } catch (const std::bad_alloc&) {
    return absl::ResourceExhaustedError("preview: out of memory while rendering");
  }
  if (!turntable.ok()) {
    return absl::Status(turntable.status().code(),
                        absl::StrCat("preview: ", turntable.status().message()));
  }
  const TurntableResult& result = *turntable;
  google::protobuf::Struct& preview =
      *(*output->summary.mutable_fields())["preview"].mutable_struct_value();
  auto& fields = *preview.mutable_fields();
  fields["frames"].set_number_value(params.frames);
  auto* size = fields["size"].mutable_list_value();
  size->add_values()->set_number_value(params.size[0]);
  size->add_values()->set_number_value(params.size[1]);
  fields["renderer"].set_string_value(result.renderer);
  fields["seconds"].set_number_value(result.seconds);
  if (!result.gpu_fallback_reason.empty()) {
    fields["gpu_fallback"].set_string_value(result.gpu_fallback_reason);
  }
  return absl::OkStatus();
}

}  // namespace kiln::render
