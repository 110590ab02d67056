#include "worker/image/connected_components.h"

#include <gtest/gtest.h>

namespace kiln::image {
namespace {

TEST(ConnectedComponentsTest, DiagonalNeighboursJoinOnlyWithEightConnectivity) {
  // Two diagonal pixels, and a separate 2-pixel bar.
  const std::vector<uint8_t> mask = {
      1, 0, 0, 0,  //
      0, 1, 0, 1,  //
      0, 0, 0, 1,  //
  };
  std::vector<int32_t> labels;
  std::vector<int64_t> sizes = LabelComponents(4, 3, mask, Connectivity::kFour, labels);
  EXPECT_EQ(sizes, (std::vector<int64_t>{0, 1, 1, 2}));
  EXPECT_NE(labels[0], labels[5]);
  EXPECT_EQ(labels[7], labels[11]);

  sizes = LabelComponents(4, 3, mask, Connectivity::kEight, labels);
  EXPECT_EQ(sizes, (std::vector<int64_t>{0, 2, 2}));
  EXPECT_EQ(labels[0], 1);
  EXPECT_EQ(labels[5], 1);
  EXPECT_EQ(labels[7], 2);
  EXPECT_EQ(labels[2], 0);  // background
}

TEST(ConnectedComponentsTest, DoesNotWrapAroundRowEnds) {
  // The last pixel of row 0 and the first of row 1 are adjacent in memory only.
  const std::vector<uint8_t> mask = {0, 0, 1, 1, 0, 0};
  std::vector<int32_t> labels;
  EXPECT_EQ(LabelComponents(3, 2, mask, Connectivity::kEight, labels).size(), 3u);
}

}  // namespace
}  // namespace kiln::image
