#include "autoscale/pool_config.h"

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace kiln::autoscale {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

const std::set<std::string>& SelectorLabels() {
  static const auto* labels =
      new std::set<std::string>{"task", "accelerator", "min_cc", "memory", "placement"};
  return *labels;
}

class Parser {
 public:
  explicit Parser(absl::string_view source) : source_(source) {}

  absl::Status Bad(absl::string_view field, absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", field, ": ", what));
  }

  absl::Status CheckKeys(const Struct& s, const std::string& prefix,
                         const std::set<std::string>& known) const {
    for (const auto& [key, unused] : s.fields()) {
      if (!known.contains(key)) {
        return Bad(absl::StrCat(prefix, key),
                   absl::StrCat("unknown field (known: ", absl::StrJoin(known, ", "), ")"));
      }
    }
    return absl::OkStatus();
  }

  absl::StatusOr<std::string> String(const Value& v, const std::string& field,
                                     bool allow_empty = true) const {
    if (v.kind_case() != Value::kStringValue) return Bad(field, "must be a string");
    if (!allow_empty && v.string_value().empty()) return Bad(field, "must not be empty");
    if (v.string_value().size() > 4096) return Bad(field, "longer than 4096 bytes");
    return v.string_value();
  }

  absl::StatusOr<int> Int(const Value& v, const std::string& field) const {
    if (v.kind_case() != Value::kNumberValue || v.number_value() != std::floor(v.number_value()) ||
        std::abs(v.number_value()) > 1e6) {
      return Bad(field, "must be a whole number");
    }
    return static_cast<int>(v.number_value());
  }

  // A string or a list of strings.
  absl::StatusOr<std::vector<std::string>> Strings(const Value& v, const std::string& field) const {
    std::vector<std::string> out;
    if (v.kind_case() == Value::kStringValue) {
      out.push_back(v.string_value());
      return out;
    }
    if (v.kind_case() != Value::kListValue || v.list_value().values().empty()) {
      return Bad(field, "must be a string or a non-empty list of strings");
    }
    for (int i = 0; i < v.list_value().values_size(); ++i) {
      absl::StatusOr<std::string> s =
          String(v.list_value().values(i), absl::StrCat(field, "[", i, "]"));
      if (!s.ok()) return s.status();
      out.push_back(*std::move(s));
    }
    return out;
  }

  absl::StatusOr<PoolConfig> Pool(const Value& v, const std::string& prefix) const {
    if (v.kind_case() != Value::kStructValue) return Bad(prefix, "must be an object");
    const Struct& s = v.struct_value();
    const std::string dot = prefix + ".";
    if (absl::Status st =
            CheckKeys(s, dot,
                      {"name", "classes", "script", "partition", "gres", "constraint",
                       "sbatch_args", "env", "min_workers", "max_workers", "jobs_per_worker",
                       "scale_up_polls", "scale_down_polls", "max_step"});
        !st.ok()) {
      return st;
    }
    PoolConfig pool;
    const auto field = [&](const char* key) -> const Value* {
      auto it = s.fields().find(key);
      return it == s.fields().end() ? nullptr : &it->second;
    };
    for (const char* required : {"name", "classes", "script", "max_workers"}) {
      if (field(required) == nullptr) return Bad(dot + required, "missing");
    }
    {
      absl::StatusOr<std::string> name = String(*field("name"), dot + "name", false);
      if (!name.ok()) return name.status();
      const bool safe = name->size() <= 64 && std::all_of(name->begin(), name->end(), [](char c) {
                          return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '.' ||
                                 c == '_' || c == '-';
                        });
      if (!safe) return Bad(dot + "name", "must be [A-Za-z0-9._-]{1,64}");
      pool.name = *std::move(name);
    }
    const Value& classes = *field("classes");
    if (classes.kind_case() != Value::kListValue || classes.list_value().values().empty()) {
      return Bad(dot + "classes", "must be a non-empty list of selectors ({} matches all)");
    }
    for (int i = 0; i < classes.list_value().values_size(); ++i) {
      const std::string where = absl::StrCat(dot, "classes[", i, "]");
      const Value& c = classes.list_value().values(i);
      if (c.kind_case() != Value::kStructValue) return Bad(where, "must be an object");
      if (absl::Status st = CheckKeys(c.struct_value(), where + ".", SelectorLabels()); !st.ok()) {
        return st;
      }
      ClassSelector selector;
      for (const auto& [label, values] : c.struct_value().fields()) {
        absl::StatusOr<std::vector<std::string>> list = Strings(values, where + "." + label);
        if (!list.ok()) return list.status();
        selector.labels[label] = *std::move(list);
      }
      pool.classes.push_back(std::move(selector));
    }
    struct StringField {
      const char* key;
      std::string* out;
      bool allow_empty;
    };
    for (const StringField& f :
         {StringField{"script", &pool.script, false},
          StringField{"partition", &pool.partition, true}, StringField{"gres", &pool.gres, true},
          StringField{"constraint", &pool.constraint, true}}) {
      if (field(f.key) == nullptr) continue;
      absl::StatusOr<std::string> value = String(*field(f.key), dot + f.key, f.allow_empty);
      if (!value.ok()) return value.status();
      *f.out = *std::move(value);
    }
    if (const Value* args = field("sbatch_args"); args != nullptr) {
      absl::StatusOr<std::vector<std::string>> list = Strings(*args, dot + "sbatch_args");
      if (!list.ok()) return list.status();
      pool.sbatch_args = *std::move(list);
    }
    if (const Value* env = field("env"); env != nullptr) {
      if (env->kind_case() != Value::kStructValue) return Bad(dot + "env", "must be an object");
      for (const auto& [key, value] : env->struct_value().fields()) {
        const bool ok_key = !key.empty() &&
                            !absl::ascii_isdigit(static_cast<unsigned char>(key[0])) &&
                            std::all_of(key.begin(), key.end(), [](char c) {
                              return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_';
                            });
        if (!ok_key) return Bad(dot + "env." + key, "not a variable name");
        absl::StatusOr<std::string> v = String(value, dot + "env." + key);
        if (!v.ok()) return v.status();
        // sbatch --export splits on commas.
        if (v->find(',') != std::string::npos)
          return Bad(dot + "env." + key, "must not contain ','");
        pool.env.emplace_back(key, *std::move(v));
      }
    }
    struct IntField {
      const char* key;
      int* out;
    };
    for (const IntField& f : {IntField{"min_workers", &pool.policy.min_workers},
                              IntField{"max_workers", &pool.policy.max_workers},
                              IntField{"jobs_per_worker", &pool.policy.jobs_per_worker},
                              IntField{"scale_up_polls", &pool.policy.scale_up_polls},
                              IntField{"scale_down_polls", &pool.policy.scale_down_polls},
                              IntField{"max_step", &pool.policy.max_step}}) {
      if (field(f.key) == nullptr) continue;
      absl::StatusOr<int> value = Int(*field(f.key), dot + f.key);
      if (!value.ok()) return value.status();
      *f.out = *value;
    }
    if (absl::Status st = ValidateScalingPolicy(pool.policy); !st.ok()) {
      // Its message is "<field>: <what>".
      return absl::InvalidArgumentError(absl::StrCat(source_, ": ", dot, st.message()));
    }
    return pool;
  }

 private:
  std::string source_;
};

}  // namespace

bool ClassSelector::Matches(const std::map<std::string, std::string>& series_labels) const {
  for (const auto& [label, values] : labels) {
    auto it = series_labels.find(label);
    if (it == series_labels.end() ||
        std::find(values.begin(), values.end(), it->second) == values.end()) {
      return false;
    }
  }
  return true;
}

absl::StatusOr<AutoscaleConfig> ParseAutoscaleConfig(absl::string_view json,
                                                     absl::string_view source) {
  const Parser parser(source);
  Struct root;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), &root);
  if (!parsed.ok()) {
    return parser.Bad("(document)",
                      absl::StrCat("not a JSON object: ", parsed.message().ToString()));
  }
  if (absl::Status st = parser.CheckKeys(root, "", {"pools"}); !st.ok()) return st;
  auto it = root.fields().find("pools");
  if (it == root.fields().end() || it->second.kind_case() != Value::kListValue ||
      it->second.list_value().values().empty()) {
    return parser.Bad("pools", "must be a non-empty list");
  }
  AutoscaleConfig config;
  std::set<std::string> names;
  for (int i = 0; i < it->second.list_value().values_size(); ++i) {
    const std::string prefix = absl::StrCat("pools[", i, "]");
    absl::StatusOr<PoolConfig> pool = parser.Pool(it->second.list_value().values(i), prefix);
    if (!pool.ok()) return pool.status();
    if (!names.insert(pool->name).second) {
      return parser.Bad(prefix + ".name", absl::StrCat("\"", pool->name, "\" used twice"));
    }
    config.pools.push_back(*std::move(pool));
  }
  return config;
}

absl::StatusOr<AutoscaleConfig> LoadAutoscaleConfig(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat(path, ": cannot open"));
  std::stringstream text;
  text << in.rdbuf();
  return ParseAutoscaleConfig(text.str(), path);
}

int64_t PoolDemand(const PoolConfig& pool, const std::vector<Sample>& queue_jobs) {
  double total = 0;
  for (const Sample& sample : queue_jobs) {
    const bool served =
        std::any_of(pool.classes.begin(), pool.classes.end(),
                    [&](const ClassSelector& c) { return c.Matches(sample.labels); });
    if (served && sample.value > 0) total += sample.value;
  }
  return static_cast<int64_t>(std::llround(total));
}

std::string SlurmJobName(const PoolConfig& pool) { return absl::StrCat("kiln-", pool.name); }

}  // namespace kiln::autoscale
