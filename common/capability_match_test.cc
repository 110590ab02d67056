#include "common/capability_match.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "common/device_features.h"
#include "google/protobuf/util/json_util.h"

namespace kiln {
namespace {

kiln::v1::Device Gpu(int cc, int gib) {
  kiln::v1::Device device;
  device.set_id(cc ? "cuda:0" : "cpu");
  device.set_compute_capability(cc);
  device.set_total_memory_bytes(int64_t{gib} << 30);
  device.set_runnable(true);
  for (const std::string& f : FeaturesForComputeCapability(cc)) device.add_features(f);
  return device;
}

kiln::v1::Slot SlotFor(const kiln::v1::Device& device) {
  kiln::v1::Slot slot;
  slot.set_device_id(device.id());
  slot.add_tasks("mesh.extract");
  return slot;
}

kiln::v1::JobSpec Spec(const std::string& json) {
  kiln::v1::JobSpec spec;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(json, &spec).ok()) << json;
  spec.set_task("mesh.extract");
  return spec;
}

// Table-driven feasibility: each row is a job, and the tier each device runs it
// in (-1: cannot).
struct Row {
  const char* name;
  const char* spec_json;
  int on_sm120_32g, on_sm90_80g, on_sm86_24g, on_sm75_16g, on_cpu;
};

TEST(CapabilityMatchTest, FeasibilityTable) {
  const kiln::v1::Device sm120 = Gpu(120, 32), sm90 = Gpu(90, 80), sm86 = Gpu(86, 24),
                         sm75 = Gpu(75, 16), cpu = Gpu(0, 64);
  const Row rows[] = {
      {"generic, any device", R"({})", 0, 0, 0, 0, 0},
      {"any GPU", R"({"requirements":{"accelerator":"ACCELERATOR_GPU"}})", 0, 0, 0, 0, -1},
      {"cpu only", R"({"requirements":{"accelerator":"ACCELERATOR_CPU"}})", -1, -1, -1, -1, 0},
      {"sm_120 only", R"({"requirements":{"architectures":["sm_120"]}})", 0, -1, -1, -1, -1},
      {"cc >= 8.0", R"({"requirements":{"minComputeCapability":80}})", 0, 0, 0, -1, -1},
      {"cc 8.0..9.0", R"({"requirements":{"minComputeCapability":80,"maxComputeCapability":90}})",
       -1, 0, 0, -1, -1},
      {"needs bf16", R"({"requirements":{"features":["bf16"]}})", 0, 0, 0, -1, -1},
      {"needs fp8", R"({"requirements":{"features":["fp8"]}})", 0, 0, -1, -1, -1},
      {"40 GiB GPU", R"({"requirements":{"accelerator":"ACCELERATOR_GPU",
                           "minDeviceMemoryBytes":"42949672960"}})",
       -1, 0, -1, -1, -1},
      {"tiers: sm_120 bf16, then cc 8.0 fp16, then cpu",
       R"({"tiers":[{"name":"blackwell","requirements":{"architectures":["sm_120"],"features":["bf16"]}},
                    {"name":"ampere","requirements":{"minComputeCapability":80}},
                    {"name":"cpu","requirements":{"accelerator":"ACCELERATOR_CPU"}}]})",
       0, 1, 1, -1, 2},
      {"tiers without a CPU tier", R"({"tiers":[{"requirements":{"minComputeCapability":90}}]})", 0,
       0, -1, -1, -1},
  };
  for (const Row& row : rows) {
    const kiln::v1::JobSpec spec = Spec(row.spec_json);
    EXPECT_EQ(FirstFittingTier(sm120, SlotFor(sm120), spec), row.on_sm120_32g) << row.name;
    EXPECT_EQ(FirstFittingTier(sm90, SlotFor(sm90), spec), row.on_sm90_80g) << row.name;
    EXPECT_EQ(FirstFittingTier(sm86, SlotFor(sm86), spec), row.on_sm86_24g) << row.name;
    EXPECT_EQ(FirstFittingTier(sm75, SlotFor(sm75), spec), row.on_sm75_16g) << row.name;
    EXPECT_EQ(FirstFittingTier(cpu, SlotFor(cpu), spec), row.on_cpu) << row.name;
  }
}

std::vector<std::string> SortedFeatures(const kiln::v1::Device& device) {
  std::vector<std::string> features(device.features().begin(), device.features().end());
  std::sort(features.begin(), features.end());
  return features;
}

// Placement skips a run of waiting slots with equal (compute capability, memory,
// features) when DeviceClassMayFit says none can run a tier: it must hold wherever
// Fits does, with the features known or not.
TEST(CapabilityMatchTest, DeviceClassMayFitIsNecessaryForFits) {
  const kiln::v1::Device devices[] = {Gpu(120, 32), Gpu(90, 80), Gpu(86, 24), Gpu(75, 16),
                                      Gpu(0, 64)};
  const char* specs[] = {
      R"({})",
      R"({"requirements":{"accelerator":"ACCELERATOR_GPU"}})",
      R"({"requirements":{"accelerator":"ACCELERATOR_CPU"}})",
      R"({"requirements":{"architectures":["sm_120","sm_86"]}})",
      R"({"requirements":{"minComputeCapability":80,"maxComputeCapability":90}})",
      R"({"requirements":{"features":["fp8"]}})",
      R"({"requirements":{"minDeviceMemoryBytes":"42949672960"}})",
      R"({"tiers":[{"requirements":{"architectures":["sm_120"]}},
                   {"requirements":{"accelerator":"ACCELERATOR_CPU"}}]})",
  };
  int fits = 0, skipped = 0;
  for (const char* json : specs) {
    const kiln::v1::JobSpec spec = Spec(json);
    for (const kiln::v1::Device& device : devices) {
      for (int tier = 0; tier < TierCount(spec); ++tier) {
        const std::vector<std::string> features = SortedFeatures(device);
        const bool may_fit =
            DeviceClassMayFit(device.compute_capability(), device.total_memory_bytes(), &features,
                              TierRequirements(spec, tier));
        const bool may_fit_unknown_features =
            DeviceClassMayFit(device.compute_capability(), device.total_memory_bytes(), nullptr,
                              TierRequirements(spec, tier));
        EXPECT_TRUE(may_fit_unknown_features || !may_fit) << json;
        if (Fits(device, SlotFor(device), spec, tier)) {
          ++fits;
          EXPECT_TRUE(may_fit) << json << " on cc " << device.compute_capability();
          EXPECT_TRUE(may_fit_unknown_features) << json;
        } else if (!may_fit) {
          ++skipped;
        }
      }
    }
  }
  EXPECT_GT(fits, 10);
  EXPECT_GT(skipped, 10);
  const kiln::v1::Requirements any_gpu = Spec(specs[1]).requirements();
  EXPECT_FALSE(DeviceClassMayFit(0, int64_t{64} << 30, nullptr, any_gpu));
  const kiln::v1::Requirements cpu_only = Spec(specs[2]).requirements();
  EXPECT_FALSE(DeviceClassMayFit(86, int64_t{24} << 30, nullptr, cpu_only));
  const kiln::v1::Requirements archs = Spec(specs[3]).requirements();
  EXPECT_FALSE(DeviceClassMayFit(90, int64_t{80} << 30, nullptr, archs));
  EXPECT_TRUE(DeviceClassMayFit(86, int64_t{24} << 30, nullptr, archs));
  const kiln::v1::Requirements band = Spec(specs[4]).requirements();
  EXPECT_FALSE(DeviceClassMayFit(120, int64_t{32} << 30, nullptr, band));
  EXPECT_FALSE(DeviceClassMayFit(75, int64_t{16} << 30, nullptr, band));
  const kiln::v1::Requirements big = Spec(specs[6]).requirements();
  EXPECT_FALSE(DeviceClassMayFit(120, int64_t{32} << 30, nullptr, big));
  EXPECT_TRUE(DeviceClassMayFit(90, int64_t{80} << 30, nullptr, big));
  // Features: a class whose feature set lacks one is skipped; with the features not
  // known they are left to Fits.
  const kiln::v1::Requirements fp8 = Spec(specs[5]).requirements();
  const std::vector<std::string> sm86_features = SortedFeatures(Gpu(86, 24));
  const std::vector<std::string> sm90_features = SortedFeatures(Gpu(90, 80));
  EXPECT_FALSE(DeviceClassMayFit(86, int64_t{24} << 30, &sm86_features, fp8));
  EXPECT_TRUE(DeviceClassMayFit(90, int64_t{80} << 30, &sm90_features, fp8));
  EXPECT_TRUE(DeviceClassMayFit(86, int64_t{24} << 30, nullptr, fp8));
  EXPECT_FALSE(Fits(Gpu(86, 24), SlotFor(Gpu(86, 24)), Spec(specs[5])));
}

TEST(CapabilityMatchTest, ReasonsSayWhy) {
  const kiln::v1::Device sm86 = Gpu(86, 24), cpu = Gpu(0, 64);
  EXPECT_EQ(WhyCannotRun(cpu, SlotFor(cpu), Spec(R"({"requirements":{"accelerator":2}})")),
            "device cpu is not a GPU");
  EXPECT_EQ(
      WhyCannotRun(sm86, SlotFor(sm86), Spec(R"({"requirements":{"minComputeCapability":90}})")),
      "device cuda:0 has compute capability 8.6, below 9.0");
  EXPECT_EQ(
      WhyCannotRun(sm86, SlotFor(sm86), Spec(R"({"requirements":{"architectures":["sm_120"]}})")),
      "device cuda:0 is sm_86, not sm_120");
  EXPECT_EQ(WhyCannotRun(sm86, SlotFor(sm86), Spec(R"({"requirements":{"features":["fp8"]}})")),
            "device cuda:0 has no fp8");
  EXPECT_EQ(WhyCannotRun(sm86, SlotFor(sm86),
                         Spec(R"({"requirements":{"minDeviceMemoryBytes":"34359738368"}})")),
            "device cuda:0 has 24.0 GiB, below 32.0 GiB");
  kiln::v1::Device broken = sm86;
  broken.set_runnable(false);
  broken.set_unrunnable_reason("no kernel image for sm_86: built for sm_120");
  EXPECT_EQ(WhyCannotRun(broken, SlotFor(broken), Spec("{}")),
            "device cuda:0 is not runnable: no kernel image for sm_86: built for sm_120");
  kiln::v1::JobSpec other = Spec("{}");
  other.set_task("debug.sleep");
  EXPECT_EQ(WhyCannotRun(sm86, SlotFor(sm86), other), "slot 0 does not run task debug.sleep");
}

TEST(CapabilityMatchTest, MemoryHeldByRunningJobsCounts) {
  const kiln::v1::Device sm90 = Gpu(90, 80);
  const kiln::v1::JobSpec spec = Spec(R"({"requirements":{"minDeviceMemoryBytes":"42949672960"}})");
  EXPECT_EQ(FirstFittingTier(sm90, SlotFor(sm90), spec, /*reserved_bytes=*/int64_t{30} << 30), 0);
  EXPECT_EQ(FirstFittingTier(sm90, SlotFor(sm90), spec, int64_t{50} << 30), -1);
  EXPECT_NE(WhyCannotRun(sm90, SlotFor(sm90), spec, 0, int64_t{50} << 30).find("not reserved"),
            std::string::npos);
}

TEST(CapabilityMatchTest, TiersCarryTheirModelAndParameters) {
  kiln::v1::JobSpec spec = Spec(
      R"({"model":"base","parameters":{"resolution":64,"dtype":"fp32"},
          "tiers":[{"name":"fast","model":"base-bf16","parameters":{"dtype":"bf16"}},{}]})");
  EXPECT_EQ(TierCount(spec), 2);
  EXPECT_EQ(TierModel(spec, 0), "base-bf16");
  EXPECT_EQ(TierModel(spec, 1), "base");
  EXPECT_EQ(TierName(spec, 0), "fast");
  EXPECT_EQ(TierName(spec, 1), "tier-1");
  EXPECT_EQ(TierParameters(spec, 0).fields().at("dtype").string_value(), "bf16");
  EXPECT_EQ(TierParameters(spec, 0).fields().at("resolution").number_value(), 64);
  EXPECT_EQ(TierParameters(spec, 1).fields().at("dtype").string_value(), "fp32");
  EXPECT_EQ(TierName(Spec("{}"), 0), "default");
}

TEST(CapabilityMatchTest, ModelReferencesMatchNameOrNameAtVersion) {
  EXPECT_TRUE(ModelRefMatches("torus", "torus@1"));
  EXPECT_TRUE(ModelRefMatches("torus@1", "torus@1"));
  EXPECT_FALSE(ModelRefMatches("torus@2", "torus@1"));
  EXPECT_FALSE(ModelRefMatches("tor", "torus@1"));
  EXPECT_FALSE(ModelRefMatches("torus@1", "torus@10"));
  EXPECT_FALSE(ModelRefMatches("torus-large", "torus@1"));
}

TEST(CapabilityMatchTest, AJobNamingAModelNeedsASlotThatRunsIt) {
  const kiln::v1::Device sm90 = Gpu(90, 80);
  kiln::v1::Slot slot = SlotFor(sm90);
  slot.add_models("torus@1");
  slot.add_models("triposr@2");
  EXPECT_EQ(FirstFittingTier(sm90, slot, Spec(R"({"model":"torus"})")), 0);
  EXPECT_EQ(FirstFittingTier(sm90, slot, Spec(R"({"model":"triposr@2"})")), 0);
  EXPECT_EQ(WhyCannotRun(sm90, slot, Spec(R"({"model":"triposr@3"})")),
            "slot 0 has no model triposr@3");
  // A tier with a model the slot lacks falls through to the next tier.
  EXPECT_EQ(FirstFittingTier(sm90, slot, Spec(R"({"model":"torus","tiers":[{"model":"big"},{}]})")),
            1);
  // Jobs without a model are not affected by what the slot has.
  EXPECT_EQ(FirstFittingTier(sm90, SlotFor(sm90), Spec("{}")), 0);
}

TEST(CapabilityMatchTest, SpecificityAndClassKeys) {
  EXPECT_EQ(Specificity(Spec("{}").requirements()), 0);
  EXPECT_EQ(Specificity(Spec(R"({"requirements":{"minComputeCapability":80}})").requirements()),
            80);
  EXPECT_EQ(
      Specificity(Spec(R"({"requirements":{"architectures":["sm_120","sm_100"]}})").requirements()),
      100);
  kiln::v1::JobSpec a = Spec(R"({"requirements":{"architectures":["sm_90","sm_80"]}})");
  kiln::v1::JobSpec b = Spec(R"({"requirements":{"architectures":["sm_80","sm_90"]},
                                 "parameters":{"resolution":64},"priority":7})");
  EXPECT_EQ(RequirementClassKey(a), RequirementClassKey(b));
  b.mutable_requirements()->add_features("bf16");
  EXPECT_NE(RequirementClassKey(a), RequirementClassKey(b));
  kiln::v1::JobSpec tiered = Spec(R"({"tiers":[{"requirements":{"minComputeCapability":80}}]})");
  EXPECT_NE(RequirementClassKey(tiered), RequirementClassKey(Spec("{}")));
  EXPECT_EQ(ArchitectureName(120), "sm_120");
  EXPECT_EQ(ArchitectureName(0), "");
}

}  // namespace
}  // namespace kiln
