// Command-line flags are documented with dashes (--data-dir) while absl flags
// are identifiers (data_dir). NormalizeFlagDashes rewrites the name part of
// every "--name[=value]" argument before "--" so both spellings work. Values
// are left alone. Call it on main's argv before absl::ParseCommandLine.
#ifndef KILN_COMMON_FLAG_NAMES_H_
#define KILN_COMMON_FLAG_NAMES_H_

#include <cstring>

namespace kiln {

inline void NormalizeFlagDashes(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    char* arg = argv[i];
    if (std::strcmp(arg, "--") == 0) return;
    if (std::strncmp(arg, "--", 2) != 0) continue;
    for (char* c = arg + 2; *c != '\0' && *c != '='; ++c) {
      if (*c == '-') *c = '_';
    }
  }
}

}  // namespace kiln

#endif  // KILN_COMMON_FLAG_NAMES_H_
