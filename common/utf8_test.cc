#include "common/utf8.h"

#include <gtest/gtest.h>

#include "google/protobuf/stubs/common.h"

namespace kiln {
namespace {

TEST(Utf8Test, NeverCutsACharacter) {
  const std::string text = "ab\xe6\x97\xa5\xe6\x9c\xac";  // "ab" + two 3-byte characters
  EXPECT_EQ(TruncateUtf8(text, 100), text);
  EXPECT_EQ(TruncateUtf8(text, 2), "ab");
  EXPECT_EQ(TruncateUtf8(text, 3), "ab");
  EXPECT_EQ(TruncateUtf8(text, 4), "ab");
  EXPECT_EQ(TruncateUtf8(text, 5), "ab\xe6\x97\xa5");
  EXPECT_EQ(TruncateUtf8(text, 7), "ab\xe6\x97\xa5");
  EXPECT_EQ(TruncateUtf8(text, 0), "");
  for (size_t n = 0; n <= text.size(); ++n) {
    const std::string cut = TruncateUtf8(text, n);
    EXPECT_TRUE(google::protobuf::internal::IsStructurallyValidUTF8(cut.data(),
                                                                    static_cast<int>(cut.size())))
        << n;
  }
}

}  // namespace
}  // namespace kiln
