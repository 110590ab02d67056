#include "models/model_repository.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/util/json_util.h"

namespace kiln::models {
namespace {

using kiln::v1::ModelManifest;
using kiln::v1::ModelRuntime;

constexpr size_t kMaxNameLength = 128;
// A manifest is a few KiB; anything this large is not one.
constexpr std::uintmax_t kMaxManifestBytes = 1 << 20;
constexpr std::string_view kFieldDecodeTask = "field.decode";

absl::string_view View(std::string_view s) { return absl::string_view(s.data(), s.size()); }

absl::Status Invalid(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > kMaxNameLength || name == "." || name == "..") return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-';
  });
}

bool IsAllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// A relative path that stays inside the version directory.
bool IsContainedRelativePath(const std::string& file) {
  const std::filesystem::path p(file);
  if (file.empty() || p.is_absolute()) return false;
  for (const auto& part : p) {
    if (part == "..") return false;
  }
  return true;
}

absl::StatusOr<std::string> ReadSmallFile(const std::filesystem::path& path) {
  std::error_code error;
  const std::uintmax_t size = std::filesystem::file_size(path, error);
  if (error) return absl::NotFoundError(absl::StrCat("cannot read: ", error.message()));
  if (size > kMaxManifestBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("larger than ", kMaxManifestBytes, " bytes; not a manifest"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError("cannot open");
  std::ostringstream contents;
  contents << in.rdbuf();
  return contents.str();
}

std::vector<std::filesystem::path> SortedSubdirectories(const std::filesystem::path& dir,
                                                        std::error_code& error) {
  std::vector<std::filesystem::path> dirs;
  for (std::filesystem::directory_iterator it(dir, error), end; !error && it != end;
       it.increment(error)) {
    const std::string name = it->path().filename().string();
    if (name.starts_with('.')) continue;  // .git, editor droppings
    std::error_code type_error;
    if (it->is_directory(type_error)) dirs.push_back(it->path());
  }
  std::sort(dirs.begin(), dirs.end());
  return dirs;
}

}  // namespace

std::string ModelEntry::Key() const {
  return absl::StrCat(manifest.name(), "@", manifest.version());
}

int CompareModelVersions(std::string_view a, std::string_view b) {
  if (IsAllDigits(a) && IsAllDigits(b)) {
    // Compare as numbers of any length: strip leading zeros, longer is larger.
    const auto strip = [](std::string_view s) {
      const size_t first = s.find_first_not_of('0');
      return first == std::string_view::npos ? std::string_view() : s.substr(first);
    };
    const std::string_view x = strip(a), y = strip(b);
    if (x.size() != y.size()) return x.size() < y.size() ? -1 : 1;
    const int c = x.compare(y);
    if (c != 0) return c < 0 ? -1 : 1;
    // "01" and "1" are the same number; order them by text so the order is total.
  }
  const int c = a.compare(b);
  return c < 0 ? -1 : (c > 0 ? 1 : 0);
}

std::string RuntimeName(ModelRuntime runtime) {
  switch (runtime) {
    case kiln::v1::MODEL_RUNTIME_TORCHSCRIPT:
      return "torchscript";
    case kiln::v1::MODEL_RUNTIME_BUILTIN:
      return "builtin";
    case kiln::v1::MODEL_RUNTIME_EXEC:
      return "exec";
    default:
      return "unspecified";
  }
}

absl::Status ValidateManifest(const ModelManifest& m, const std::filesystem::path& dir) {
  if (!IsValidName(m.name())) {
    return Invalid("name", absl::StrCat("must be 1 to ", kMaxNameLength,
                                        " characters of [A-Za-z0-9._-] (got \"", m.name(), "\")"));
  }
  if (!IsValidName(m.version())) {
    return Invalid("version",
                   absl::StrCat("must be 1 to ", kMaxNameLength,
                                " characters of [A-Za-z0-9._-] (got \"", m.version(), "\")"));
  }
  const std::string dir_version = dir.filename().string();
  const std::string dir_name = dir.parent_path().filename().string();
  if (m.name() != dir_name) {
    return Invalid(
        "name", absl::StrCat("\"", m.name(), "\" does not match its directory \"", dir_name, "\""));
  }
  if (m.version() != dir_version) {
    return Invalid("version", absl::StrCat("\"", m.version(), "\" does not match its directory \"",
                                           dir_version, "\""));
  }
  switch (m.runtime()) {
    case kiln::v1::MODEL_RUNTIME_TORCHSCRIPT:
      if (m.file().empty()) return Invalid("file", "required for runtime torchscript");
      if (!IsContainedRelativePath(m.file())) {
        return Invalid("file", absl::StrCat("must be a relative path inside the model's "
                                            "directory without \"..\" (got \"",
                                            m.file(), "\")"));
      }
      break;
    case kiln::v1::MODEL_RUNTIME_BUILTIN:
      if (m.builtin().empty()) return Invalid("builtin", "required for runtime builtin");
      break;
    case kiln::v1::MODEL_RUNTIME_EXEC:
      if (m.exec().command().empty() || m.exec().command(0).empty()) {
        return Invalid("exec.command", "required (a non-empty argv) for runtime exec");
      }
      break;
    default:
      return Invalid("runtime",
                     "required: MODEL_RUNTIME_TORCHSCRIPT, MODEL_RUNTIME_BUILTIN "
                     "or MODEL_RUNTIME_EXEC");
  }
  if (m.tiers_size() > kMaxModelTiers) {
    return Invalid("tiers",
                   absl::StrCat("at most ", kMaxModelTiers, " (got ", m.tiers_size(), ")"));
  }
  for (int i = 0; i < m.tiers_size(); ++i) {
    const std::string& dtype = m.tiers(i).dtype();
    if (dtype != "bfloat16" && dtype != "float16" && dtype != "float32") {
      return Invalid(absl::StrCat("tiers[", i, "].dtype"),
                     absl::StrCat("must be bfloat16, float16 or float32 (got \"", dtype, "\")"));
    }
  }
  const auto& bounds = m.field().bounds();
  if (!bounds.empty()) {
    if (bounds.size() != 6) {
      return Invalid("field.bounds", absl::StrCat("must be 6 numbers, min xyz then max xyz (got ",
                                                  bounds.size(), ")"));
    }
    for (int a = 0; a < 3; ++a) {
      if (!std::isfinite(bounds[a]) || !std::isfinite(bounds[a + 3]) ||
          !(bounds[a] < bounds[a + 3])) {
        return Invalid("field.bounds", "must be finite with min < max on every axis");
      }
    }
  }
  if (std::find(m.tasks().begin(), m.tasks().end(), kFieldDecodeTask) != m.tasks().end()) {
    if (m.field().kind() == kiln::v1::FIELD_KIND_UNSPECIFIED) {
      return Invalid("field.kind",
                     "required for a field.decode model: FIELD_KIND_SDF or "
                     "FIELD_KIND_OCCUPANCY");
    }
    if (bounds.empty()) return Invalid("field.bounds", "required for a field.decode model");
  }
  return absl::OkStatus();
}

std::unique_ptr<ModelRepository> ModelRepository::Empty() {
  return std::unique_ptr<ModelRepository>(new ModelRepository());
}

absl::StatusOr<std::unique_ptr<ModelRepository>> ModelRepository::Open(
    const ModelRepositoryOptions& options) {
  std::error_code error;
  if (options.root.empty()) return absl::NotFoundError("model repository: no root given");
  if (!std::filesystem::is_directory(options.root, error)) {
    return absl::NotFoundError(absl::StrCat("model repository ", options.root.string(),
                                            ": not a readable directory",
                                            error ? ": " + error.message() : ""));
  }
  auto repo = std::unique_ptr<ModelRepository>(new ModelRepository());
  repo->root_ = options.root;
  const std::vector<std::filesystem::path> names = SortedSubdirectories(options.root, error);
  if (error) {
    return absl::NotFoundError(absl::StrCat("model repository ", options.root.string(),
                                            ": cannot list: ", error.message()));
  }
  for (const std::filesystem::path& name_dir : names) {
    std::error_code list_error;
    const std::vector<std::filesystem::path> versions = SortedSubdirectories(name_dir, list_error);
    if (list_error) {
      repo->problems_.push_back(
          absl::StrCat(name_dir.string(), ": cannot list: ", list_error.message()));
      continue;
    }
    for (const std::filesystem::path& version_dir : versions) {
      const std::filesystem::path manifest_path = version_dir / kManifestFileName;
      const auto problem = [&](absl::string_view what) {
        repo->problems_.push_back(absl::StrCat(manifest_path.string(), ": ", what));
      };
      std::error_code exists_error;
      if (!std::filesystem::exists(manifest_path, exists_error)) {
        problem("missing");
        continue;
      }
      absl::StatusOr<std::string> json = ReadSmallFile(manifest_path);
      if (!json.ok()) {
        problem(json.status().message());
        continue;
      }
      ModelEntry entry;
      entry.dir = version_dir;
      google::protobuf::util::JsonParseOptions parse_options;
      parse_options.ignore_unknown_fields = false;  // A typo in a field name is an error.
      const auto parsed =
          google::protobuf::util::JsonStringToMessage(*json, &entry.manifest, parse_options);
      if (!parsed.ok()) {
        problem(absl::StrCat("not a valid ModelManifest in JSON: ",
                             View(std::string(parsed.message()))));
        continue;
      }
      if (absl::Status valid = ValidateManifest(entry.manifest, version_dir); !valid.ok()) {
        problem(valid.message());
        continue;
      }
      repo->models_.push_back(std::move(entry));
    }
  }
  std::sort(repo->models_.begin(), repo->models_.end(),
            [](const ModelEntry& a, const ModelEntry& b) {
              if (a.manifest.name() != b.manifest.name()) {
                return a.manifest.name() < b.manifest.name();
              }
              return CompareModelVersions(a.manifest.version(), b.manifest.version()) < 0;
            });
  return repo;
}

absl::StatusOr<const ModelEntry*> ModelRepository::Find(std::string_view ref) const {
  const size_t at = ref.find('@');
  const std::string_view name = ref.substr(0, at);
  const std::string_view version = at == std::string_view::npos ? "" : ref.substr(at + 1);
  if (name.empty() || (at != std::string_view::npos && version.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model: \"", View(ref), "\" is not a model reference (\"name\" or \"name@version\")"));
  }
  const ModelEntry* found = nullptr;
  for (const ModelEntry& entry : models_) {
    if (entry.manifest.name() != name) continue;
    if (at == std::string_view::npos || entry.manifest.version() == version) {
      found = &entry;  // Sorted by version: the last match is the highest.
    }
  }
  if (found != nullptr) return found;
  std::vector<std::string> versions;
  for (const ModelEntry& entry : models_) {
    if (entry.manifest.name() == name) versions.push_back(entry.manifest.version());
  }
  if (!versions.empty()) {
    return absl::NotFoundError(absl::StrCat("model \"", View(ref),
                                            "\" not found: this repository has versions ",
                                            absl::StrJoin(versions, ", "), " of ", View(name)));
  }
  return absl::NotFoundError(
      absl::StrCat("model \"", View(ref), "\" not found in the repository",
                   root_.empty() ? " (no --model-repo given)" : " " + root_.string()));
}

}  // namespace kiln::models
