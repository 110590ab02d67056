// field_decode_bench: FusedMlpField's decode speed and accuracy against the PyTorch eager
// baseline that bench/field_decode_pytorch.py measured on the same GPU, the same model and
// the same grid (see bench/README.md; bench/gpu/run-field-decode.sh runs both).
//
//   field_decode_bench --dir=OUT [--runs=7] [--precisions=bf16,fp16,fp32] [--chunks=...]
//
// OUT holds mlp.kmlp, reference.bin and pytorch.txt written by the Python script. For each
// precision and chunk size: median device time of --runs decodes after one warm-up (CUDA
// events around the whole decode on one stream), points/s, TFLOP/s, speedup over PyTorch
// at the same chunk size and over PyTorch's best chunk size; then the accuracy against the
// float64 reference at the sampled grid points. Plain C++ (no Abseil): it builds standalone.
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "worker/fieldnet/fused_mlp_field.h"
#include "worker/fieldnet/grid_spec.h"
#include "worker/fieldnet/mlp_weights.h"

namespace kiln::fieldnet {
namespace {

struct Reference {
  GridSpec grid;
  std::vector<int64_t> indices;
  std::vector<double> values;
};

bool ReadReference(const std::string& path, Reference* ref, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = path + ": cannot open";
    return false;
  }
  const std::vector<char> bytes((std::istreambuf_iterator<char>(in)),
                                std::istreambuf_iterator<char>());
  size_t pos = 0;
  auto take = [&](void* dst, size_t n) {
    if (bytes.size() - pos < n) return false;
    std::memcpy(dst, bytes.data() + pos, n);
    pos += n;
    return true;
  };
  char magic[8];
  int64_t count = 0;
  if (!take(magic, 8) || std::memcmp(magic, "KILNREF1", 8) != 0 ||
      !take(ref->grid.cells, sizeof(ref->grid.cells)) ||
      !take(ref->grid.origin, sizeof(ref->grid.origin)) ||
      !take(ref->grid.spacing, sizeof(ref->grid.spacing)) || !take(&count, sizeof(count)) ||
      count < 1 || count > (int64_t{1} << 24)) {
    *error = path + ": not a reference file from field_decode_pytorch.py (bad header)";
    return false;
  }
  ref->indices.resize(count);
  ref->values.resize(count);
  if (!take(ref->indices.data(), count * sizeof(int64_t)) ||
      !take(ref->values.data(), count * sizeof(double)) || pos != bytes.size()) {
    *error = path + ": size does not match its " + std::to_string(count) + " samples";
    return false;
  }
  const Status grid_ok = ValidateGridSpec(ref->grid);
  if (!grid_ok.ok()) {
    *error = path + ": " + grid_ok.message();
    return false;
  }
  for (int64_t index : ref->indices) {
    if (index < 0 || index >= GridSampleCount(ref->grid)) {
      *error = path + ": sample index " + std::to_string(index) + " is outside the grid";
      return false;
    }
  }
  return true;
}

// pytorch.txt: "chunk N median_s S points_per_s P tflops T" lines; others are kept as notes.
std::map<int64_t, double> ReadPytorchRates(const std::string& path,
                                           std::vector<std::string>* notes) {
  std::map<int64_t, double> rates;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream fields(line);
    std::string key, median_key, rate_key;
    int64_t chunk = 0;
    double median = 0, rate = 0;
    if (fields >> key && key == "chunk" &&
        fields >> chunk >> median_key >> median >> rate_key >> rate) {
      rates[chunk] = rate;
    } else if (!line.empty()) {
      notes->push_back(line);
    }
  }
  return rates;
}

bool ParsePrecision(const std::string& name, Precision* precision) {
  for (Precision p : {Precision::kBf16, Precision::kFp16, Precision::kFp32}) {
    if (name == PrecisionName(p)) {
      *precision = p;
      return true;
    }
  }
  return false;
}

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream stream(text);
  std::string part;
  while (std::getline(stream, part, ',')) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

#define BENCH_CUDA(call)                                                         \
  do {                                                                           \
    const cudaError_t bench_error_ = (call);                                     \
    if (bench_error_ != cudaSuccess) {                                           \
      std::fprintf(stderr, "%s: %s\n", #call, cudaGetErrorString(bench_error_)); \
      std::exit(1);                                                              \
    }                                                                            \
  } while (false)

struct Timing {
  double median_s = 0;
  double min_s = 0;
  double max_s = 0;
};

// Median device time of `runs` decodes after one warm-up, each bracketed by events.
bool TimeDecodes(FusedMlpField* field, const GridSpec& grid, float* device_field,
                 cudaStream_t stream, int runs, Timing* timing) {
  cudaEvent_t start, stop;
  BENCH_CUDA(cudaEventCreate(&start));
  BENCH_CUDA(cudaEventCreate(&stop));
  std::vector<double> seconds;
  for (int r = -1; r < runs; ++r) {
    BENCH_CUDA(cudaEventRecord(start, stream));
    const Status status = field->Decode(grid, device_field, nullptr, stream);
    if (!status.ok()) {
      std::fprintf(stderr, "decode failed: %s\n", status.ToString().c_str());
      return false;
    }
    BENCH_CUDA(cudaEventRecord(stop, stream));
    BENCH_CUDA(cudaEventSynchronize(stop));
    float ms = 0;
    BENCH_CUDA(cudaEventElapsedTime(&ms, start, stop));
    if (r >= 0) seconds.push_back(ms / 1e3);
  }
  cudaEventDestroy(start);
  cudaEventDestroy(stop);
  std::sort(seconds.begin(), seconds.end());
  timing->median_s = seconds[seconds.size() / 2];
  timing->min_s = seconds.front();
  timing->max_s = seconds.back();
  return true;
}

int Main(int argc, char** argv) {
  std::string dir;
  int runs = 7;
  std::string precisions = "bf16,fp16,fp32";
  std::string chunk_list;
  bool compare_variants = true;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto value = [&](const char* name) -> const char* {
      const std::string prefix = std::string("--") + name + "=";
      return arg.rfind(prefix, 0) == 0 ? argv[i] + prefix.size() : nullptr;
    };
    if (const char* v = value("dir")) {
      dir = v;
    } else if (const char* v = value("runs")) {
      runs = std::atoi(v);
    } else if (const char* v = value("precisions")) {
      precisions = v;
    } else if (const char* v = value("chunks")) {
      chunk_list = v;
    } else if (arg == "--no-variants") {
      compare_variants = false;
    } else {
      std::fprintf(stderr,
                   "usage: %s --dir=OUT [--runs=7] [--precisions=bf16,fp16,fp32] "
                   "[--chunks=N,...] [--no-variants]\n(unknown argument '%s')\n",
                   argv[0], arg.c_str());
      return 2;
    }
  }
  if (dir.empty() || runs < 5) {
    std::fprintf(stderr, "--dir is required and --runs must be >= 5\n");
    return 2;
  }

  MlpWeights mlp;
  const Status read = ReadMlpWeightsFile(dir + "/mlp.kmlp", &mlp);
  if (!read.ok()) {
    std::fprintf(stderr, "%s\n", read.ToString().c_str());
    return 1;
  }
  Reference ref;
  std::string error;
  if (!ReadReference(dir + "/reference.bin", &ref, &error)) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  std::vector<std::string> notes;
  const std::map<int64_t, double> pytorch = ReadPytorchRates(dir + "/pytorch.txt", &notes);
  double pytorch_best = 0;
  for (const auto& [chunk, rate] : pytorch) pytorch_best = std::max(pytorch_best, rate);

  std::vector<int64_t> chunks;
  for (const std::string& c : SplitCommas(chunk_list)) chunks.push_back(std::atoll(c.c_str()));
  if (chunks.empty()) {
    for (const auto& [chunk, rate] : pytorch) chunks.push_back(chunk);
  }
  if (chunks.empty()) chunks = {int64_t{1} << 20};

  cudaDeviceProp prop{};
  BENCH_CUDA(cudaGetDeviceProperties(&prop, 0));
  const int64_t total = GridSampleCount(ref.grid);
  const int64_t flops = MlpFlopsPerPoint(mlp.widths);
  std::string widths;
  for (int w : mlp.widths) widths += (widths.empty() ? "" : ",") + std::to_string(w);
  std::printf("device: %s (sm_%d%d, %d SMs)\n", prop.name, prop.major, prop.minor,
              prop.multiProcessorCount);
  std::printf("network: widths {%s}, %lld FLOP/point; grid %lld x %lld x %lld = %lld samples\n",
              widths.c_str(), static_cast<long long>(flops),
              static_cast<long long>(ref.grid.cells[0] + 1),
              static_cast<long long>(ref.grid.cells[1] + 1),
              static_cast<long long>(ref.grid.cells[2] + 1), static_cast<long long>(total));
  for (const std::string& note : notes) std::printf("pytorch.txt: %s\n", note.c_str());

  float* device_field = nullptr;
  BENCH_CUDA(cudaMalloc(&device_field, total * sizeof(float)));
  cudaStream_t stream;
  BENCH_CUDA(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking));

  std::printf("\n%-5s %9s %-22s %10s %12s %9s %12s %12s\n", "prec", "chunk", "variant", "median_ms",
              "points/s", "TFLOP/s", "vs_pt_same", "vs_pt_best");
  struct Variant {
    const char* name;
    bool graph;
    bool autotune;
    int chunks_per_graph;
  };
  std::vector<std::string> accuracy_lines;
  for (const std::string& name : SplitCommas(precisions)) {
    Precision precision;
    if (!ParsePrecision(name, &precision)) {
      std::fprintf(stderr, "--precisions: unknown '%s' (bf16, fp16, fp32)\n", name.c_str());
      return 2;
    }
    bool accuracy_done = false;
    for (int64_t chunk : chunks) {
      std::vector<Variant> variants = {{"graph8+autotune", true, true, 8}};
      if (compare_variants && precision == Precision::kBf16) {
        variants.push_back({"graph1+autotune", true, true, 1});
        variants.push_back({"no-graph+autotune", false, true, 1});
        variants.push_back({"graph8+heuristic-algo", true, false, 8});
      }
      for (const Variant& variant : variants) {
        FusedMlpField::Options options;
        options.precision = precision;
        options.max_chunk_points = chunk;
        options.use_cuda_graph = variant.graph;
        options.autotune = variant.autotune;
        options.chunks_per_graph = variant.chunks_per_graph;
        std::unique_ptr<FusedMlpField> field;
        const Status created = FusedMlpField::Create(mlp, options, &field);
        if (!created.ok()) {
          std::printf("%-5s %9lld %-22s create failed: %s\n", name.c_str(),
                      static_cast<long long>(chunk), variant.name, created.ToString().c_str());
          continue;
        }
        Timing timing;
        if (!TimeDecodes(field.get(), ref.grid, device_field, stream, runs, &timing)) return 1;
        const double rate = total / timing.median_s;
        const auto same = pytorch.find(chunk);
        char same_text[32] = "-", best_text[32] = "-";
        if (same != pytorch.end())
          std::snprintf(same_text, sizeof(same_text), "%.2fx", rate / same->second);
        if (pytorch_best > 0)
          std::snprintf(best_text, sizeof(best_text), "%.2fx", rate / pytorch_best);
        std::printf(
            "%-5s %9lld %-22s %10.2f %12.4g %9.1f %12s %12s   (min %.2f max %.2f ms, %.0f MiB)\n",
            name.c_str(), static_cast<long long>(chunk), variant.name, timing.median_s * 1e3, rate,
            rate * flops / 1e12, same_text, best_text, timing.min_s * 1e3, timing.max_s * 1e3,
            field->device_bytes() / 1048576.0);
        if (variant.graph && variant.autotune && chunk == chunks.front()) {
          std::printf("%s", field->algorithm_summary().c_str());
        }
        if (!accuracy_done) {
          // The field of the last timed decode, at the reference samples.
          BENCH_CUDA(cudaStreamSynchronize(stream));
          double max_abs = 0, sum_abs = 0, lo = INFINITY, hi = -INFINITY;
          for (size_t s = 0; s < ref.indices.size(); ++s) {
            float got = 0;
            BENCH_CUDA(cudaMemcpy(&got, device_field + ref.indices[s], sizeof(float),
                                  cudaMemcpyDeviceToHost));
            const double e = std::isfinite(got) ? std::fabs(got - ref.values[s]) : INFINITY;
            max_abs = std::max(max_abs, e);
            sum_abs += e;
            lo = std::min(lo, ref.values[s]);
            hi = std::max(hi, ref.values[s]);
          }
          char line[256];
          std::snprintf(line, sizeof(line),
                        "accuracy %s vs float64 reference (%zu samples): max abs %.3e, mean abs "
                        "%.3e, range %.3e, max/range %.3e",
                        name.c_str(), ref.indices.size(), max_abs, sum_abs / ref.indices.size(),
                        hi - lo, max_abs / (hi - lo));
          accuracy_lines.push_back(line);
          accuracy_done = true;
        }
      }
    }
  }
  std::printf("\n");
  for (const std::string& line : accuracy_lines) std::printf("%s\n", line.c_str());
  cudaFree(device_field);
  cudaStreamDestroy(stream);
  return 0;
}

}  // namespace
}  // namespace kiln::fieldnet

int main(int argc, char** argv) { return kiln::fieldnet::Main(argc, argv); }
