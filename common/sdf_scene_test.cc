#include "common/sdf_scene.h"

#include <cmath>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace kiln {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

google::protobuf::Value Json(const std::string& json) {
  google::protobuf::Value v;
  const auto status = google::protobuf::util::JsonStringToMessage(json, &v);
  EXPECT_TRUE(status.ok()) << status << " in " << json;
  return v;
}

SdfScene Scene(const std::string& json) {
  auto scene = SdfScene::Parse(Json(json), "parameters.shape");
  EXPECT_TRUE(scene.ok()) << scene.status();
  return *std::move(scene);
}

std::string Error(const std::string& json) {
  auto scene = SdfScene::Parse(Json(json), "parameters.shape");
  EXPECT_FALSE(scene.ok()) << json;
  EXPECT_EQ(scene.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(scene.status().message());
}

void ExpectBounds(const SdfScene& s, Vec3 min, Vec3 max) {
  for (int a = 0; a < 3; ++a) {
    EXPECT_DOUBLE_EQ(s.bounds().min[a], min[a]) << "axis " << a;
    EXPECT_DOUBLE_EQ(s.bounds().max[a], max[a]) << "axis " << a;
  }
}

TEST(SdfSceneTest, Sphere) {
  const SdfScene s = Scene(R"({"type":"sphere","radius":2,"center":[1,0,0]})");
  EXPECT_DOUBLE_EQ(s.Distance({1, 0, 0}), -2);
  EXPECT_DOUBLE_EQ(s.Distance({4, 0, 0}), 1);
  EXPECT_DOUBLE_EQ(s.Distance({1, 0, 2}), 0);
  ExpectBounds(s, {-1, -2, -2}, {3, 2, 2});
  EXPECT_EQ(s.node_count(), 1);
}

TEST(SdfSceneTest, CenterDefaultsToOrigin) {
  const SdfScene s = Scene(R"({"type":"sphere","radius":1})");
  EXPECT_DOUBLE_EQ(s.Distance({0, 0, 0}), -1);
}

TEST(SdfSceneTest, BoxIsExact) {
  // Size 2 x 4 x 6 centred at (1, 1, 1): half sizes 1, 2, 3.
  const SdfScene s = Scene(R"({"type":"box","size":[2,4,6],"center":[1,1,1]})");
  EXPECT_DOUBLE_EQ(s.Distance({1, 1, 1}), -1);  // Nearest face is x at distance 1.
  EXPECT_DOUBLE_EQ(s.Distance({1.5, 1, 1}), -0.5);
  EXPECT_DOUBLE_EQ(s.Distance({3, 1, 1}), 1);               // Outside a face.
  EXPECT_DOUBLE_EQ(s.Distance({3, 4, 1}), std::sqrt(2.0));  // Outside an edge.
  EXPECT_DOUBLE_EQ(s.Distance({3, 4, 5}), std::sqrt(3.0));  // Outside a corner.
  ExpectBounds(s, {0, -1, -2}, {2, 3, 4});
}

TEST(SdfSceneTest, TorusAroundZ) {
  const SdfScene s = Scene(R"({"type":"torus","major_radius":2,"minor_radius":0.5})");
  EXPECT_DOUBLE_EQ(s.Distance({2, 0, 0}), -0.5);  // On the core circle.
  EXPECT_DOUBLE_EQ(s.Distance({0, -2, 0}), -0.5);
  EXPECT_DOUBLE_EQ(s.Distance({0, 0, 0}), 1.5);  // The hole.
  EXPECT_DOUBLE_EQ(s.Distance({2, 0, 1.5}), 1);  // Above the tube.
  ExpectBounds(s, {-2.5, -2.5, -0.5}, {2.5, 2.5, 0.5});
}

TEST(SdfSceneTest, Combinations) {
  const std::string a = R"({"type":"sphere","radius":1,"center":[-0.5,0,0]})";
  const std::string b = R"({"type":"sphere","radius":1,"center":[0.5,0,0]})";
  const SdfScene u = Scene(absl::StrCat(R"({"type":"union","children":[)", a, ",", b, "]}"));
  const SdfScene i = Scene(absl::StrCat(R"({"type":"intersection","children":[)", a, ",", b, "]}"));
  const SdfScene d = Scene(absl::StrCat(R"({"type":"difference","children":[)", a, ",", b, "]}"));
  const Vec3 left = {-1.2, 0, 0}, middle = {0, 0, 0}, right = {1.2, 0, 0};
  EXPECT_LT(u.Distance(left), 0);
  EXPECT_LT(u.Distance(right), 0);
  EXPECT_GT(i.Distance(left), 0);
  EXPECT_LT(i.Distance(middle), 0);
  EXPECT_LT(d.Distance(left), 0);
  EXPECT_GT(d.Distance(middle), 0);
  EXPECT_GT(d.Distance(right), 0);
  ExpectBounds(u, {-1.5, -1, -1}, {1.5, 1, 1});
  ExpectBounds(i, {-0.5, -1, -1}, {0.5, 1, 1});
  ExpectBounds(d, {-1.5, -1, -1}, {0.5, 1, 1});  // The base's bounds.
  EXPECT_EQ(u.node_count(), 3);
}

TEST(SdfSceneTest, ConcurrentEvaluationMatchesSerial) {
  const SdfScene s = Scene(
      R"({"type":"difference","children":[{"type":"box","size":[2,2,2]},
          {"type":"torus","major_radius":1,"minor_radius":0.25}]})");
  const SdfScene copy = s;  // Copies share the tree.
  std::vector<double> serial, results[4];
  for (int n = 0; n < 1000; ++n) serial.push_back(s.Distance({n * 0.002 - 1, 0.3, n * 0.001}));
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int n = 0; n < 1000; ++n) {
        results[t].push_back(copy.Distance({n * 0.002 - 1, 0.3, n * 0.001}));
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& r : results) EXPECT_EQ(r, serial);
}

TEST(SdfSceneTest, ErrorsNameTheField) {
  EXPECT_EQ(Error(R"({"type":"cone"})"),
            "parameters.shape.type: unknown shape \"cone\" (known: box, difference, "
            "intersection, sphere, torus, union)");
  EXPECT_EQ(Error(R"({"radius":1})"), "parameters.shape.type: required");
  EXPECT_EQ(Error(R"({"type":3})"), "parameters.shape.type: must be a string");
  EXPECT_THAT(Error(R"("sphere")"), StartsWith("parameters.shape: must be an object"));
  EXPECT_EQ(Error(R"({"type":"union","children":[{"type":"sphere","radius":1},
                                                  {"type":"sphere","radius":0}]})"),
            "parameters.shape.children[1].radius: must be > 0");
  EXPECT_EQ(Error(R"({"type":"sphere","radius":-1})"), "parameters.shape.radius: must be > 0");
  EXPECT_EQ(Error(R"({"type":"sphere"})"), "parameters.shape.radius: required");
  EXPECT_THAT(Error(R"({"type":"sphere","radius":"1"})"),
              StartsWith("parameters.shape.radius: must be a number"));
  EXPECT_THAT(Error(R"({"type":"sphere","radius":2e6})"),
              StartsWith("parameters.shape.radius: must be finite with magnitude <= "));
  EXPECT_THAT(Error(R"({"type":"sphere","radius":1,"center":[0,-1e7,0]})"),
              StartsWith("parameters.shape.center[1]: must be finite"));
  EXPECT_EQ(Error(R"({"type":"sphere","radius":1,"center":[0,0]})"),
            "parameters.shape.center: must be a list of 3 numbers");
  EXPECT_EQ(Error(R"({"type":"sphere","radius":1,"radus":2})"),
            "parameters.shape.radus: unknown field for a sphere (known: center, radius, type)");
  EXPECT_EQ(Error(R"({"type":"box","size":[1,0,1]})"), "parameters.shape.size[1]: must be > 0");
  EXPECT_EQ(Error(R"({"type":"box","size":1})"),
            "parameters.shape.size: must be a list of 3 numbers");
  EXPECT_EQ(Error(R"({"type":"torus","major_radius":1})"),
            "parameters.shape.minor_radius: required");
  EXPECT_EQ(Error(R"({"type":"torus","major_radius":0,"minor_radius":1})"),
            "parameters.shape.major_radius: must be > 0");
  EXPECT_EQ(Error(R"({"type":"union"})"), "parameters.shape.children: required");
  EXPECT_EQ(Error(R"({"type":"union","children":{}})"),
            "parameters.shape.children: must be a list of shapes");
  EXPECT_EQ(Error(R"({"type":"union","children":[]})"),
            "parameters.shape.children: must hold 1 to 64 shapes (got 0)");
  EXPECT_EQ(Error(R"({"type":"difference","children":[{"type":"sphere","radius":1}]})"),
            "parameters.shape.children: must hold 2 to 64 shapes (got 1)");
  EXPECT_EQ(Error(R"({"type":"union","children":[{"type":"sphere","radius":1}],"center":[0,0,0]})"),
            "parameters.shape.center: unknown field for a union (known: children, type)");
  EXPECT_EQ(Error(R"({"type":"intersection","children":[
                       {"type":"sphere","radius":1,"center":[-5,0,0]},
                       {"type":"sphere","radius":1,"center":[5,0,0]}]})"),
            "parameters.shape: the intersection is empty (the children's bounds do not "
            "overlap)");
}

TEST(SdfSceneTest, ChildrenLimit) {
  std::vector<std::string> spheres(kSdfMaxChildren, R"({"type":"sphere","radius":1})");
  const std::string json = R"({"type":"union","children":[)" + absl::StrJoin(spheres, ",");
  EXPECT_EQ(Scene(json + "]}").node_count(), kSdfMaxChildren + 1);
  EXPECT_EQ(Error(json + R"(,{"type":"sphere","radius":1}]})"),
            "parameters.shape.children: must hold 1 to 64 shapes (got 65)");
}

std::string Nested(int depth) {
  std::string json = R"({"type":"sphere","radius":1})";
  for (int d = 1; d < depth; ++d) json = R"({"type":"union","children":[)" + json + "]}";
  return json;
}

TEST(SdfSceneTest, DepthLimit) {
  EXPECT_EQ(Scene(Nested(kSdfMaxDepth)).node_count(), kSdfMaxDepth);
  std::string path = "parameters.shape";
  for (int d = 1; d < kSdfMaxDepth + 1; ++d) path += ".children[0]";
  EXPECT_EQ(Error(Nested(kSdfMaxDepth + 1)), path + ": shapes nest deeper than 16 levels");
}

TEST(SdfSceneTest, NodeLimit) {
  // 4 unions of 63 spheres under one root: 1 + 4 * 64 = 257 nodes.
  std::vector<std::string> spheres(63, R"({"type":"sphere","radius":1})");
  const std::string group = R"({"type":"union","children":[)" + absl::StrJoin(spheres, ",") + "]}";
  const std::string three =
      R"({"type":"union","children":[)" + absl::StrJoin({group, group, group}, ",");
  EXPECT_EQ(Scene(three + "]}").node_count(), 1 + 3 * 64);
  // The 256th node is the last child of the last group; the next one is one too many.
  EXPECT_EQ(Scene(three + "," + R"({"type":"union","children":[)" +
                  absl::StrJoin(std::vector<std::string>(62, spheres[0]), ",") + "]}]}")
                .node_count(),
            kSdfMaxNodes);
  EXPECT_EQ(Error(three + "," + group + "]}"),
            "parameters.shape.children[3].children[62]: the scene has more than 256 shapes");
}

}  // namespace
}  // namespace kiln
