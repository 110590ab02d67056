#include "worker/tasks/meshio/glb.h"

#include <cmath>
#include <cstring>
#include <exception>
#include <limits>
#include <optional>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/tasks/meshio/mesh_checks.h"
#include "worker/tasks/meshio/mesh_file.h"

// Debian's libtinygltf-dev ships tinygltf compiled (libtinygltf.so, with its JSON parser
// and stb_image inside) and no json.hpp, so Kiln includes only the declarations and
// links the library; images are never decoded (see NoImages below).
#include "tiny_gltf.h"

namespace kiln::tasks {
namespace {

using Vec3f = std::array<float, 3>;
// Column-major 4x4, as glTF's node.matrix.
using Matrix4 = std::array<double, 16>;

constexpr size_t kMaxNodeDepth = 256;

constexpr Matrix4 kIdentity = {1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1};

// ---- Colour spaces: Mesh colours are sRGB bytes, glTF COLOR_0 is linear. ----

float SrgbToLinear(uint8_t byte) {
  const double c = byte / 255.0;
  return static_cast<float>(c <= 0.04045 ? c / 12.92 : std::pow((c + 0.055) / 1.055, 2.4));
}

uint8_t LinearToSrgb(double linear) {
  if (!(linear > 0)) return 0;  // Also NaN.
  if (linear >= 1) return 255;
  const double c = linear <= 0.0031308 ? linear * 12.92 : 1.055 * std::pow(linear, 1 / 2.4) - 0.055;
  return static_cast<uint8_t>(std::lround(c * 255));
}

// ---- Writing ----

template <typename T>
void AppendRaw(std::vector<unsigned char>& out, const T& value) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(&value);
  out.insert(out.end(), bytes, bytes + sizeof(T));
}

// Adds a buffer view over `bytes` (appended to buffer 0, 4-byte aligned) and an
// accessor over it; returns the accessor's index.
int AddAccessor(tinygltf::Model& model, const std::vector<unsigned char>& bytes, int target,
                int component_type, int type, size_t count) {
  std::vector<unsigned char>& data = model.buffers[0].data;
  while (data.size() % 4 != 0) data.push_back(0);
  tinygltf::BufferView view;
  view.buffer = 0;
  view.byteOffset = data.size();
  view.byteLength = bytes.size();
  view.target = target;
  data.insert(data.end(), bytes.begin(), bytes.end());
  model.bufferViews.push_back(std::move(view));
  tinygltf::Accessor accessor;
  accessor.bufferView = static_cast<int>(model.bufferViews.size() - 1);
  accessor.byteOffset = 0;
  accessor.componentType = component_type;
  accessor.type = type;
  accessor.count = count;
  model.accessors.push_back(std::move(accessor));
  return static_cast<int>(model.accessors.size() - 1);
}

// The mesh's unit normals, or nothing when one of them has no direction (the
// validator requires unit length; viewers then compute their own).
std::vector<Vec3f> UnitNormals(const Mesh& mesh) {
  std::vector<Vec3f> unit;
  unit.reserve(mesh.normals.size());
  for (const Vec3f& n : mesh.normals) {
    const double length =
        std::sqrt(double(n[0]) * n[0] + double(n[1]) * n[1] + double(n[2]) * n[2]);
    if (!(length > 1e-12)) return {};
    unit.push_back({float(n[0] / length), float(n[1] / length), float(n[2] / length)});
  }
  return unit;
}

// Adds `mesh` as a glTF mesh of one triangle primitive; returns its index, or -1 for a
// mesh without triangles (glTF has no empty accessors; its node carries no mesh).
int AddMesh(tinygltf::Model& model, const Mesh& mesh, const std::string& name) {
  if (mesh.triangles.empty()) return -1;
  tinygltf::Primitive primitive;
  primitive.mode = TINYGLTF_MODE_TRIANGLES;
  primitive.material = 0;
  const size_t n = mesh.positions.size();

  std::vector<unsigned char> bytes;
  bytes.reserve(n * 16);
  std::vector<double> min(3, std::numeric_limits<double>::infinity());
  std::vector<double> max(3, -std::numeric_limits<double>::infinity());
  for (const Vec3f& p : mesh.positions) {
    for (int c = 0; c < 3; ++c) {
      AppendRaw(bytes, p[c]);
      min[c] = std::min<double>(min[c], p[c]);
      max[c] = std::max<double>(max[c], p[c]);
    }
  }
  const int position = AddAccessor(model, bytes, TINYGLTF_TARGET_ARRAY_BUFFER,
                                   TINYGLTF_COMPONENT_TYPE_FLOAT, TINYGLTF_TYPE_VEC3, n);
  model.accessors[position].minValues = min;
  model.accessors[position].maxValues = max;
  primitive.attributes["POSITION"] = position;

  if (const std::vector<Vec3f> normals = UnitNormals(mesh); !normals.empty()) {
    bytes.clear();
    for (const Vec3f& v : normals) AppendRaw(bytes, v);
    primitive.attributes["NORMAL"] =
        AddAccessor(model, bytes, TINYGLTF_TARGET_ARRAY_BUFFER, TINYGLTF_COMPONENT_TYPE_FLOAT,
                    TINYGLTF_TYPE_VEC3, n);
  }
  if (!mesh.colors.empty()) {
    // Float keeps the sRGB -> linear -> sRGB round trip exact, which bytes would not.
    bytes.clear();
    for (const auto& rgba : mesh.colors) {
      for (int c = 0; c < 3; ++c) AppendRaw(bytes, SrgbToLinear(rgba[c]));
      AppendRaw(bytes, rgba[3] / 255.0f);  // Alpha is linear already.
    }
    primitive.attributes["COLOR_0"] =
        AddAccessor(model, bytes, TINYGLTF_TARGET_ARRAY_BUFFER, TINYGLTF_COMPONENT_TYPE_FLOAT,
                    TINYGLTF_TYPE_VEC4, n);
  }
  bytes.clear();
  for (const auto& t : mesh.triangles) AppendRaw(bytes, t);
  primitive.indices = AddAccessor(model, bytes, TINYGLTF_TARGET_ELEMENT_ARRAY_BUFFER,
                                  TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT, TINYGLTF_TYPE_SCALAR,
                                  3 * mesh.triangles.size());

  tinygltf::Mesh gltf_mesh;
  gltf_mesh.name = name;
  gltf_mesh.primitives.push_back(std::move(primitive));
  model.meshes.push_back(std::move(gltf_mesh));
  return static_cast<int>(model.meshes.size() - 1);
}

absl::Status CheckNode(const SceneNode& node, const std::string& path, size_t index) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": node ", index, " (\"", node.name, "\"): ", what));
  };
  double norm = 0;
  for (double q : node.rotation) norm += q * q;
  if (!std::isfinite(norm) || std::abs(std::sqrt(norm) - 1) > 1e-3) {
    return bad("rotation must be a unit quaternion (x, y, z, w)");
  }
  for (double s : node.scale) {
    if (!std::isfinite(s) || s == 0) return bad("scale must be finite and non-zero");
  }
  for (double t : node.translation) {
    if (!std::isfinite(t)) return bad("translation must be finite");
  }
  return CheckMesh(node.mesh, absl::StrCat(path, ": node ", index));
}

// ---- Reading ----

// Images are never needed: accept them without decoding, so that no image codec runs
// on untrusted bytes.
bool NoImages(tinygltf::Image*, const int, std::string*, std::string*, int, int,
              const unsigned char*, int, void*) {
  return true;
}

// A .glb must be self-contained: buffers and images that name other files are refused
// instead of being read from the worker's disk.
bool NoFileExists(const std::string&, void*) { return false; }
std::string NoExpandFilePath(const std::string& path, void*) { return path; }
bool NoReadWholeFile(std::vector<unsigned char>*, std::string* err, const std::string& path,
                     void*) {
  if (err != nullptr)
    *err += "external file \"" + path + "\" refused (a .glb must be self-contained)\n";
  return false;
}
bool NoWriteWholeFile(std::string* err, const std::string&, const std::vector<unsigned char>&,
                      void*) {
  return false;
}

Matrix4 Multiply(const Matrix4& a, const Matrix4& b) {
  Matrix4 m{};
  for (int col = 0; col < 4; ++col) {
    for (int row = 0; row < 4; ++row) {
      double sum = 0;
      for (int k = 0; k < 4; ++k) sum += a[k * 4 + row] * b[col * 4 + k];
      m[col * 4 + row] = sum;
    }
  }
  return m;
}

// T * R * S from translation, rotation (x, y, z, w) and scale.
Matrix4 ComposeTrs(const std::array<double, 3>& t, const std::array<double, 4>& q,
                   const std::array<double, 3>& s) {
  const double x = q[0], y = q[1], z = q[2], w = q[3];
  const double r[9] = {1 - 2 * (y * y + z * z), 2 * (x * y + z * w),     2 * (x * z - y * w),
                       2 * (x * y - z * w),     1 - 2 * (x * x + z * z), 2 * (y * z + x * w),
                       2 * (x * z + y * w),     2 * (y * z - x * w),     1 - 2 * (x * x + y * y)};
  Matrix4 m{};
  for (int col = 0; col < 3; ++col) {
    for (int row = 0; row < 3; ++row) m[col * 4 + row] = r[col * 3 + row] * s[col];
  }
  m[12] = t[0];
  m[13] = t[1];
  m[14] = t[2];
  m[15] = 1;
  return m;
}

absl::StatusOr<Matrix4> LocalMatrix(const tinygltf::Node& node, absl::string_view where) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
  };
  Matrix4 m = kIdentity;
  if (!node.matrix.empty()) {
    if (node.matrix.size() != 16) return bad("matrix must have 16 numbers");
    std::copy(node.matrix.begin(), node.matrix.end(), m.begin());
  } else {
    std::array<double, 3> t{0, 0, 0}, s{1, 1, 1};
    std::array<double, 4> q{0, 0, 0, 1};
    if (!node.translation.empty()) {
      if (node.translation.size() != 3) return bad("translation must have 3 numbers");
      std::copy(node.translation.begin(), node.translation.end(), t.begin());
    }
    if (!node.rotation.empty()) {
      if (node.rotation.size() != 4) return bad("rotation must have 4 numbers");
      std::copy(node.rotation.begin(), node.rotation.end(), q.begin());
    }
    if (!node.scale.empty()) {
      if (node.scale.size() != 3) return bad("scale must have 3 numbers");
      std::copy(node.scale.begin(), node.scale.end(), s.begin());
    }
    m = ComposeTrs(t, q, s);
  }
  for (double v : m) {
    if (!std::isfinite(v)) return bad("transform is not finite");
  }
  return m;
}

size_t ComponentSize(int component_type) {
  switch (component_type) {
    case TINYGLTF_COMPONENT_TYPE_BYTE:
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE:
      return 1;
    case TINYGLTF_COMPONENT_TYPE_SHORT:
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT:
      return 2;
    case TINYGLTF_COMPONENT_TYPE_INT:
    case TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT:
    case TINYGLTF_COMPONENT_TYPE_FLOAT:
      return 4;
    default:
      return 0;
  }
}

// A bounds-checked view of one accessor's elements.
struct AccessorView {
  const unsigned char* data = nullptr;
  size_t count = 0;
  size_t stride = 0;
  int component_type = 0;
  int components = 0;
  bool normalized = false;

  // Component c of element i as a double (normalized integers mapped to [0, 1]).
  double Get(size_t i, int c) const {
    const unsigned char* p = data + i * stride + c * ComponentSize(component_type);
    auto load = [p](auto zero) {
      decltype(zero) v;
      std::memcpy(&v, p, sizeof(v));
      return v;
    };
    switch (component_type) {
      case TINYGLTF_COMPONENT_TYPE_FLOAT:
        return load(float{});
      case TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE:
        return normalized ? load(uint8_t{}) / 255.0 : load(uint8_t{});
      case TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT:
        return normalized ? load(uint16_t{}) / 65535.0 : load(uint16_t{});
      case TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT:
        return load(uint32_t{});
      case TINYGLTF_COMPONENT_TYPE_BYTE:
        return load(int8_t{});
      case TINYGLTF_COMPONENT_TYPE_SHORT:
        return load(int16_t{});
      default:
        return 0;
    }
  }
};

absl::StatusOr<AccessorView> ViewAccessor(const tinygltf::Model& model, int index,
                                          const std::string& where) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(where, " (accessor ", index, "): ", what));
  };
  if (index < 0 || static_cast<size_t>(index) >= model.accessors.size()) {
    return bad("no such accessor");
  }
  const tinygltf::Accessor& a = model.accessors[index];
  if (a.sparse.isSparse) return bad("sparse accessors are not supported");
  if (a.bufferView < 0 || static_cast<size_t>(a.bufferView) >= model.bufferViews.size()) {
    return bad("no buffer view (accessors without data are not supported)");
  }
  const tinygltf::BufferView& view = model.bufferViews[a.bufferView];
  if (view.buffer < 0 || static_cast<size_t>(view.buffer) >= model.buffers.size()) {
    return bad("its buffer view names no buffer");
  }
  const std::vector<unsigned char>& buffer = model.buffers[view.buffer].data;
  if (view.byteOffset > buffer.size() || view.byteLength > buffer.size() - view.byteOffset) {
    return bad(absl::StrCat("buffer view ", a.bufferView, " exceeds its buffer (", buffer.size(),
                            " bytes)"));
  }
  AccessorView out;
  out.component_type = a.componentType;
  out.components = tinygltf::GetNumComponentsInType(static_cast<uint32_t>(a.type));
  out.normalized = a.normalized;
  out.count = a.count;
  const size_t component = ComponentSize(a.componentType);
  if (component == 0 || out.components <= 0) return bad("unknown component type or type");
  const size_t element = component * out.components;
  // glTF allows strides of 4..252; anything else (e.g. 2^60) would overflow the bounds
  // arithmetic below.
  if (view.byteStride != 0 && (view.byteStride < 4 || view.byteStride > 252)) {
    return bad(absl::StrCat("byteStride ", view.byteStride, " outside 4..252"));
  }
  out.stride = view.byteStride == 0 ? element : view.byteStride;
  if (out.stride < element) return bad("byteStride smaller than an element");
  if (a.byteOffset > view.byteLength) return bad("byteOffset beyond its buffer view");
  if (a.count > kMaxMeshVertices * 3)
    return CheckCount(where, "accessor element", a.count, kMaxMeshVertices * 3);
  if (a.count > 0) {
    const uint64_t end = uint64_t{a.byteOffset} + uint64_t{a.count - 1} * out.stride + element;
    if (end > view.byteLength) {
      return bad(absl::StrCat("truncated: ", a.count, " elements need ", end,
                              " bytes, its buffer view has ", view.byteLength));
    }
  }
  out.data = buffer.data() + view.byteOffset + a.byteOffset;
  return out;
}

// Appends one triangle primitive, transformed by `m`, to `out`. `keep_normals` and
// `keep_colors` are cleared when this primitive lacks them.
absl::Status AppendPrimitive(const tinygltf::Model& model, const tinygltf::Primitive& primitive,
                             const Matrix4& m, const std::string& where, Mesh& out,
                             bool& keep_normals, bool& keep_colors) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": ", what));
  };
  if (primitive.mode != -1 && primitive.mode != TINYGLTF_MODE_TRIANGLES) {
    return bad(absl::StrCat("mode ", primitive.mode,
                            " is not supported (only triangles, mode 4; no points, lines, strips "
                            "or fans)"));
  }
  const auto position_it = primitive.attributes.find("POSITION");
  if (position_it == primitive.attributes.end()) return bad("no POSITION attribute");
  KILN_ASSIGN_OR_RETURN(const AccessorView positions,
                        ViewAccessor(model, position_it->second, where + " POSITION"));
  if (positions.component_type != TINYGLTF_COMPONENT_TYPE_FLOAT || positions.components != 3) {
    return bad("POSITION must be float VEC3");
  }
  const size_t base = out.positions.size();
  KILN_RETURN_IF_ERROR(CheckCount(where, "vertex", base + positions.count, kMaxMeshVertices));

  std::optional<AccessorView> normals;
  if (auto it = primitive.attributes.find("NORMAL"); it != primitive.attributes.end()) {
    KILN_ASSIGN_OR_RETURN(normals, ViewAccessor(model, it->second, where + " NORMAL"));
    if (normals->component_type != TINYGLTF_COMPONENT_TYPE_FLOAT || normals->components != 3 ||
        normals->count != positions.count) {
      return bad("NORMAL must be float VEC3 with one element per position");
    }
  }
  std::optional<AccessorView> colors;
  if (auto it = primitive.attributes.find("COLOR_0"); it != primitive.attributes.end()) {
    KILN_ASSIGN_OR_RETURN(colors, ViewAccessor(model, it->second, where + " COLOR_0"));
    const bool float_or_normalized =
        colors->component_type == TINYGLTF_COMPONENT_TYPE_FLOAT ||
        (colors->normalized && (colors->component_type == TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE ||
                                colors->component_type == TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT));
    if (!float_or_normalized || (colors->components != 3 && colors->components != 4) ||
        colors->count != positions.count) {
      return bad(
          "COLOR_0 must be VEC3 or VEC4 of float or normalized unsigned byte/short, one "
          "element per position");
    }
  }
  keep_normals = keep_normals && normals.has_value();
  keep_colors = keep_colors && colors.has_value();

  // Normals transform by the inverse transpose of the linear part; a mirroring
  // transform flips the winding.
  const double a = m[0], b = m[4], c = m[8], d = m[1], e = m[5], f = m[9], g = m[2], h = m[6],
               k = m[10];
  const double det = a * (e * k - f * h) - b * (d * k - f * g) + c * (d * h - e * g);
  const double cof[9] = {e * k - f * h,    -(d * k - f * g), d * h - e * g,
                         -(b * k - c * h), a * k - c * g,    -(a * h - b * g),
                         b * f - c * e,    -(a * f - c * d), a * e - b * d};  // Row-major.
  for (size_t i = 0; i < positions.count; ++i) {
    const double p[3] = {positions.Get(i, 0), positions.Get(i, 1), positions.Get(i, 2)};
    Vec3f q;
    for (int r = 0; r < 3; ++r) {
      q[r] = static_cast<float>(m[r] * p[0] + m[4 + r] * p[1] + m[8 + r] * p[2] + m[12 + r]);
    }
    out.positions.push_back(q);
    if (normals.has_value()) {
      const double n[3] = {normals->Get(i, 0), normals->Get(i, 1), normals->Get(i, 2)};
      double t[3];
      for (int r = 0; r < 3; ++r)
        t[r] = cof[r * 3] * n[0] + cof[r * 3 + 1] * n[1] + cof[r * 3 + 2] * n[2];
      const double length = std::sqrt(t[0] * t[0] + t[1] * t[1] + t[2] * t[2]);
      const double scale = length > 0 ? (det < 0 ? -1 : 1) / length : 0;
      out.normals.push_back({float(t[0] * scale), float(t[1] * scale), float(t[2] * scale)});
    }
    if (colors.has_value()) {
      const uint8_t alpha =
          colors->components == 4
              ? static_cast<uint8_t>(std::lround(std::clamp(colors->Get(i, 3), 0.0, 1.0) * 255))
              : uint8_t{255};
      out.colors.push_back({LinearToSrgb(colors->Get(i, 0)), LinearToSrgb(colors->Get(i, 1)),
                            LinearToSrgb(colors->Get(i, 2)), alpha});
    }
  }

  auto add_triangle = [&](uint64_t i0, uint64_t i1, uint64_t i2) -> absl::Status {
    for (uint64_t i : {i0, i1, i2}) {
      if (i >= positions.count) {
        return bad(absl::StrCat("index ", i, " out of range [0, ", positions.count, ")"));
      }
    }
    KILN_RETURN_IF_ERROR(CheckCount(where, "triangle", out.triangles.size() + 1, kMaxMeshFaces));
    std::array<uint32_t, 3> t = {uint32_t(base + i0), uint32_t(base + i1), uint32_t(base + i2)};
    if (det < 0) std::swap(t[1], t[2]);
    out.triangles.push_back(t);
    return absl::OkStatus();
  };
  if (primitive.indices >= 0) {
    KILN_ASSIGN_OR_RETURN(const AccessorView indices,
                          ViewAccessor(model, primitive.indices, where + " indices"));
    const int type = indices.component_type;
    if (indices.components != 1 || (type != TINYGLTF_COMPONENT_TYPE_UNSIGNED_BYTE &&
                                    type != TINYGLTF_COMPONENT_TYPE_UNSIGNED_SHORT &&
                                    type != TINYGLTF_COMPONENT_TYPE_UNSIGNED_INT)) {
      return bad("indices must be unsigned byte, short or int scalars");
    }
    if (indices.count % 3 != 0) return bad(absl::StrCat(indices.count, " indices: not triangles"));
    for (size_t i = 0; i < indices.count; i += 3) {
      KILN_RETURN_IF_ERROR(add_triangle(static_cast<uint64_t>(indices.Get(i, 0)),
                                        static_cast<uint64_t>(indices.Get(i + 1, 0)),
                                        static_cast<uint64_t>(indices.Get(i + 2, 0))));
    }
  } else {
    if (positions.count % 3 != 0) {
      return bad(absl::StrCat(positions.count, " unindexed positions: not triangles"));
    }
    for (size_t i = 0; i < positions.count; i += 3) {
      KILN_RETURN_IF_ERROR(add_triangle(i, i + 1, i + 2));
    }
  }
  return absl::OkStatus();
}

struct Collector {
  const tinygltf::Model& model;
  const std::string& name;
  Mesh& out;
  bool keep_normals = true;
  bool keep_colors = true;
  size_t visited = 0;

  absl::Status Visit(int node_index, const Matrix4& parent, size_t depth) {
    const std::string where = absl::StrCat(name, ": node ", node_index);
    if (node_index < 0 || static_cast<size_t>(node_index) >= model.nodes.size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no such node"));
    }
    // A tree visits each node once; more visits or depth mean a cycle or shared children.
    if (++visited > model.nodes.size() || depth > model.nodes.size()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": the node hierarchy is not a tree"));
    }
    // Bounds the recursion: real scenes are a few levels deep.
    if (depth > kMaxNodeDepth) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": node hierarchy deeper than ", kMaxNodeDepth, " levels"));
    }
    const tinygltf::Node& node = model.nodes[node_index];
    KILN_ASSIGN_OR_RETURN(const Matrix4 local, LocalMatrix(node, where));
    const Matrix4 world = Multiply(parent, local);
    if (node.mesh >= 0) {
      if (static_cast<size_t>(node.mesh) >= model.meshes.size()) {
        return absl::InvalidArgumentError(absl::StrCat(where, ": no such mesh ", node.mesh));
      }
      const tinygltf::Mesh& mesh = model.meshes[node.mesh];
      for (size_t p = 0; p < mesh.primitives.size(); ++p) {
        KILN_RETURN_IF_ERROR(
            AppendPrimitive(model, mesh.primitives[p], world,
                            absl::StrCat(where, " mesh ", node.mesh, " primitive ", p), out,
                            keep_normals, keep_colors));
      }
    }
    for (int child : node.children) KILN_RETURN_IF_ERROR(Visit(child, world, depth + 1));
    return absl::OkStatus();
  }
};

absl::StatusOr<Mesh> ModelToMesh(const tinygltf::Model& model, const std::string& name) {
  std::vector<int> roots;
  if (!model.scenes.empty()) {
    const int scene = model.defaultScene >= 0 ? model.defaultScene : 0;
    if (static_cast<size_t>(scene) >= model.scenes.size()) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": no such scene ", scene));
    }
    roots = model.scenes[scene].nodes;
  } else {
    // No scene: every node that is nobody's child.
    std::vector<bool> is_child(model.nodes.size(), false);
    for (const tinygltf::Node& node : model.nodes) {
      for (int child : node.children) {
        if (child >= 0 && static_cast<size_t>(child) < is_child.size()) is_child[child] = true;
      }
    }
    for (size_t i = 0; i < model.nodes.size(); ++i) {
      if (!is_child[i]) roots.push_back(static_cast<int>(i));
    }
  }
  Mesh mesh;
  Collector collector{model, name, mesh};
  for (int root : roots) KILN_RETURN_IF_ERROR(collector.Visit(root, kIdentity, 0));
  // Attributes only some primitives had cannot cover every position.
  if (!collector.keep_normals) mesh.normals.clear();
  if (!collector.keep_colors) mesh.colors.clear();
  KILN_RETURN_IF_ERROR(CheckMesh(mesh, name));
  return mesh;
}

}  // namespace

absl::Status WriteGlb(const Mesh& mesh, const std::string& path) {
  SceneNode node;
  node.name = "mesh";
  node.mesh = mesh;
  return WriteGlbScene(std::span<const SceneNode>(&node, 1), path);
}

absl::Status WriteGlbScene(std::span<const SceneNode> nodes, const std::string& path) {
  for (size_t i = 0; i < nodes.size(); ++i) KILN_RETURN_IF_ERROR(CheckNode(nodes[i], path, i));
  tinygltf::Model model;
  model.asset.version = "2.0";
  model.asset.generator = "kiln";
  model.buffers.emplace_back();
  tinygltf::Material material;
  material.name = "default";
  material.pbrMetallicRoughness.baseColorFactor = {1, 1, 1, 1};
  material.pbrMetallicRoughness.metallicFactor = 0;  // A plain matte surface.
  material.pbrMetallicRoughness.roughnessFactor = 1;
  material.doubleSided = false;
  model.materials.push_back(std::move(material));
  tinygltf::Scene scene;
  for (const SceneNode& node : nodes) {
    tinygltf::Node gltf_node;
    gltf_node.name = node.name;
    gltf_node.mesh = AddMesh(model, node.mesh, node.name);
    if (node.translation != std::array<double, 3>{0, 0, 0}) {
      gltf_node.translation.assign(node.translation.begin(), node.translation.end());
    }
    if (node.rotation != std::array<double, 4>{0, 0, 0, 1}) {
      double norm = 0;
      for (double q : node.rotation) norm += q * q;
      norm = std::sqrt(norm);
      for (double q : node.rotation) gltf_node.rotation.push_back(q / norm);
    }
    if (node.scale != std::array<double, 3>{1, 1, 1}) {
      gltf_node.scale.assign(node.scale.begin(), node.scale.end());
    }
    scene.nodes.push_back(static_cast<int>(model.nodes.size()));
    model.nodes.push_back(std::move(gltf_node));
  }
  model.scenes.push_back(std::move(scene));
  model.defaultScene = 0;
  if (model.buffers[0].data.empty()) {
    // No geometry at all: glTF forbids empty buffers, and the material would be unused.
    model.buffers.clear();
    model.materials.clear();
  } else {
    while (model.buffers[0].data.size() % 4 != 0) model.buffers[0].data.push_back(0);
  }
  if (model.buffers.size() == 1 &&
      model.buffers[0].data.size() > std::numeric_limits<uint32_t>::max() - 1024) {
    return absl::InvalidArgumentError(
        absl::StrCat(path, ": geometry exceeds the 4 GiB a .glb can hold"));
  }
  std::ostringstream stream;
  bool written = false;
  try {
    tinygltf::TinyGLTF gltf;
    written = gltf.WriteGltfSceneToStream(&model, stream, /*prettyPrint=*/false,
                                          /*writeBinary=*/true);
  } catch (const std::exception& e) {
    return absl::InternalError(absl::StrCat(path, ": tinygltf failed: ", e.what()));
  }
  if (!written || !stream) {
    return absl::InternalError(absl::StrCat(path, ": tinygltf could not serialize the scene"));
  }
  KILN_ASSIGN_OR_RETURN(std::unique_ptr<AtomicFileWriter> file, AtomicFileWriter::Create(path));
  const std::string bytes = std::move(stream).str();
  KILN_RETURN_IF_ERROR(file->Append(bytes));
  return file->Commit();
}

absl::StatusOr<Mesh> ReadGlb(const std::string& path) {
  KILN_ASSIGN_OR_RETURN(const std::string bytes, ReadMeshFile(path));
  return ReadGlbFromBytes(bytes, path);
}

absl::StatusOr<Mesh> ReadGlbFromBytes(absl::string_view bytes, const std::string& name) {
  // The 12-byte header is checked here so that the common mistakes get plain words.
  if (bytes.size() < 12) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": truncated: ", bytes.size(), " bytes, a .glb has a 12-byte header"));
  }
  if (bytes.substr(0, 4) != "glTF") {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": wrong magic: not a binary glTF file (expected \"glTF\")"));
  }
  uint32_t version = 0;
  uint32_t length = 0;
  std::memcpy(&version, bytes.data() + 4, 4);
  std::memcpy(&length, bytes.data() + 8, 4);
  if (version != 2) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, ": glTF version ", version, ", expected 2"));
  }
  if (length > bytes.size()) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": truncated: the header declares ",
                                                   length, " bytes, the file has ", bytes.size()));
  }
  tinygltf::Model model;
  std::string err;
  std::string warn;
  bool loaded = false;
  try {
    tinygltf::TinyGLTF gltf;
    gltf.SetImageLoader(&NoImages, nullptr);
    gltf.SetFsCallbacks(tinygltf::FsCallbacks{&NoFileExists, &NoExpandFilePath, &NoReadWholeFile,
                                              &NoWriteWholeFile, nullptr});
    loaded = gltf.LoadBinaryFromMemory(&model, &err, &warn,
                                       reinterpret_cast<const unsigned char*>(bytes.data()), length,
                                       /*base_dir=*/"");
  } catch (const std::exception& e) {
    return absl::InvalidArgumentError(absl::StrCat(name, ": bad glTF: ", e.what()));
  }
  if (!loaded) {
    while (!err.empty() && err.back() == '\n') err.pop_back();
    return absl::InvalidArgumentError(absl::StrCat(name, ": bad glTF: ", err));
  }
  return ModelToMesh(model, name);
}

}  // namespace kiln::tasks
