// libFuzzer: ReadStlFromBytes on arbitrary bytes must return a status, never crash,
// hang or read out of bounds (AddressSanitizer).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "worker/tasks/meshio/stl.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  (void)kiln::tasks::ReadStlFromBytes(bytes, "fuzz.stl");
  return 0;
}
