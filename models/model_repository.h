// ModelRepository: the models a worker has on disk, laid out as
//   <root>/<name>/<version>/manifest.json   (a kiln.v1.ModelManifest in protobuf JSON)
//   <root>/<name>/<version>/...             (the model's files, e.g. model.pt)
// Open() scans the tree once; the repository is immutable afterwards, so any thread may
// call its const methods. A manifest that does not parse or validate is skipped and
// recorded in problems() (file path and field at fault) rather than failing the whole
// repository: one broken model must not take a worker's other models offline.
// Jobs name a model as "name" (highest version) or "name@version".
#ifndef KILN_MODELS_MODEL_REPOSITORY_H_
#define KILN_MODELS_MODEL_REPOSITORY_H_

#include <filesystem>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "kiln/v1/model.pb.h"

namespace kiln::models {

// One model version found on disk.
struct ModelEntry {
  kiln::v1::ModelManifest manifest;
  std::filesystem::path dir;  // <root>/<name>/<version>
  std::string Key() const;    // "name@version"
};

struct ModelRepositoryOptions {
  // The repository's root directory.
  std::filesystem::path root;
};

class ModelRepository {
 public:
  // Scans root/<name>/<version>/manifest.json. A manifest that does not parse or
  // validate is recorded in problems() with the file path and the field at fault, and
  // skipped. A missing or unreadable root is NotFound naming the path.
  static absl::StatusOr<std::unique_ptr<ModelRepository>> Open(
      const ModelRepositoryOptions& options);

  // A repository with no models (an executor started without --model-repo).
  static std::unique_ptr<ModelRepository> Empty();

  // "name" -> the highest version (numeric compare when both are integers, else
  // lexicographic); "name@version" -> exactly that. NotFound naming the model otherwise.
  // The pointer stays valid as long as the repository.
  absl::StatusOr<const ModelEntry*> Find(std::string_view ref) const;

  // Sorted by name, then version (in the order Find() uses to pick the highest).
  const std::vector<ModelEntry>& models() const { return models_; }
  // One line per skipped manifest or directory: "<path>: <field>: <what>".
  const std::vector<std::string>& problems() const { return problems_; }
  const std::filesystem::path& root() const { return root_; }

 private:
  ModelRepository() = default;

  std::filesystem::path root_;
  std::vector<ModelEntry> models_;
  std::vector<std::string> problems_;
};

// Validation used by Open (exposed for tests): names [A-Za-z0-9._-], version dir
// matches, runtime set, torchscript needs `file` (relative, inside the version
// directory; existence is checked at load, with the path in the error), builtin needs
// `builtin`, exec needs a non-empty command, tiers' dtype in {bfloat16,float16,float32},
// at most 8 tiers, field.bounds empty or 6 finite numbers with min < max, and a model
// for "field.decode" needs field.kind and field.bounds. InvalidArgument whose message
// starts with the field ("tiers[1].dtype: ..."). `dir` is <root>/<name>/<version>.
absl::Status ValidateManifest(const kiln::v1::ModelManifest& m, const std::filesystem::path& dir);

// Orders versions: numerically when both are non-negative integers, else
// lexicographically. Returns <0, 0 or >0.
int CompareModelVersions(std::string_view a, std::string_view b);

// "torchscript", "builtin", "exec" (or "unspecified"), as ModelAvailability.runtime says.
std::string RuntimeName(kiln::v1::ModelRuntime runtime);

inline constexpr int kMaxModelTiers = 8;
inline constexpr std::string_view kManifestFileName = "manifest.json";

}  // namespace kiln::models

#endif  // KILN_MODELS_MODEL_REPOSITORY_H_
