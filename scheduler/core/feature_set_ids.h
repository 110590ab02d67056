// FeatureSetIds: small integer ids for the distinct feature sets ("bf16", "fp8", ...)
// that devices advertise, so that placement can keep waiting slots ordered by device
// class (compute capability, memory, features) and skip a whole class whose devices
// lack a feature a job needs, instead of checking each of its slots. A fleet has a
// handful of distinct sets; the table is bounded all the same (workers choose what they
// advertise): past the limit a set gets kUnknown, and placement checks those slots one
// by one, as it would without the table.
// Not thread-safe: the Scheduler guards it with its lock.
#ifndef KILN_SCHEDULER_CORE_FEATURE_SET_IDS_H_
#define KILN_SCHEDULER_CORE_FEATURE_SET_IDS_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "kiln/v1/capability.pb.h"

namespace kiln::core {

class FeatureSetIds {
 public:
  static constexpr int kUnknown = -1;

  explicit FeatureSetIds(size_t max_sets = 1024) : max_sets_(max_sets) {}

  // The id of `device`'s feature set (order and repeats do not matter), or kUnknown.
  int IdOf(const kiln::v1::Device& device);
  // The set's features, sorted and without repeats; null for kUnknown.
  const std::vector<std::string>* Features(int id) const;
  size_t size() const { return sets_.size(); }

 private:
  const size_t max_sets_;
  std::vector<std::vector<std::string>> sets_;
  absl::flat_hash_map<std::vector<std::string>, int> ids_;
};

}  // namespace kiln::core

#endif  // KILN_SCHEDULER_CORE_FEATURE_SET_IDS_H_
