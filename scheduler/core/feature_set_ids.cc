#include "scheduler/core/feature_set_ids.h"

#include <algorithm>

namespace kiln::core {

int FeatureSetIds::IdOf(const kiln::v1::Device& device) {
  std::vector<std::string> features(device.features().begin(), device.features().end());
  std::sort(features.begin(), features.end());
  features.erase(std::unique(features.begin(), features.end()), features.end());
  if (auto it = ids_.find(features); it != ids_.end()) return it->second;
  if (sets_.size() >= max_sets_) return kUnknown;
  const int id = static_cast<int>(sets_.size());
  sets_.push_back(features);
  ids_.emplace(std::move(features), id);
  return id;
}

const std::vector<std::string>* FeatureSetIds::Features(int id) const {
  if (id < 0 || static_cast<size_t>(id) >= sets_.size()) return nullptr;
  return &sets_[id];
}

}  // namespace kiln::core
