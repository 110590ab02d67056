// libFuzzer: the .npy reader on arbitrary bytes must return a status, never crash or
// read out of bounds. It reads paths, so each input goes to one temporary file per
// process first.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>

#include "worker/tasks/npy_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // Removed at exit (libFuzzer exits normally unless it found a crash).
  static const struct TempFile {
    std::string path = "/tmp/kiln-fuzz-npy-" + std::to_string(getpid()) + ".npy";
    ~TempFile() { std::remove(path.c_str()); }
  } temp;
  const std::string& path = temp.path;
  FILE* file = std::fopen(path.c_str(), "wb");
  if (file == nullptr) return 0;
  const bool written = std::fwrite(data, 1, size, file) == size;
  std::fclose(file);
  if (!written) return 0;
  // A small per-axis cap keeps valid inputs cheap (the reader checks it before allocating).
  (void)kiln::tasks::ReadNpyFloat32Volume(path, "fuzz.npy", /*max_per_axis=*/64);
  return 0;
}
