// image_to3d_bench: time of image.to3d's inflation (InflateImage: mask, distance
// transform, local radius, mesh) and of writing its GLB, per working resolution, on the
// photo-like fixture. Figures and the command: bench/README.md.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "worker/image/png.h"
#include "worker/tasks/image_to3d/image_inflate.h"
#include "worker/tasks/meshio/glb.h"

ABSL_FLAG(std::string, image, "tests/data/images/photo_like_object.png", "PNG to inflate");
ABSL_FLAG(int, runs, 5, "runs per resolution (the median is printed)");
ABSL_FLAG(std::string, glb, "/tmp/kiln_image_to3d_bench.glb", "where the GLB is written");

namespace {

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::StatusOr<kiln::image::Image> image = kiln::image::ReadPng(absl::GetFlag(FLAGS_image));
  if (!image.ok()) {
    std::fprintf(stderr, "%s\n", image.status().ToString().c_str());
    return 1;
  }
  // Nearest-neighbour enlargement until the longest side reaches 1024, so every row below
  // downsamples (as a real photo would) rather than stopping at the fixture's size.
  const int factor = std::max(1, 1024 / std::max(image->width, image->height));
  if (factor > 1) {
    kiln::image::Image big =
        kiln::image::Image::Blank(image->width * factor, image->height * factor);
    for (int y = 0; y < big.height; ++y) {
      for (int x = 0; x < big.width; ++x) {
        std::copy_n(image->pixel(x / factor, y / factor), 4, big.pixel(x, y));
      }
    }
    *image = std::move(big);
  }
  std::printf("image %dx%d (fixture enlarged %dx), %d runs per row (medians)\n", image->width,
              image->height, factor, absl::GetFlag(FLAGS_runs));
  std::printf("| resolution | working image | faces | inflate ms | GLB write ms | GLB MB |\n");
  std::printf("| ---: | ---: | ---: | ---: | ---: | ---: |\n");
  for (int resolution : {64, 128, 256, 512}) {
    kiln::ImageTo3dParams params;
    params.input = "bench";
    params.resolution = resolution;
    std::vector<double> inflate_ms, write_ms;
    kiln::tasks::InflatedImage last;
    for (int run = 0; run < absl::GetFlag(FLAGS_runs); ++run) {
      const auto t0 = std::chrono::steady_clock::now();
      absl::StatusOr<kiln::tasks::InflatedImage> inflated =
          kiln::tasks::InflateImage(*image, params);
      const auto t1 = std::chrono::steady_clock::now();
      if (!inflated.ok()) {
        std::fprintf(stderr, "%s\n", inflated.status().ToString().c_str());
        return 1;
      }
      const absl::Status written = kiln::tasks::WriteGlb(inflated->mesh, absl::GetFlag(FLAGS_glb));
      const auto t2 = std::chrono::steady_clock::now();
      if (!written.ok()) {
        std::fprintf(stderr, "%s\n", written.ToString().c_str());
        return 1;
      }
      inflate_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
      write_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
      last = *std::move(inflated);
    }
    FILE* f = std::fopen(absl::GetFlag(FLAGS_glb).c_str(), "rb");
    long bytes = 0;
    if (f != nullptr) {
      std::fseek(f, 0, SEEK_END);
      bytes = std::ftell(f);
      std::fclose(f);
    }
    std::printf("| %d | %dx%d | %zu | %.1f | %.1f | %.1f |\n", resolution, last.mask_width,
                last.mask_height, last.mesh.triangles.size(), Median(inflate_ms), Median(write_ms),
                bytes / 1e6);
  }
  return 0;
}
