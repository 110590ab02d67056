// Test-only: runs the Khronos glTF validator (tests/gltf/validate.js through node) on GLB
// files, and a fixture that fails, never skips, when the validator is not installed.
// Header-only; for the targets of tests/gltf (which define KILN_NODE and KILN_GLTF_DIR).
#ifndef KILN_TESTS_GLTF_GLTF_VALIDATE_H_
#define KILN_TESTS_GLTF_GLTF_VALIDATE_H_

#include <filesystem>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/support/subprocess.h"

namespace kiln::testing {

// Exit code 0 when every file has no errors; out has one line per file ("x.glb: 0 errors").
inline CommandResult ValidateGltf(const std::vector<std::string>& files) {
  std::vector<std::string> argv = {KILN_NODE, KILN_GLTF_DIR "/validate.js"};
  argv.insert(argv.end(), files.begin(), files.end());
  return RunCommand(argv, absl::Seconds(120));
}

class GltfValidatorFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(std::filesystem::exists(KILN_GLTF_DIR "/node_modules/gltf-validator"))
        << "the glTF validator is not installed: run `npm ci` in " KILN_GLTF_DIR
           " (scripts/test.sh does)";
  }
};

}  // namespace kiln::testing

#endif  // KILN_TESTS_GLTF_GLTF_VALIDATE_H_
