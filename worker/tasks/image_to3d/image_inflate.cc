#include "worker/tasks/image_to3d/image_inflate.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <queue>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "common/status_macros.h"
#include "worker/image/connected_components.h"
#include "worker/image/foreground_key.h"
#include "worker/image/task_image_check.h"

namespace kiln::tasks {
namespace {

// How fast a large disc's radius fades past its rim in LocalRadius (radius lost per unit
// of distance): large enough that a thin part leaving a thick one soon gets its own
// thickness, small enough that the heights meet without a step.
constexpr double kLocalRadiusFalloff = 3.0;
// Smoothing passes applied to the outline at most (see InflateImage).
constexpr int kMaxOutlineSmoothing = 3;

// A working-resolution copy of the image: per pixel the foreground coverage in [0, 1]
// and the colour averaged over the covered part.
struct Working {
  int width = 0;
  int height = 0;
  std::vector<float> coverage;
  std::vector<std::array<float, 3>> color;
};

// Area-averages the image down so its longest side is at most `resolution`; coverage is
// alpha (alpha mode) or 0/1 by key distance (key mode), colours are coverage-weighted so
// a transparent or keyed-out backdrop does not bleed into the object's edge colours.
Working Downsample(const image::Image& image, bool alpha_mode,
                   const std::array<uint8_t, 3>& background, double tolerance, int resolution) {
  const int longest = std::max(image.width, image.height);
  Working w;
  if (longest <= resolution) {
    w.width = image.width;
    w.height = image.height;
  } else {
    const double scale = static_cast<double>(resolution) / longest;
    w.width = std::clamp(static_cast<int>(std::lround(image.width * scale)), 1, resolution);
    w.height = std::clamp(static_cast<int>(std::lround(image.height * scale)), 1, resolution);
  }
  const size_t n = static_cast<size_t>(w.width) * w.height;
  std::vector<double> coverage_sum(n, 0), count(n, 0);
  std::vector<std::array<double, 3>> color_sum(n, {0, 0, 0});
  const double max_distance = 255.0 * std::sqrt(3.0);
  const double key_limit_sq = (tolerance * max_distance) * (tolerance * max_distance);
  for (int y = 0; y < image.height; ++y) {
    const int ty = static_cast<int>(static_cast<int64_t>(y) * w.height / image.height);
    for (int x = 0; x < image.width; ++x) {
      const int tx = static_cast<int>(static_cast<int64_t>(x) * w.width / image.width);
      const uint8_t* p = image.pixel(x, y);
      double cover;
      if (alpha_mode) {
        cover = p[3] / 255.0;
      } else {
        double d2 = 0;
        for (int c = 0; c < 3; ++c) {
          const double d = static_cast<double>(p[c]) - background[c];
          d2 += d * d;
        }
        cover = d2 > key_limit_sq ? 1.0 : 0.0;
      }
      const size_t t = static_cast<size_t>(ty) * w.width + tx;
      coverage_sum[t] += cover;
      count[t] += 1;
      // A pixel of no coverage still counts a little, so fully uncovered working pixels
      // keep a colour (never shown: they are background).
      const double weight = cover + 1e-6;
      for (int c = 0; c < 3; ++c) color_sum[t][c] += weight * p[c];
    }
  }
  w.coverage.resize(n);
  w.color.resize(n);
  for (size_t t = 0; t < n; ++t) {
    w.coverage[t] = static_cast<float>(coverage_sum[t] / count[t]);
    const double weight = coverage_sum[t] + 1e-6 * count[t];
    for (int c = 0; c < 3; ++c) w.color[t][c] = static_cast<float>(color_sum[t][c] / weight);
  }
  return w;
}

// The 1-D lower envelope of parabolas (Felzenszwalb & Huttenlocher 2012, Algorithm 1):
// d[q] = min_p (q - p)^2 + f[p], in place over a strided line.
void DistanceTransform1d(double* line, int n, size_t stride, std::vector<double>& f,
                         std::vector<int>& v, std::vector<double>& z) {
  f.resize(n);
  v.resize(n);
  z.resize(n + 1);
  for (int q = 0; q < n; ++q) f[q] = line[q * stride];
  int k = 0;
  v[0] = 0;
  z[0] = -std::numeric_limits<double>::infinity();
  z[1] = std::numeric_limits<double>::infinity();
  for (int q = 1; q < n; ++q) {
    // z[0] is -infinity and every f is finite, so k never drops below 0.
    auto intersect = [&](int p) {
      return ((f[q] + static_cast<double>(q) * q) - (f[p] + static_cast<double>(p) * p)) /
             (2.0 * (q - p));
    };
    double s = intersect(v[k]);
    while (s <= z[k]) {
      --k;
      s = intersect(v[k]);
    }
    ++k;
    v[k] = q;
    z[k] = s;
    z[k + 1] = std::numeric_limits<double>::infinity();
  }
  k = 0;
  for (int q = 0; q < n; ++q) {
    while (z[k + 1] < q) ++k;
    const double d = q - v[k];
    line[q * stride] = d * d + f[v[k]];
  }
}

}  // namespace

std::vector<double> SquaredDistanceTransform(int width, int height, std::span<const uint8_t> seed) {
  // Finite "infinity": larger than any squared distance in the grid yet small enough
  // that adding a squared index to it stays exact in a double.
  const double far =
      4.0 * (static_cast<double>(width) * width + static_cast<double>(height) * height) + 1.0;
  std::vector<double> d(static_cast<size_t>(width) * height);
  for (size_t i = 0; i < d.size(); ++i) d[i] = seed[i] ? 0.0 : far;
  std::vector<double> f, z;
  std::vector<int> v;
  for (int x = 0; x < width; ++x) DistanceTransform1d(&d[x], height, width, f, v, z);
  for (int y = 0; y < height; ++y) {
    DistanceTransform1d(&d[static_cast<size_t>(y) * width], width, 1, f, v, z);
  }
  for (double& value : d) value = std::min(value, far);
  return d;
}

std::vector<double> LocalRadius(int width, int height, std::span<const double> distance) {
  struct Reach {
    double value;
    int point;
    int center;
    bool operator<(const Reach& other) const { return value < other.value; }
  };
  std::priority_queue<Reach> queue;
  for (int p = 0; p < width * height; ++p) {
    if (distance[p] > 0) queue.push({distance[p], p, p});
  }
  std::vector<double> radius(distance.size(), 0);
  std::vector<uint8_t> done(distance.size(), 0);
  // Largest value first, so each point keeps the first (largest) value that reaches it.
  while (!queue.empty()) {
    const Reach r = queue.top();
    queue.pop();
    if (done[r.point]) continue;
    done[r.point] = 1;
    radius[r.point] = r.value;
    const int x = r.point % width, y = r.point / width;
    const int cx = r.center % width, cy = r.center / width;
    const double ball = distance[r.center];
    const int neighbours[4][2] = {{x - 1, y}, {x + 1, y}, {x, y - 1}, {x, y + 1}};
    for (const auto& [nx, ny] : neighbours) {
      if (nx < 0 || ny < 0 || nx >= width || ny >= height) continue;
      const int n = ny * width + nx;
      if (done[n] || distance[n] <= 0) continue;
      const double from_center = std::hypot(nx - cx, ny - cy);
      const double value =
          from_center <= ball ? ball : ball - kLocalRadiusFalloff * (from_center - ball);
      // Below its own inscribed disc the point's own entry wins anyway.
      if (value > distance[n]) queue.push({value, n, r.center});
    }
  }
  return radius;
}

int64_t FillDiagonalContacts(int width, int height, std::vector<uint8_t>& mask) {
  int64_t filled = 0;
  // 2x2 blocks by their top-left pixel; a fill can create a new contact only in the
  // four blocks around the filled pixel, which go back on the stack.
  std::vector<std::pair<int, int>> stack;
  for (int y = 0; y + 1 < height; ++y) {
    for (int x = 0; x + 1 < width; ++x) stack.emplace_back(x, y);
  }
  auto at = [&](int x, int y) -> uint8_t& { return mask[static_cast<size_t>(y) * width + x]; };
  while (!stack.empty()) {
    const auto [x, y] = stack.back();
    stack.pop_back();
    if (x < 0 || y < 0 || x + 1 >= width || y + 1 >= height) continue;
    const bool tl = at(x, y), tr = at(x + 1, y), bl = at(x, y + 1), br = at(x + 1, y + 1);
    int fx, fy;
    if (tl && br && !tr && !bl) {
      fx = x + 1, fy = y;
    } else if (tr && bl && !tl && !br) {
      fx = x, fy = y;
    } else {
      continue;
    }
    at(fx, fy) = 1;
    ++filled;
    for (int dy = -1; dy <= 0; ++dy) {
      for (int dx = -1; dx <= 0; ++dx) stack.emplace_back(fx + dx, fy + dy);
    }
  }
  return filled;
}

absl::StatusOr<InflatedImage> InflateImage(const image::Image& image,
                                           const ImageTo3dParams& params) {
  KILN_RETURN_IF_ERROR(image::CheckTaskImage(image));
  if (params.resolution < 1 || params.components < 1 || !(params.size > 0) || !(params.depth > 0)) {
    return absl::InvalidArgumentError(
        "parameters: resolution, components, size and depth must be positive");
  }
  InflatedImage out;
  KILN_ASSIGN_OR_RETURN(const image::ForegroundKey key,
                        image::ResolveForegroundKey(image, params.mask, params.background));
  out.mask_mode = key.mode;
  const bool alpha_mode = key.mode == ImageMaskMode::kAlpha;
  if (!alpha_mode) out.background = key.background;

  const Working w =
      Downsample(image, alpha_mode, out.background, params.tolerance, params.resolution);
  const int width = w.width, height = w.height;
  const size_t n = static_cast<size_t>(width) * height;
  std::vector<uint8_t> mask(n);
  int64_t covered = 0;
  for (size_t i = 0; i < n; ++i) {
    mask[i] = w.coverage[i] >= 0.5f;
    covered += mask[i];
  }
  if (covered == 0) {
    if (alpha_mode) {
      return absl::InvalidArgumentError(
          "image has no foreground: alpha is below 50% everywhere (after downsampling)");
    }
    return absl::InvalidArgumentError(absl::StrFormat(
        "image has no foreground after keying: every pixel is within tolerance %g of the "
        "background [%d, %d, %d]",
        params.tolerance, out.background[0], out.background[1], out.background[2]));
  }
  if (!alpha_mode && covered == static_cast<int64_t>(n)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "image is all foreground after keying: no pixel is within tolerance %g of the "
        "background [%d, %d, %d]; set parameters.background or raise parameters.tolerance",
        params.tolerance, out.background[0], out.background[1], out.background[2]));
  }

  FillDiagonalContacts(width, height, mask);
  std::vector<int> labels;
  const std::vector<int64_t> sizes =
      image::LabelComponents(width, height, mask, image::Connectivity::kFour, labels);
  out.components_found = static_cast<int>(sizes.size()) - 1;
  // Keep the largest pieces (ties: the first found).
  std::vector<int> order(sizes.size() - 1);
  std::iota(order.begin(), order.end(), 1);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return sizes[a] > sizes[b]; });
  out.components_kept = std::min<int>(params.components, out.components_found);
  std::vector<uint8_t> kept(sizes.size(), 0);
  for (int i = 0; i < out.components_kept; ++i) kept[order[i]] = 1;
  for (size_t i = 0; i < n; ++i) {
    mask[i] = kept[labels[i]];
    if (!mask[i]) labels[i] = 0;
    out.mask_pixels += mask[i];
  }

  // Corner grid of the 2x2 sub-pixels: (gw + 1) x (gh + 1) corners.
  const int gw = 2 * width, gh = 2 * height;
  const int cw = gw + 1, ch = gh + 1;
  const size_t corners = static_cast<size_t>(cw) * ch;
  auto sub_label = [&](int sx, int sy) -> int {
    if (sx < 0 || sy < 0 || sx >= gw || sy >= gh) return 0;
    return labels[static_cast<size_t>(sy / 2) * width + sx / 2];
  };
  // Per corner: the label of a foreground sub-pixel it touches (0: none) and whether all
  // four of its sub-pixels are foreground (interior).
  std::vector<int> corner_label(corners, 0);
  std::vector<uint8_t> silhouette(corners, 1);  // Seeds of the distance transform.
  for (int cy = 0; cy < ch; ++cy) {
    for (int cx = 0; cx < cw; ++cx) {
      int label = 0, touching = 0;
      for (int dy = -1; dy <= 0; ++dy) {
        for (int dx = -1; dx <= 0; ++dx) {
          const int l = sub_label(cx + dx, cy + dy);
          if (l != 0) {
            label = l;
            ++touching;
          }
        }
      }
      const size_t c = static_cast<size_t>(cy) * cw + cx;
      corner_label[c] = label;
      silhouette[c] = touching < 4;
    }
  }
  const std::vector<double> d2 = SquaredDistanceTransform(cw, ch, silhouette);
  std::vector<double> dist(corners, 0);
  for (size_t c = 0; c < corners; ++c) {
    if (!silhouette[c]) dist[c] = std::sqrt(d2[c]);
  }
  const std::vector<double> radius = LocalRadius(cw, ch, dist);
  // h = depth * sqrt(d (2r - d)), r the largest inscribed disc covering the point: a
  // circle's profile across every part, so a disc becomes a sphere and a strip a
  // cylinder at depth 1, each as thick as it is wide, with a vertical tangent at the
  // silhouette.
  std::vector<double> height_field(corners, 0);
  for (size_t c = 0; c < corners; ++c) {
    if (silhouette[c]) continue;
    height_field[c] = params.depth * std::sqrt(std::max(0.0, dist[c] * (2 * radius[c] - dist[c])));
  }
  // Laplacian smoothing of the heights with the silhouette held at 0 (x, y untouched, so
  // the silhouette stays exact).
  std::vector<double> next(corners);
  for (int pass = 0; pass < params.smoothing; ++pass) {
    next = height_field;
    for (int cy = 1; cy + 1 < ch; ++cy) {
      for (int cx = 1; cx + 1 < cw; ++cx) {
        const size_t c = static_cast<size_t>(cy) * cw + cx;
        if (silhouette[c]) continue;
        const double mean = (height_field[c - 1] + height_field[c + 1] + height_field[c - cw] +
                             height_field[c + cw]) /
                            4;
        next[c] = 0.5 * height_field[c] + 0.5 * mean;
      }
    }
    height_field.swap(next);
  }

  // The silhouette outline, smoothed in the image plane so the rim is not a staircase of
  // pixel edges: Taubin's lambda/mu passes (no shrinking) over each outline loop, where
  // a corner's outline neighbours are the ends of its sub-pixel sides that separate
  // foreground from background (exactly two per outline corner, diagonal contacts being
  // filled). Interior corners stay on the grid.
  std::vector<std::array<double, 2>> xy(corners);
  for (int cy = 0; cy < ch; ++cy) {
    for (int cx = 0; cx < cw; ++cx) xy[static_cast<size_t>(cy) * cw + cx] = {1.0 * cx, 1.0 * cy};
  }
  if (params.smoothing > 0) {
    std::vector<std::array<int, 2>> outline(corners, {-1, -1});
    auto link = [&](size_t a, size_t b) {
      for (size_t from : {a, b}) {
        const int to = static_cast<int>(from == a ? b : a);
        auto& slots = outline[from];
        if (slots[0] < 0) {
          slots[0] = to;
        } else if (slots[1] < 0 && slots[0] != to) {
          slots[1] = to;
        }
      }
    };
    for (int sy = 0; sy < gh; ++sy) {
      for (int sx = 0; sx < gw; ++sx) {
        if (sub_label(sx, sy) == 0) continue;
        const size_t tl = static_cast<size_t>(sy) * cw + sx, tr = tl + 1, bl = tl + cw, br = bl + 1;
        if (sub_label(sx, sy - 1) == 0) link(tl, tr);
        if (sub_label(sx, sy + 1) == 0) link(bl, br);
        if (sub_label(sx - 1, sy) == 0) link(tl, bl);
        if (sub_label(sx + 1, sy) == 0) link(tr, br);
      }
    }
    std::vector<std::array<double, 2>> moved = xy;
    // Four lambda/mu pairs per smoothing pass: the staircase of a diagonal edge repeats
    // every few outline corners, and it takes about that many to flatten it. At most
    // three passes, so corners stay within their pixels however high smoothing goes.
    const int outline_passes = 8 * std::min(params.smoothing, kMaxOutlineSmoothing);
    for (int pass = 0; pass < outline_passes; ++pass) {
      const double factor = pass % 2 == 0 ? 0.5 : -0.53;
      for (size_t c = 0; c < corners; ++c) {
        const auto& [a, b] = outline[c];
        if (a < 0 || b < 0) continue;
        for (int k = 0; k < 2; ++k) {
          moved[c][k] = xy[c][k] + factor * ((xy[a][k] + xy[b][k]) / 2 - xy[c][k]);
        }
      }
      xy.swap(moved);
      moved = xy;
    }
  }

  // Vertices: one per used corner on the silhouette, two (front, back) elsewhere.
  const double unit = params.size / gw;  // Scene units per sub-pixel.
  Mesh& mesh = out.mesh;
  std::vector<uint32_t> front(corners, UINT32_MAX), back(corners, UINT32_MAX);
  auto color_at = [&](int cx, int cy) {
    // Bilinear over the working pixels' centres, foreground pixels only.
    const double u = cx / 2.0 - 0.5, v = cy / 2.0 - 0.5;
    const int i0 = static_cast<int>(std::floor(u)), j0 = static_cast<int>(std::floor(v));
    const double fu = u - i0, fv = v - j0;
    std::array<double, 3> sum{0, 0, 0};
    double total = 0;
    for (int dj = 0; dj <= 1; ++dj) {
      for (int di = 0; di <= 1; ++di) {
        const int i = i0 + di, j = j0 + dj;
        if (i < 0 || j < 0 || i >= width || j >= height) continue;
        const size_t p = static_cast<size_t>(j) * width + i;
        if (!mask[p]) continue;
        const double weight = (di ? fu : 1 - fu) * (dj ? fv : 1 - fv);
        for (int c = 0; c < 3; ++c) sum[c] += weight * w.color[p][c];
        total += weight;
      }
    }
    std::array<uint8_t, 4> rgba{128, 128, 128, 255};
    if (total > 0) {
      for (int c = 0; c < 3; ++c) {
        rgba[c] = static_cast<uint8_t>(std::clamp(std::lround(sum[c] / total), 0L, 255L));
      }
    }
    return rgba;
  };
  for (int cy = 0; cy < ch; ++cy) {
    for (int cx = 0; cx < cw; ++cx) {
      const size_t c = static_cast<size_t>(cy) * cw + cx;
      if (corner_label[c] == 0) continue;
      const float x = static_cast<float>((xy[c][0] - gw / 2.0) * unit);
      const float y = static_cast<float>((gh / 2.0 - xy[c][1]) * unit);
      const float z = static_cast<float>(height_field[c] * unit);
      const std::array<uint8_t, 4> rgba = color_at(cx, cy);
      front[c] = static_cast<uint32_t>(mesh.positions.size());
      mesh.positions.push_back({x, y, z});
      mesh.colors.push_back(rgba);
      if (silhouette[c]) {
        back[c] = front[c];
      } else {
        back[c] = static_cast<uint32_t>(mesh.positions.size());
        mesh.positions.push_back({x, y, -z});
        mesh.colors.push_back(rgba);
      }
    }
  }
  mesh.triangles.reserve(static_cast<size_t>(out.mask_pixels) * 16);
  for (int sy = 0; sy < gh; ++sy) {
    for (int sx = 0; sx < gw; ++sx) {
      if (sub_label(sx, sy) == 0) continue;
      // Corners counter-clockwise seen from +z (y up): bottom-left, bottom-right,
      // top-right, top-left.
      const size_t q[4] = {
          static_cast<size_t>(sy + 1) * cw + sx, static_cast<size_t>(sy + 1) * cw + sx + 1,
          static_cast<size_t>(sy) * cw + sx + 1, static_cast<size_t>(sy) * cw + sx};
      // Split through the pixel's centre corner (odd, odd), which is never on the
      // silhouette: it is the top-left or bottom-right corner when sx and sy have the
      // same parity.
      const bool tl_br = (sx % 2) == (sy % 2);
      const int a = tl_br ? 1 : 0;  // The diagonal runs q[a] to q[a + 2].
      const int tri[2][3] = {{a, a + 1, a + 2}, {a, a + 2, (a + 3) % 4}};
      for (const auto& t : tri) {
        mesh.triangles.push_back({front[q[t[0]]], front[q[t[1]]], front[q[t[2]]]});
        mesh.triangles.push_back({back[q[t[0]]], back[q[t[2]]], back[q[t[1]]]});
      }
    }
  }
  // Area-weighted vertex normals; silhouette vertices average front and back into the
  // outward horizontal direction.
  std::vector<std::array<double, 3>> normals(mesh.positions.size(), {0, 0, 0});
  for (const auto& t : mesh.triangles) {
    const auto& p0 = mesh.positions[t[0]];
    const auto& p1 = mesh.positions[t[1]];
    const auto& p2 = mesh.positions[t[2]];
    const double e1[3] = {p1[0] - p0[0], p1[1] - p0[1], p1[2] - p0[2]};
    const double e2[3] = {p2[0] - p0[0], p2[1] - p0[1], p2[2] - p0[2]};
    const double nrm[3] = {e1[1] * e2[2] - e1[2] * e2[1], e1[2] * e2[0] - e1[0] * e2[2],
                           e1[0] * e2[1] - e1[1] * e2[0]};
    for (uint32_t vi : t) {
      for (int k = 0; k < 3; ++k) normals[vi][k] += nrm[k];
    }
  }
  mesh.normals.resize(normals.size());
  for (size_t i = 0; i < normals.size(); ++i) {
    const auto& nv = normals[i];
    const double len = std::sqrt(nv[0] * nv[0] + nv[1] * nv[1] + nv[2] * nv[2]);
    mesh.normals[i] = len > 0 ? std::array<float, 3>{static_cast<float>(nv[0] / len),
                                                     static_cast<float>(nv[1] / len),
                                                     static_cast<float>(nv[2] / len)}
                              : std::array<float, 3>{0, 0, 1};
  }
  out.mask_width = width;
  out.mask_height = height;
  out.mask = std::move(mask);
  return out;
}

}  // namespace kiln::tasks
