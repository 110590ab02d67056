#include "worker/render/rasterizer.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/render/prepared_mesh.h"

namespace kiln::render {
namespace {

using Vec = std::array<double, 3>;

Vec Sub(const Vec& a, const Vec& b) { return {a[0] - b[0], a[1] - b[1], a[2] - b[2]}; }
Vec Add(const Vec& a, const Vec& b) { return {a[0] + b[0], a[1] + b[1], a[2] + b[2]}; }
Vec Scale(const Vec& a, double s) { return {a[0] * s, a[1] * s, a[2] * s}; }
double Dot(const Vec& a, const Vec& b) { return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]; }
Vec Cross(const Vec& a, const Vec& b) {
  return {a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]};
}
Vec Normalized(const Vec& a) {
  const double length = std::sqrt(Dot(a, a));
  return length > 0 ? Scale(a, 1 / length) : Vec{0, 0, 0};
}
double Radians(double degrees) { return degrees * std::numbers::pi / 180; }
core::Float3 ToFloat3(const Vec& v) {
  return {static_cast<float>(v[0]), static_cast<float>(v[1]), static_cast<float>(v[2])};
}
uint32_t Pack(const std::array<uint8_t, 4>& c) {
  return uint32_t{c[0]} | uint32_t{c[1]} << 8 | uint32_t{c[2]} << 16 | uint32_t{c[3]} << 24;
}

// Light from the upper left, in front of the model (camera space, toward the light).
constexpr Vec kLightDirection = {-0.45, 0.55, 0.70};
constexpr float kAmbient = 0.3f;
constexpr float kDiffuse = 0.7f;

absl::Status CheckOptions(const RenderOptions& o) {
  auto bad = [](absl::string_view what) { return absl::InvalidArgumentError(what); };
  if (o.width < 1 || o.width > kMaxRenderSide || o.height < 1 || o.height > kMaxRenderSide) {
    return bad(
        absl::StrCat("render size ", o.width, "x", o.height, " out of range 1..", kMaxRenderSide));
  }
  if (!(o.elevation_degrees >= -89 && o.elevation_degrees <= 89)) {
    return bad(absl::StrCat("elevation ", o.elevation_degrees, " out of range -89..89"));
  }
  if (!std::isfinite(o.azimuth_degrees)) return bad("azimuth is not finite");
  if (!(o.vertical_fov_degrees >= 1 && o.vertical_fov_degrees <= 120)) {
    return bad(
        absl::StrCat("vertical field of view ", o.vertical_fov_degrees, " out of range 1..120"));
  }
  if (!(o.margin >= 0 && o.margin <= 0.45)) {
    return bad(absl::StrCat("margin ", o.margin, " out of range 0..0.45"));
  }
  return absl::OkStatus();
}

}  // namespace

RenderOptions FrontOrthographicView(int width, int height) {
  RenderOptions options;
  options.width = width;
  options.height = height;
  options.projection = Projection::kOrthographic;
  options.azimuth_degrees = 0;
  options.elevation_degrees = 0;
  return options;
}

RenderOptions TurntableView(int frame, int frames, const RenderOptions& base) {
  RenderOptions options = base;
  options.azimuth_degrees = frames > 0 ? 360.0 * frame / frames : 0;
  return options;
}

std::array<double, 3> View::Project(const std::array<double, 3>& world) const {
  const Vec rel = Sub(world, eye);
  const double cx = Dot(right, rel), cy = Dot(up, rel), d = Dot(forward, rel);
  if (projection == Projection::kOrthographic) {
    return {width / 2.0 + cx / scale, height / 2.0 - cy / scale, d};
  }
  const double focal = height / 2.0 / scale;
  return {width / 2.0 + cx * focal / d, height / 2.0 - cy * focal / d, d};
}

absl::StatusOr<PreparedMesh> PrepareMesh(const tasks::Mesh& mesh,
                                         const std::array<uint8_t, 4>& default_color) {
  const size_t n = mesh.positions.size();
  if (!mesh.normals.empty() && mesh.normals.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("mesh has ", mesh.normals.size(), " normals for ", n, " vertices"));
  }
  if (!mesh.colors.empty() && mesh.colors.size() != n) {
    return absl::InvalidArgumentError(
        absl::StrCat("mesh has ", mesh.colors.size(), " colours for ", n, " vertices"));
  }
  if (mesh.triangles.size() >= std::numeric_limits<uint32_t>::max() - 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("mesh has too many triangles to render: ", mesh.triangles.size()));
  }
  PreparedMesh out;
  out.positions.resize(n);
  out.bbox_min = {std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity(),
                  std::numeric_limits<double>::infinity()};
  out.bbox_max = {-out.bbox_min[0], -out.bbox_min[1], -out.bbox_min[2]};
  for (size_t i = 0; i < n; ++i) {
    const auto& p = mesh.positions[i];
    if (!std::isfinite(p[0]) || !std::isfinite(p[1]) || !std::isfinite(p[2])) {
      return absl::InvalidArgumentError(absl::StrCat("mesh vertex ", i, " is not finite"));
    }
    out.positions[i] = {p[0], p[1], p[2]};
  }
  out.indices.reserve(mesh.triangles.size() * 3);
  std::vector<bool> used(n, false);
  for (size_t t = 0; t < mesh.triangles.size(); ++t) {
    for (const uint32_t v : mesh.triangles[t]) {
      if (v >= n) {
        return absl::InvalidArgumentError(
            absl::StrCat("mesh triangle ", t, " refers to vertex ", v, " of ", n));
      }
      out.indices.push_back(v);
      used[v] = true;
    }
  }
  // The box of the vertices triangles use: stray points do not move the camera.
  for (size_t i = 0; i < n; ++i) {
    if (!used[i]) continue;
    for (int a = 0; a < 3; ++a) {
      out.bbox_min[a] = std::min<double>(out.bbox_min[a], mesh.positions[i][a]);
      out.bbox_max[a] = std::max<double>(out.bbox_max[a], mesh.positions[i][a]);
    }
  }
  const Vec center = Scale(Add(out.bbox_min, out.bbox_max), 0.5);
  for (size_t i = 0; i < n; ++i) {
    if (!used[i]) continue;
    const Vec p = {mesh.positions[i][0], mesh.positions[i][1], mesh.positions[i][2]};
    out.radius = std::max(out.radius, std::sqrt(Dot(Sub(p, center), Sub(p, center))));
  }
  out.normals.assign(n, core::Float3{0, 0, 0});
  if (!mesh.normals.empty()) {
    for (size_t i = 0; i < n; ++i) {
      const auto& v = mesh.normals[i];
      if (std::isfinite(v[0]) && std::isfinite(v[1]) && std::isfinite(v[2])) {
        out.normals[i] = {v[0], v[1], v[2]};
      }
    }
  } else {
    // Area-weighted face normals (the cross product's length is twice the area), summed
    // in double in triangle order: deterministic.
    std::vector<Vec> sums(n, Vec{0, 0, 0});
    for (const auto& t : mesh.triangles) {
      const auto& p0 = mesh.positions[t[0]];
      const auto& p1 = mesh.positions[t[1]];
      const auto& p2 = mesh.positions[t[2]];
      const Vec e1 = {double{p1[0]} - p0[0], double{p1[1]} - p0[1], double{p1[2]} - p0[2]};
      const Vec e2 = {double{p2[0]} - p0[0], double{p2[1]} - p0[1], double{p2[2]} - p0[2]};
      const Vec face = Cross(e1, e2);
      for (const uint32_t v : t) sums[v] = Add(sums[v], face);
    }
    for (size_t i = 0; i < n; ++i) out.normals[i] = ToFloat3(Normalized(sums[i]));
  }
  out.colors.resize(n);
  for (size_t i = 0; i < n; ++i) {
    out.colors[i] = mesh.colors.empty() ? Pack(default_color) : Pack(mesh.colors[i]);
  }
  return out;
}

absl::StatusOr<View> FitViewToMesh(const PreparedMesh& mesh, const RenderOptions& options) {
  KILN_RETURN_IF_ERROR(CheckOptions(options));
  Vec lo = mesh.bbox_min, hi = mesh.bbox_max;
  double radius = mesh.radius;
  if (mesh.empty()) lo = {-1, -1, -1}, hi = {1, 1, 1}, radius = std::sqrt(3.0);
  const Vec center = Scale(Add(lo, hi), 0.5);
  if (!(radius > 0)) radius = 1;  // a single point: any scale shows it
  const double az = Radians(options.azimuth_degrees), el = Radians(options.elevation_degrees);
  // Unit vector from the centre to the camera; azimuth 0 is +Z, 90 is +X.
  const Vec to_camera = {std::cos(el) * std::sin(az), std::sin(el), std::cos(el) * std::cos(az)};
  View view;
  view.projection = options.projection;
  view.width = options.width;
  view.height = options.height;
  view.forward = Scale(to_camera, -1);
  view.right = Normalized(Cross(view.forward, Vec{0, 1, 0}));
  view.up = Cross(view.right, view.forward);
  const double usable = 1 - 2 * options.margin;
  if (options.projection == Projection::kPerspective) {
    const double t = std::tan(Radians(options.vertical_fov_degrees) / 2);
    const double aspect = static_cast<double>(options.width) / options.height;
    // The largest half-angle the sphere may subtend to stay inside the frame on both axes.
    const double half_angle = std::min(std::atan(t * usable), std::atan(t * aspect * usable));
    const double distance = radius / std::sin(half_angle);
    view.eye = Add(center, Scale(to_camera, distance));
    view.scale = t;
    view.near_plane = std::max(distance - radius * 1.01, radius * 1e-3);
    view.far_plane = distance + radius * 1.01;
  } else {
    // The box's corners across the screen: fit their extent, centred.
    double u_lo = 1e300, u_hi = -1e300, v_lo = 1e300, v_hi = -1e300;
    for (int corner = 0; corner < 8; ++corner) {
      const Vec p = {corner & 1 ? hi[0] : lo[0], corner & 2 ? hi[1] : lo[1],
                     corner & 4 ? hi[2] : lo[2]};
      const Vec rel = Sub(p, center);
      u_lo = std::min(u_lo, Dot(rel, view.right));
      u_hi = std::max(u_hi, Dot(rel, view.right));
      v_lo = std::min(v_lo, Dot(rel, view.up));
      v_hi = std::max(v_hi, Dot(rel, view.up));
    }
    const double floor_extent = radius * 1e-6;
    const double units_per_pixel =
        std::max(std::max(u_hi - u_lo, floor_extent) / (options.width * usable),
                 std::max(v_hi - v_lo, floor_extent) / (options.height * usable));
    const Vec middle =
        Add(center, Add(Scale(view.right, (u_lo + u_hi) / 2), Scale(view.up, (v_lo + v_hi) / 2)));
    view.eye = Add(middle, Scale(to_camera, 2 * radius));
    view.scale = units_per_pixel;
    view.near_plane = radius * 0.98;
    view.far_plane = radius * 3.01;
  }
  return view;
}

absl::StatusOr<View> FitView(const tasks::Mesh& mesh, const RenderOptions& options) {
  KILN_ASSIGN_OR_RETURN(PreparedMesh prepared, PrepareMesh(mesh, options.default_color));
  return FitViewToMesh(prepared, options);
}

core::FrameConstants FrameFor(const View& view, const RenderOptions& options) {
  core::FrameConstants f;
  f.right = ToFloat3(view.right);
  f.up = ToFloat3(view.up);
  f.forward = ToFloat3(view.forward);
  f.eye = ToFloat3(view.eye);
  f.orthographic = view.projection == Projection::kOrthographic ? 1 : 0;
  f.pixels_per_unit =
      static_cast<float>(f.orthographic ? 1 / view.scale : view.height / 2.0 / view.scale);
  f.center_x = static_cast<float>(view.width / 2.0);
  f.center_y = static_cast<float>(view.height / 2.0);
  f.near_plane = static_cast<float>(view.near_plane);
  f.far_plane = static_cast<float>(view.far_plane);
  f.width = view.width;
  f.height = view.height;
  f.light = ToFloat3(Normalized(kLightDirection));
  f.ambient = kAmbient;
  f.diffuse = kDiffuse;
  f.background = Pack(options.background);
  return f;
}

std::vector<core::ScreenVertex> VertexPassOnCpu(const PreparedMesh& mesh,
                                                const core::FrameConstants& frame) {
  std::vector<core::ScreenVertex> out(mesh.positions.size());
  for (size_t i = 0; i < out.size(); ++i) {
    out[i] = core::TransformVertex(frame, mesh.positions[i], mesh.normals[i], mesh.colors[i]);
  }
  return out;
}

std::vector<uint64_t> DepthPassOnCpu(const std::vector<core::ScreenVertex>& vertices,
                                     const std::vector<uint32_t>& indices,
                                     const std::vector<uint32_t>& triangle_order, int width,
                                     int height) {
  std::vector<uint64_t> keys(static_cast<size_t>(width) * height, core::kEmptyKey);
  for (const uint32_t t : triangle_order) {
    core::TriangleSetup s;
    if (!core::SetupTriangle(vertices[indices[3 * t]], vertices[indices[3 * t + 1]],
                             vertices[indices[3 * t + 2]], width, height, &s)) {
      continue;
    }
    core::RasterizeRect(s, t, s.x_begin, s.x_end, s.y_begin, s.y_end,
                        [&](int x, int y, uint64_t key) {
                          uint64_t& slot = keys[static_cast<size_t>(y) * width + x];
                          slot = std::min(slot, key);
                        });
  }
  return keys;
}

image::Image ShadePassOnCpu(const std::vector<core::ScreenVertex>& vertices,
                            const std::vector<uint32_t>& indices, const std::vector<uint64_t>& keys,
                            const core::FrameConstants& frame) {
  image::Image image = image::Image::Blank(frame.width, frame.height);
  for (int y = 0; y < frame.height; ++y) {
    for (int x = 0; x < frame.width; ++x) {
      const uint64_t key = keys[static_cast<size_t>(y) * frame.width + x];
      uint32_t color = frame.background;
      if (key != core::kEmptyKey) {
        const uint32_t t = static_cast<uint32_t>(key & 0xffffffffu);
        core::TriangleSetup s;
        // Set up exactly as in the depth pass, so it cannot fail here.
        core::SetupTriangle(vertices[indices[3 * t]], vertices[indices[3 * t + 1]],
                            vertices[indices[3 * t + 2]], frame.width, frame.height, &s);
        color = core::ShadePixel(frame, s, x, y);
      }
      uint8_t* p = image.pixel(x, y);
      for (int c = 0; c < 4; ++c) p[c] = static_cast<uint8_t>(color >> (8 * c));
    }
  }
  return image;
}

image::Image RenderPreparedOnCpu(const PreparedMesh& mesh, const core::FrameConstants& frame) {
  const std::vector<core::ScreenVertex> vertices = VertexPassOnCpu(mesh, frame);
  std::vector<uint32_t> order(mesh.indices.size() / 3);
  for (size_t t = 0; t < order.size(); ++t) order[t] = static_cast<uint32_t>(t);
  const std::vector<uint64_t> keys =
      DepthPassOnCpu(vertices, mesh.indices, order, frame.width, frame.height);
  return ShadePassOnCpu(vertices, mesh.indices, keys, frame);
}

absl::StatusOr<image::Image> RenderMeshOnCpu(const tasks::Mesh& mesh,
                                             const RenderOptions& options) {
  KILN_ASSIGN_OR_RETURN(PreparedMesh prepared, PrepareMesh(mesh, options.default_color));
  KILN_ASSIGN_OR_RETURN(View view, FitViewToMesh(prepared, options));
  return RenderPreparedOnCpu(prepared, FrameFor(view, options));
}

}  // namespace kiln::render
