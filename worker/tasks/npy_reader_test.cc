#include "worker/tasks/npy_reader.h"

#include <string>
#include <vector>

#include "common/testing/scoped_temp_dir.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/tasks/testing/npy_test_file.h"

namespace kiln::tasks {
namespace {

using testing::FloatBytes;
using ::testing::HasSubstr;
using ::testing::StartsWith;
using testing::WriteFloat32Npy;
using testing::WriteNpyBytes;
using testing::WriteRawFloat32;

constexpr char kDict234[] = "{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3, 2), }";

class NpyReaderTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) { return temp_.path() + "/" + name; }

  // 24 distinct samples for a (4, 3, 2) array.
  static std::vector<float> Ramp() {
    std::vector<float> v(24);
    for (size_t i = 0; i < v.size(); ++i) v[i] = 0.5f * static_cast<float>(i) - 3;
    return v;
  }

  std::string Error(const std::string& dict, const std::string& data, int major = 1) {
    WriteNpyBytes(Path("bad.npy"), dict, major, data);
    auto volume = ReadNpyFloat32Volume(Path("bad.npy"), "bad.npy", 100);
    EXPECT_EQ(volume.status().code(), absl::StatusCode::kInvalidArgument) << dict;
    EXPECT_THAT(std::string(volume.status().message()), StartsWith("bad.npy: "));
    return std::string(volume.status().message());
  }

  kiln::testing::ScopedTempDir temp_;
};

TEST_F(NpyReaderTest, ReadsVersion1And2HeadersWithXFastest) {
  const std::vector<float> ramp = Ramp();
  for (int major : {1, 2}) {
    WriteFloat32Npy(Path("v.npy"), 2, 3, 4, ramp, major);
    auto header = ReadNpyFloat32Header(Path("v.npy"), "v.npy");
    ASSERT_TRUE(header.ok()) << header.status();
    EXPECT_EQ(header->shape, (std::vector<int64_t>{4, 3, 2}));
    EXPECT_EQ(header->data_offset % 64, 0);
    auto volume = ReadNpyFloat32Volume(Path("v.npy"), "v.npy", 100);
    ASSERT_TRUE(volume.ok()) << "version " << major << ": " << volume.status();
    EXPECT_EQ(volume->dims, (std::array<int, 3>{2, 3, 4}));
    EXPECT_EQ(volume->values, ramp);
  }
}

TEST_F(NpyReaderTest, AcceptsNumpysOtherSpellings) {
  // Double quotes, key order and no trailing comma are all valid Python dict literals.
  WriteNpyBytes(Path("v.npy"), R"({"shape": (4,3,2), "fortran_order": False, "descr": "<f4"})", 1,
                FloatBytes(Ramp()));
  auto volume = ReadNpyFloat32Volume(Path("v.npy"), "v.npy", 100);
  ASSERT_TRUE(volume.ok()) << volume.status();
  EXPECT_EQ(volume->dims, (std::array<int, 3>{2, 3, 4}));
}

TEST_F(NpyReaderTest, WrongDtypeIsNamed) {
  EXPECT_EQ(Error("{'descr': '<f8', 'fortran_order': False, 'shape': (4, 3, 2), }",
                  std::string(24 * 8, '\0')),
            "bad.npy: dtype '<f8' is not supported (only '<f4', little-endian float32)");
  EXPECT_THAT(
      Error("{'descr': '>f4', 'fortran_order': False, 'shape': (4, 3, 2), }", FloatBytes(Ramp())),
      HasSubstr("dtype '>f4' is not supported"));
}

TEST_F(NpyReaderTest, FortranOrderIsRefused) {
  EXPECT_EQ(
      Error("{'descr': '<f4', 'fortran_order': True, 'shape': (4, 3, 2), }", FloatBytes(Ramp())),
      "bad.npy: fortran_order True is not supported (write a C-ordered array)");
}

TEST_F(NpyReaderTest, TruncatedAndOverlongDataGiveBothSizes) {
  const std::string data = FloatBytes(Ramp());
  EXPECT_EQ(Error(kDict234, data.substr(0, 90)),
            "bad.npy: truncated: has 90 bytes of data, shape (4, 3, 2) needs 96");
  EXPECT_EQ(Error(kDict234, data + "xyzw"),
            "bad.npy: has 100 bytes of data, shape (4, 3, 2) needs 96");
}

TEST_F(NpyReaderTest, BadMagicHeaderAndShape) {
  { std::ofstream(Path("bad.npy")) << "PK\x03\x04 this is a zip file"; }
  auto zip = ReadNpyFloat32Volume(Path("bad.npy"), "bad.npy", 100);
  EXPECT_EQ(zip.status().message(), "bad.npy: bad magic: not a .npy file (expected \\x93NUMPY)");
  { std::ofstream(Path("bad.npy")) << "\x93NUM"; }
  EXPECT_THAT(ReadNpyFloat32Volume(Path("bad.npy"), "bad.npy", 100).status().message(),
              HasSubstr("bad magic"));

  EXPECT_EQ(Error("no dict here", ""), "bad.npy: bad .npy header: not a dictionary");
  EXPECT_EQ(Error("{'fortran_order': False, 'shape': (4, 3, 2), }", ""),
            "bad.npy: bad .npy header: no 'descr' string");
  EXPECT_EQ(Error("{'descr': '<f4', 'shape': (4, 3, 2), }", ""),
            "bad.npy: bad .npy header: no 'fortran_order'");
  EXPECT_EQ(Error("{'descr': '<f4', 'fortran_order': False, 'shape': (24,), }", ""),
            "bad.npy: shape (24) has 1 dimensions; 3 needed [sz, sy, sx]");
  EXPECT_EQ(Error("{'descr': '<f4', 'fortran_order': False, 'shape': (4, x, 2), }", ""),
            "bad.npy: bad .npy header: shape entry \"x\" is not a non-negative integer");
  // A shape past the limit fails before any allocation.
  EXPECT_EQ(Error("{'descr': '<f4', 'fortran_order': False, 'shape': (4, 3, 100000), }", ""),
            "bad.npy: shape (4, 3, 100000): each axis must have 1 to 100 samples");

  // A header length that runs past the end of the file.
  {
    std::ofstream(Path("bad.npy"), std::ios::binary)
        << std::string("\x93NUMPY\x01\x00\xff\x00{", 11);
  }
  EXPECT_EQ(ReadNpyFloat32Volume(Path("bad.npy"), "bad.npy", 100).status().message(),
            "bad.npy: truncated .npy header");
  { std::ofstream(Path("bad.npy"), std::ios::binary) << std::string("\x93NUMPY\x09\x00", 8); }
  EXPECT_EQ(ReadNpyFloat32Volume(Path("bad.npy"), "bad.npy", 100).status().message(),
            "bad.npy: .npy format version 9.0 is not supported (1.0 and 2.0 are)");
  EXPECT_THAT(
      std::string(ReadNpyFloat32Volume(Path("missing.npy"), "missing.npy", 100).status().message()),
      StartsWith("missing.npy: cannot"));
}

TEST_F(NpyReaderTest, RawMustBeExactlyTheDimsSize) {
  const std::vector<float> ramp = Ramp();
  WriteRawFloat32(Path("v.raw"), ramp);
  auto volume = ReadRawFloat32Volume(Path("v.raw"), "v.raw", {2, 3, 4});
  ASSERT_TRUE(volume.ok()) << volume.status();
  EXPECT_EQ(volume->dims, (std::array<int, 3>{2, 3, 4}));
  EXPECT_EQ(volume->values, ramp);

  auto small = ReadRawFloat32Volume(Path("v.raw"), "v.raw", {3, 3, 4});
  EXPECT_EQ(small.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(small.status().message(),
            "v.raw has 96 bytes, dims [3, 3, 4] need 144 (float32, x fastest)");
  auto large = ReadRawFloat32Volume(Path("v.raw"), "v.raw", {2, 2, 4});
  EXPECT_EQ(large.status().message(),
            "v.raw has 96 bytes, dims [2, 2, 4] need 64 (float32, x fastest)");
}

}  // namespace
}  // namespace kiln::tasks
