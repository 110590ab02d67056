// ScopedTempDir: a fresh directory under $TMPDIR (or /tmp) for one test, removed
// with everything in it when the object goes out of scope. Test-only.
#ifndef KILN_COMMON_TESTING_SCOPED_TEMP_DIR_H_
#define KILN_COMMON_TESTING_SCOPED_TEMP_DIR_H_

#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <system_error>

namespace kiln::testing {

class ScopedTempDir {
 public:
  ScopedTempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string pattern = std::string(base != nullptr && *base ? base : "/tmp") + "/kiln-XXXXXX";
    char* made = ::mkdtemp(pattern.data());
    path_ = made != nullptr ? made : "";
  }
  ~ScopedTempDir() {
    std::error_code ec;
    if (!path_.empty()) std::filesystem::remove_all(path_, ec);
  }
  ScopedTempDir(const ScopedTempDir&) = delete;
  ScopedTempDir& operator=(const ScopedTempDir&) = delete;

  const std::string& path() const { return path_; }
  std::string Sub(const std::string& name) const { return path_ + "/" + name; }
  // Writes `content` byte for byte to Sub(name) and returns that path.
  std::string WriteFile(const std::string& name, const std::string& content) const {
    const std::string path = Sub(name);
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }

 private:
  std::string path_;
};

}  // namespace kiln::testing

#endif  // KILN_COMMON_TESTING_SCOPED_TEMP_DIR_H_
