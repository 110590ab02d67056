// marching_cubes_bench: the CUDA marching cubes on fields generated on the device
// (sphere, gyroid) at 256^3 and 512^3, against the card's memory bandwidth and against
// the CPU path on the same field. Not a test: run by hand on a GPU box (bench/README.md,
// bench/gpu/run-marching-cubes.sh). One line per case, key=value pairs:
//
//   marching_cubes size=512 field=gyroid normals=1 vertices=... faces=...
//     gpu_median_ms=... gpu_min_ms=... gpu_max_ms=... runs=20
//     count_ms=... host_gap_ms=... vertices_ms=... triangles_ms=... normals_ms=...
//     field_mb=... mesh_mb=... effective_gbps=... peak_gbps=... pct_of_peak=...
//     copy_gbps=... cpu_median_s=... cpu_runs=3 speedup_vs_cpu=... counts_match=1
//
// gpu_*_ms: cudaEvent time of one ExtractFromDevice (the field already on the device; the
// outputs stay there), which includes the one host round trip that sizes the outputs.
// The *_ms phase split is from the median run. effective_gbps: (field bytes read once +
// mesh bytes written) / median time. peak_gbps: from the device's memory clock and bus
// width; copy_gbps: a measured device-to-device cudaMemcpy of the field, the practical
// ceiling. cpu_*: ExtractIsosurfaceOnCpu (one thread) on the same field (downloaded),
// with the same normals (SampledFieldGradient).
//
// Flags: --sizes=256,512 --fields=sphere,gyroid --runs=20 --cpu-runs=3 (0: skip the CPU)
//        --normals=1 --device=0
#include <cuda_runtime.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "worker/tasks/cuda/marching_cubes_cuda.h"
#include "worker/tasks/cuda/marching_cubes_passes.h"
#include "worker/tasks/cuda/marching_cubes_test_fields.h"
#include "worker/tasks/cuda/marching_cubes_test_fields_device.h"
#include "worker/tasks/marching_cubes_cpu.h"

namespace {

using kiln::tasks::CudaExtractOptions;
using kiln::tasks::CudaExtractTimings;
using kiln::tasks::CudaMarchingCubes;
using kiln::tasks::DeviceMesh;
using kiln::tasks::GridSpec;
using kiln::tasks::MarchingCubesStatus;
using kiln::tasks::Mesh;
namespace mc = kiln::tasks::marching_cubes;

struct Flags {
  std::vector<int> sizes = {256, 512};
  std::vector<mc::TestField> fields = {mc::TestField::kSphere, mc::TestField::kGyroid};
  int runs = 20;
  int cpu_runs = 3;
  bool normals = true;
  int device = 0;
};

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "marching_cubes_bench: %s\n", what.c_str());
  std::exit(1);
}

void Check(cudaError_t error, const char* what) {
  if (error != cudaSuccess) Die(std::string(what) + ": " + cudaGetErrorString(error));
}

void Check(const MarchingCubesStatus& status, const char* what) {
  if (!status.ok()) Die(std::string(what) + ": " + status.message);
}

std::vector<std::string> Split(std::string_view list) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    if (comma > start) parts.emplace_back(list.substr(start, comma - start));
    start = comma + 1;
  }
  return parts;
}

int ParseInt(std::string_view text, const char* flag) {
  char* end = nullptr;
  const std::string s(text);
  const long value = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || value < 0 || value > 1 << 20) {
    Die(std::string("bad value for ") + flag + ": \"" + s + "\"");
  }
  return int(value);
}

Flags ParseFlags(int argc, char** argv) {
  Flags flags;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    const size_t eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    const std::string_view value = eq == std::string_view::npos ? "" : arg.substr(eq + 1);
    if (name == "--sizes") {
      flags.sizes.clear();
      for (const std::string& s : Split(value)) flags.sizes.push_back(ParseInt(s, "--sizes"));
    } else if (name == "--fields") {
      flags.fields.clear();
      for (const std::string& s : Split(value)) {
        if (s == "sphere") {
          flags.fields.push_back(mc::TestField::kSphere);
        } else if (s == "gyroid") {
          flags.fields.push_back(mc::TestField::kGyroid);
        } else if (s == "torus") {
          flags.fields.push_back(mc::TestField::kTorus);
        } else if (s == "random") {
          flags.fields.push_back(mc::TestField::kRandom);
        } else {
          Die("--fields: unknown field \"" + s + "\" (sphere, gyroid, torus, random)");
        }
      }
    } else if (name == "--runs") {
      flags.runs = std::max(1, ParseInt(value, "--runs"));
    } else if (name == "--cpu-runs") {
      flags.cpu_runs = ParseInt(value, "--cpu-runs");
    } else if (name == "--normals") {
      flags.normals = ParseInt(value, "--normals") != 0;
    } else if (name == "--device") {
      flags.device = ParseInt(value, "--device");
    } else {
      Die("unknown flag \"" + std::string(arg) +
          "\"; flags: --sizes --fields --runs --cpu-runs --normals --device");
    }
  }
  for (int size : flags.sizes) {
    if (size < 1) Die("--sizes: sizes must be >= 1");
  }
  return flags;
}

template <typename T>
T Median(std::vector<T> values) {
  std::sort(values.begin(), values.end());
  return values[values.size() / 2];
}

// A device-to-device copy of `bytes`: the bandwidth the card actually gives.
double MeasureCopyGbps(uint64_t bytes) {
  void* a = nullptr;
  void* b = nullptr;
  Check(cudaMalloc(&a, bytes), "allocating the copy source");
  Check(cudaMalloc(&b, bytes), "allocating the copy target");
  cudaEvent_t start, stop;
  cudaEventCreate(&start);
  cudaEventCreate(&stop);
  std::vector<float> ms;
  for (int run = 0; run < 10; ++run) {
    cudaEventRecord(start);
    Check(cudaMemcpy(b, a, bytes, cudaMemcpyDeviceToDevice), "copying");
    cudaEventRecord(stop);
    cudaEventSynchronize(stop);
    float elapsed = 0;
    cudaEventElapsedTime(&elapsed, start, stop);
    ms.push_back(elapsed);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  cudaFree(a);
  cudaFree(b);
  // A copy reads and writes each byte.
  return 2.0 * double(bytes) / (Median(ms) * 1e-3) / 1e9;
}

}  // namespace

int main(int argc, char** argv) {
  const Flags flags = ParseFlags(argc, argv);
  Check(cudaSetDevice(flags.device), "selecting the device");
  cudaDeviceProp prop;
  Check(cudaGetDeviceProperties(&prop, flags.device), "reading device properties");
  int memory_clock_khz = 0, bus_bits = 0;
  cudaDeviceGetAttribute(&memory_clock_khz, cudaDevAttrMemoryClockRate, flags.device);
  cudaDeviceGetAttribute(&bus_bits, cudaDevAttrGlobalMemoryBusWidth, flags.device);
  // Double data rate: two transfers per clock.
  const double peak_gbps = 2.0 * memory_clock_khz * 1e3 * (bus_bits / 8.0) / 1e9;
  std::printf("# device %d: %s, sm_%d%d, %.1f GiB, memory clock %d MHz x %d bits: peak %.0f GB/s\n",
              flags.device, prop.name, prop.major, prop.minor,
              double(prop.totalGlobalMem) / (1 << 30), memory_clock_khz / 1000, bus_bits,
              peak_gbps);

  std::unique_ptr<CudaMarchingCubes> cuda;
  Check(CudaMarchingCubes::Create({.device = flags.device}, &cuda), "creating CudaMarchingCubes");
  cudaEvent_t start, stop;
  Check(cudaEventCreate(&start), "creating events");
  Check(cudaEventCreate(&stop), "creating events");

  for (int size : flags.sizes) {
    const GridSpec grid = mc::TestFieldGrid(size, size, size);
    const uint64_t samples = mc::SampleCount(grid);
    const uint64_t field_bytes = samples * sizeof(float);
    const double copy_gbps = MeasureCopyGbps(field_bytes);
    float* field = nullptr;
    Check(cudaMalloc(&field, field_bytes), "allocating the field");
    for (mc::TestField which : flags.fields) {
      Check(mc::FillTestFieldOnDevice(which, grid, 1, field, nullptr), "generating the field");
      Check(cudaDeviceSynchronize(), "generating the field");

      CudaExtractOptions options;
      options.normals = flags.normals;
      DeviceMesh mesh;
      // Warm-up: module load, buffer growth.
      for (int run = 0; run < 2; ++run) {
        Check(cuda->ExtractFromDevice(field, grid, options, &mesh), "extracting");
      }
      std::vector<float> ms;
      std::vector<CudaExtractTimings> phases;
      for (int run = 0; run < flags.runs; ++run) {
        CudaExtractTimings timings;
        options.timings = (run % 2 == 1) ? &timings : nullptr;  // Half the runs untouched.
        Check(cudaEventRecord(start, options.stream), "recording");
        Check(cuda->ExtractFromDevice(field, grid, options, &mesh), "extracting");
        Check(cudaEventRecord(stop, options.stream), "recording");
        Check(cudaEventSynchronize(stop), "waiting");
        float elapsed = 0;
        Check(cudaEventElapsedTime(&elapsed, start, stop), "timing");
        ms.push_back(elapsed);
        if (options.timings != nullptr) phases.push_back(timings);
      }
      options.timings = nullptr;
      std::sort(phases.begin(), phases.end(),
                [](const CudaExtractTimings& a, const CudaExtractTimings& b) {
                  return a.total_ms < b.total_ms;
                });
      const CudaExtractTimings phase =
          phases.empty() ? CudaExtractTimings() : phases[phases.size() / 2];
      const double median_ms = Median(ms);
      const uint64_t mesh_bytes =
          mesh.vertex_count * 12 * (flags.normals ? 2 : 1) + mesh.triangle_count * 12;
      const double gbps = double(field_bytes + mesh_bytes) / (median_ms * 1e-3) / 1e9;

      // The CPU path on the same field.
      double cpu_median_s = 0;
      bool counts_match = true;
      if (flags.cpu_runs > 0) {
        std::vector<float> host(samples);
        Check(cudaMemcpy(host.data(), field, field_bytes, cudaMemcpyDeviceToHost), "downloading");
        kiln::tasks::MarchingCubesOptions cpu_options;
        if (flags.normals) cpu_options.gradient = kiln::tasks::SampledFieldGradient(grid, host);
        std::vector<double> seconds;
        for (int run = 0; run < flags.cpu_runs; ++run) {
          Mesh cpu_mesh;
          const auto t0 = std::chrono::steady_clock::now();
          Check(kiln::tasks::ExtractIsosurfaceOnCpu(
                    grid, kiln::tasks::FieldSliceSampler(grid, host), cpu_options, &cpu_mesh),
                "the CPU path");
          seconds.push_back(
              std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
          counts_match = counts_match && cpu_mesh.positions.size() == mesh.vertex_count &&
                         cpu_mesh.triangles.size() == mesh.triangle_count;
        }
        cpu_median_s = Median(seconds);
      }

      std::printf(
          "marching_cubes size=%d field=%s normals=%d vertices=%llu faces=%llu "
          "gpu_median_ms=%.3f gpu_min_ms=%.3f gpu_max_ms=%.3f runs=%d "
          "count_ms=%.3f host_gap_ms=%.3f vertices_ms=%.3f triangles_ms=%.3f normals_ms=%.3f "
          "field_mb=%.1f mesh_mb=%.1f effective_gbps=%.0f peak_gbps=%.0f pct_of_peak=%.1f "
          "copy_gbps=%.0f cpu_median_s=%.3f cpu_runs=%d speedup_vs_cpu=%.0f counts_match=%d "
          "device=\"%s\"\n",
          size, mc::TestFieldName(which), flags.normals ? 1 : 0,
          (unsigned long long)mesh.vertex_count, (unsigned long long)mesh.triangle_count, median_ms,
          *std::min_element(ms.begin(), ms.end()), *std::max_element(ms.begin(), ms.end()),
          flags.runs, phase.count_ms, phase.host_gap_ms, phase.vertices_ms, phase.triangles_ms,
          phase.normals_ms, field_bytes / 1e6, mesh_bytes / 1e6, gbps, peak_gbps,
          peak_gbps > 0 ? 100.0 * gbps / peak_gbps : 0.0, copy_gbps, cpu_median_s, flags.cpu_runs,
          cpu_median_s > 0 ? cpu_median_s / (median_ms * 1e-3) : 0.0, counts_match ? 1 : 0,
          prop.name);
      std::fflush(stdout);
    }
    cudaFree(field);
    cuda->ReleaseBuffers();
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  return 0;
}
