// libFuzzer: ReadStepMesh (OpenCASCADE's STEP reader, then tessellation) on arbitrary
// bytes must return a status, never crash or hang. OCCT itself is not instrumented, so
// only what reaches our code is checked by AddressSanitizer; a crash or hang inside OCCT
// still counts. The reader takes a path: each input goes through one temp file.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <fstream>
#include <string>

#include "worker/cad/step_mesh.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const std::string path = "/tmp/kiln_fuzz_step_" + std::to_string(getpid()) + ".step";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(reinterpret_cast<const char*>(data), static_cast<std::streamsize>(size));
  }
  (void)kiln::cad::ReadStepMesh(path);
  return 0;
}
