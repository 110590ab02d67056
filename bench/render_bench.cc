// render_bench: milliseconds per turntable frame of the mesh rasterizer, CPU vs CUDA,
// for UV spheres of growing triangle counts at a few image sizes (bench/README.md).
//   render_bench [frames=24] [png_dir]
// With png_dir, frame 0 of each sphere at 512x512 (CPU, and CUDA when there is one) is
// written there as sphere_<triangles>_<renderer>.png, to look at.
// Each figure is the mean over `frames` turntable frames rendered with one Renderer (the
// mesh prepared and uploaded once, as the preview outputs do), image download included.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "worker/image/png.h"
#include "worker/render/renderer.h"
#include "worker/render/testing/test_meshes.h"

namespace {

using kiln::render::Renderer;
using kiln::render::RenderOptions;

double MsPerFrame(Renderer& renderer, int side, int frames) {
  RenderOptions base;
  base.width = side;
  base.height = side;
  // One warm-up frame (CUDA context, buffer growth).
  if (!renderer.Render(base).ok()) return -1;
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < frames; ++i) {
    if (!renderer.Render(kiln::render::TurntableView(i, frames, base)).ok()) return -1;
  }
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
             .count() /
         frames;
}

}  // namespace

int main(int argc, char** argv) {
  const int frames = argc > 1 ? std::atoi(argv[1]) : 24;
  const std::string png_dir = argc > 2 ? argv[2] : "";
  std::printf("%10s %6s %12s %12s\n", "triangles", "side", "cpu ms/frm", "cuda ms/frm");
  for (const int rings : {16, 160, 1000}) {
    const kiln::tasks::Mesh mesh = kiln::render::testing::UvSphere({0, 0, 0}, 1, rings, 2 * rings);
    auto cpu = Renderer::Create(mesh, {});
    auto cuda = Renderer::Create(mesh, {.cuda_device = 0});
    if (!cpu.ok()) return 1;
    if (!png_dir.empty()) {
      for (Renderer* r : {cpu->get(), cuda.ok() ? cuda->get() : nullptr}) {
        if (r == nullptr) continue;
        auto image = r->Render(RenderOptions{});
        const std::string path = png_dir + "/sphere_" + std::to_string(mesh.triangles.size()) +
                                 "_" + std::string(r->name()) + ".png";
        if (!image.ok() || !kiln::image::WritePng(*image, path).ok()) return 1;
      }
    }
    for (const int side : {512, 1024, 2048}) {
      const double cpu_ms = MsPerFrame(**cpu, side, frames);
      const double cuda_ms = cuda.ok() ? MsPerFrame(**cuda, side, frames) : -1;
      std::printf("%10zu %6d %12.2f %12.2f\n", mesh.triangles.size(), side, cpu_ms, cuda_ms);
    }
    if (!cuda.ok()) std::printf("(no CUDA: %s)\n", std::string(cuda.status().message()).c_str());
  }
  return 0;
}
