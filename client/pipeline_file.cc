#include "client/pipeline_file.h"

#include <algorithm>
#include <functional>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/job_spec_yaml.h"
#include "common/status_macros.h"
#include "google/protobuf/util/json_util.h"

namespace kiln::kilnctl {
namespace {

bool LooksLikeJobId(absl::string_view s) {
  if (s.size() != 18 || s.substr(0, 2) != "j-") return false;
  for (char c : s.substr(2)) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<PipelinePlan> ReadPipeline(absl::string_view text, absl::string_view source,
                                          absl::string_view base_dir) {
  KILN_ASSIGN_OR_RETURN(std::vector<PipelineJobJson> jobs, YamlPipelineToJson(text, source));
  if (jobs.empty()) return absl::InvalidArgumentError(absl::StrCat(source, ": jobs: empty"));
  std::map<std::string, size_t> by_name;
  for (size_t i = 0; i < jobs.size(); ++i) {
    if (LooksLikeJobId(jobs[i].name)) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", jobs[i].line, ": jobs[", i,
                                                     "].name: \"", jobs[i].name,
                                                     "\" looks like a job id; pick another"));
    }
    if (auto [it, inserted] = by_name.emplace(jobs[i].name, i); !inserted) {
      return absl::InvalidArgumentError(absl::StrCat(source, ":", jobs[i].line, ": jobs[", i,
                                                     "].name: \"", jobs[i].name, "\" is also jobs[",
                                                     it->second, "]"));
    }
  }
  // Edges, checked; then a depth-first order that reports the first cycle it meets.
  std::vector<std::vector<size_t>> needs(jobs.size());
  for (size_t i = 0; i < jobs.size(); ++i) {
    for (size_t j = 0; j < jobs[i].depends_on.size(); ++j) {
      const std::string& name = jobs[i].depends_on[j].name;
      if (LooksLikeJobId(name)) continue;
      auto it = by_name.find(name);
      if (it == by_name.end()) {
        return absl::InvalidArgumentError(absl::StrCat(source, ":", jobs[i].line, ": jobs[", i,
                                                       "].depends_on[", j, "]: no job named \"",
                                                       name, "\" in the file (nor a job id)"));
      }
      needs[i].push_back(it->second);
    }
  }
  std::vector<int> mark(jobs.size(), 0);  // 0 new, 1 on the path, 2 done
  std::vector<size_t> order;
  std::vector<size_t> path;
  std::function<absl::Status(size_t)> visit = [&](size_t i) -> absl::Status {
    if (mark[i] == 2) return absl::OkStatus();
    path.push_back(i);
    if (mark[i] == 1) {
      std::vector<std::string> names;
      for (size_t k = std::find(path.begin(), path.end(), i) - path.begin(); k < path.size(); ++k) {
        names.push_back(jobs[path[k]].name);
      }
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": depends_on makes a cycle: ", absl::StrJoin(names, " -> ")));
    }
    mark[i] = 1;
    for (size_t dep : needs[i]) KILN_RETURN_IF_ERROR(visit(dep));
    mark[i] = 2;
    path.pop_back();
    order.push_back(i);
    return absl::OkStatus();
  };
  for (size_t i = 0; i < jobs.size(); ++i) KILN_RETURN_IF_ERROR(visit(i));

  std::vector<int> position(jobs.size());
  for (size_t k = 0; k < order.size(); ++k) position[order[k]] = static_cast<int>(k);
  PipelinePlan plan;
  for (size_t i : order) {
    const PipelineJobJson& job = jobs[i];
    v1::JobSpec spec;
    auto parsed = google::protobuf::util::JsonStringToMessage(job.spec_json, &spec);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(absl::StrCat(
          source, ":", job.line, ": jobs[", i, "]: not a JobSpec: ", parsed.message().ToString()));
    }
    for (const PipelineDependencyText& text_dep : job.depends_on) {
      v1::Dependency* dep = spec.add_dependencies();
      if (LooksLikeJobId(text_dep.name)) {
        dep->set_job_id(text_dep.name);
      } else {
        dep->set_batch_index(position[by_name.at(text_dep.name)]);
      }
      dep->set_run_on_failure(text_dep.run_on_failure);
      dep->set_input_prefix(text_dep.input_prefix);
    }
    std::vector<InputFile> uploads;
    for (const auto& [name, file_path] : job.files) {
      InputFile file;
      file.name = name;
      file.path = (base_dir.empty() || (!file_path.empty() && file_path[0] == '/'))
                      ? file_path
                      : absl::StrCat(base_dir, "/", file_path);
      uploads.push_back(std::move(file));
    }
    plan.names.push_back(job.name);
    plan.specs.push_back(std::move(spec));
    plan.uploads.push_back(std::move(uploads));
  }
  return plan;
}

}  // namespace kiln::kilnctl
