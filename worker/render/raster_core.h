// The rasterizer's per-vertex, per-triangle and per-pixel code, shared word for word by
// the CPU path (rasterizer.cc) and the CUDA kernels (cuda/render_cuda.cu), so that both
// make the same image. Plain C++ with no library dependencies; compiled by the host
// compiler and by nvcc (as __host__ __device__).
//
// Why the two paths agree: coverage is decided on integer fixed-point coordinates
// (kSubpixelBits) with the top-left fill rule, so every pixel is owned by the same
// triangles on both; depth, interpolation and shading use the same float operations in
// the same order, with contraction into FMA off on both sides (nvcc --fmad=false, host
// -ffp-contract=off), and sqrtf/division are IEEE-rounded in both; the visible triangle
// of a pixel is the smallest (depth bits, triangle index) key, which makes the result
// independent of the order triangles are drawn in (the GPU's atomicMin and the CPU's
// loop pick the same one, ties included).
#ifndef KILN_WORKER_RENDER_RASTER_CORE_H_
#define KILN_WORKER_RENDER_RASTER_CORE_H_

#include <cmath>
#include <cstdint>
#include <cstring>

#if defined(__CUDACC__)
#define KILN_RENDER_HD __host__ __device__ inline
#else
#define KILN_RENDER_HD inline
#endif

namespace kiln::render::core {

inline constexpr int kSubpixelBits = 8;
inline constexpr float kSubpixelScale = 256.0f;
// Screen coordinates are clamped to +-kGuardBand pixels before going to fixed point, so
// edge-function products stay far inside int64 (the fitted camera keeps every vertex on
// screen; this only guards against overflow).
inline constexpr float kGuardBand = 65536.0f;
// The z-buffer value of a pixel no triangle covers.
inline constexpr uint64_t kEmptyKey = ~uint64_t{0};
// Triangles whose pixel bounding box is larger than this are rasterized by a whole thread
// block on the GPU (one thread per triangle otherwise); the CPU does not care.
inline constexpr int64_t kSmallTrianglePixels = 32 * 32;

struct Float3 {
  float x, y, z;
};

// Everything a frame needs, computed on the host from a View (rasterizer.cc FrameFor).
struct FrameConstants {
  // Camera axes and position (world space): right, up, forward (into the screen).
  Float3 right, up, forward, eye;
  int orthographic;
  // Orthographic: pixels per world unit. Perspective: pixels per unit at depth 1.
  float pixels_per_unit;
  float center_x, center_y;  // width / 2, height / 2
  float near_plane, far_plane;
  int width, height;
  // Camera space (x right, y up, z toward the viewer), unit, pointing to the light.
  Float3 light;
  float ambient, diffuse;
  uint32_t background;  // packed RGBA (R in the low byte)
};

// A vertex after the camera: fixed-point pixel position (0,0 = top-left corner of the
// image, y down), depth in [0,1] (0 near), 1/depth for perspective-correct
// interpolation, the normal in camera space, the colour packed RGBA.
struct ScreenVertex {
  int32_t x, y;
  float depth;
  float inv_w;
  Float3 normal;
  uint32_t color;
  int32_t visible;  // in front of the near plane
};

KILN_RENDER_HD float Dot(const Float3& a, const Float3& b) {
  return a.x * b.x + a.y * b.y + a.z * b.z;
}

KILN_RENDER_HD int32_t ToFixed(float pixels) {
  if (!(pixels > -kGuardBand)) pixels = -kGuardBand;  // also NaN
  if (pixels > kGuardBand) pixels = kGuardBand;
  return static_cast<int32_t>(floorf(pixels * kSubpixelScale + 0.5f));
}

KILN_RENDER_HD ScreenVertex TransformVertex(const FrameConstants& f, const Float3& p,
                                            const Float3& n, uint32_t color) {
  const Float3 rel = {p.x - f.eye.x, p.y - f.eye.y, p.z - f.eye.z};
  const float cx = Dot(f.right, rel);
  const float cy = Dot(f.up, rel);
  const float d = Dot(f.forward, rel);
  ScreenVertex v;
  float sx, sy, depth;
  if (f.orthographic) {
    sx = f.center_x + cx * f.pixels_per_unit;
    sy = f.center_y - cy * f.pixels_per_unit;
    depth = (d - f.near_plane) / (f.far_plane - f.near_plane);
    v.inv_w = 1.0f;
    v.visible = 1;
  } else {
    const float safe_d = d > f.near_plane * 0.5f ? d : f.near_plane * 0.5f;
    const float inv_d = 1.0f / safe_d;
    sx = f.center_x + cx * f.pixels_per_unit * inv_d;
    sy = f.center_y - cy * f.pixels_per_unit * inv_d;
    // 1/d is affine in screen space, so this depth interpolates exactly across a triangle.
    const float inv_near = 1.0f / f.near_plane, inv_far = 1.0f / f.far_plane;
    depth = (inv_near - inv_d) / (inv_near - inv_far);
    v.inv_w = inv_d;
    v.visible = d >= f.near_plane ? 1 : 0;
  }
  v.x = ToFixed(sx);
  v.y = ToFixed(sy);
  v.depth = depth < 0.0f ? 0.0f : (depth > 1.0f ? 1.0f : depth);
  v.normal = {Dot(f.right, n), Dot(f.up, n), -Dot(f.forward, n)};
  v.color = color;
  return v;
}

// A triangle ready to rasterize: vertices in the order that makes its area positive (the
// edge functions are then >= 0 inside), and its pixel bounding box on screen.
struct TriangleSetup {
  ScreenVertex v[3];
  int64_t area;     // twice the area, in subpixel units squared, > 0
  int back_facing;  // its front (counter-clockwise from outside) faces away from us
  int x_begin, x_end, y_begin, y_end;  // pixels [begin, end)
};

// Twice the signed area of (a, b, p): > 0 when p is on the inner side of edge a->b of a
// positive triangle (y down).
KILN_RENDER_HD int64_t Edge(int64_t ax, int64_t ay, int64_t bx, int64_t by, int64_t px,
                            int64_t py) {
  return (bx - ax) * (py - ay) - (by - ay) * (px - ax);
}

// The top-left rule for a positive triangle: pixels exactly on a top edge (horizontal,
// inside below) or a left edge (inside to the right) belong to it, on other edges to the
// neighbour, so a pixel on a shared edge is drawn once.
KILN_RENDER_HD int64_t FillBias(const ScreenVertex& a, const ScreenVertex& b) {
  const int64_t dx = int64_t{b.x} - a.x, dy = int64_t{b.y} - a.y;
  return (dy < 0 || (dy == 0 && dx > 0)) ? 0 : -1;
}

// False for a triangle that covers nothing: degenerate, off screen, or crossing the near
// plane (the fitted camera keeps every vertex in front; such a triangle is dropped).
KILN_RENDER_HD bool SetupTriangle(const ScreenVertex& a, const ScreenVertex& b,
                                  const ScreenVertex& c, int width, int height, TriangleSetup* s) {
  if (!a.visible || !b.visible || !c.visible) return false;
  int64_t area = Edge(a.x, a.y, b.x, b.y, c.x, c.y);
  if (area == 0) return false;
  s->v[0] = a;
  // y down flips the winding: a triangle counter-clockwise from outside (its front)
  // has a negative area on screen.
  s->back_facing = area > 0 ? 1 : 0;
  if (area < 0) {
    s->v[1] = c;
    s->v[2] = b;
    area = -area;
  } else {
    s->v[1] = b;
    s->v[2] = c;
  }
  s->area = area;
  int32_t min_x = a.x, max_x = a.x, min_y = a.y, max_y = a.y;
  for (int i = 1; i < 3; ++i) {
    const ScreenVertex& v = s->v[i];
    min_x = v.x < min_x ? v.x : min_x;
    max_x = v.x > max_x ? v.x : max_x;
    min_y = v.y < min_y ? v.y : min_y;
    max_y = v.y > max_y ? v.y : max_y;
  }
  // Pixel x has its centre at x * 256 + 128: the pixels whose centres lie in the box.
  const int half = 1 << (kSubpixelBits - 1);
  int x0 = (min_x - half + (1 << kSubpixelBits) - 1) >> kSubpixelBits;
  int x1 = ((max_x - half) >> kSubpixelBits) + 1;
  int y0 = (min_y - half + (1 << kSubpixelBits) - 1) >> kSubpixelBits;
  int y1 = ((max_y - half) >> kSubpixelBits) + 1;
  s->x_begin = x0 < 0 ? 0 : x0;
  s->x_end = x1 > width ? width : x1;
  s->y_begin = y0 < 0 ? 0 : y0;
  s->y_end = y1 > height ? height : y1;
  return s->x_begin < s->x_end && s->y_begin < s->y_end;
}

struct Barycentric {
  int64_t w0, w1, w2;  // edge functions; each >= 0 inside
};

KILN_RENDER_HD Barycentric EdgeFunctions(const TriangleSetup& s, int x, int y) {
  const int64_t px = (int64_t{x} << kSubpixelBits) + (1 << (kSubpixelBits - 1));
  const int64_t py = (int64_t{y} << kSubpixelBits) + (1 << (kSubpixelBits - 1));
  const ScreenVertex *a = &s.v[0], *b = &s.v[1], *c = &s.v[2];
  return {Edge(b->x, b->y, c->x, c->y, px, py), Edge(c->x, c->y, a->x, a->y, px, py),
          Edge(a->x, a->y, b->x, b->y, px, py)};
}

KILN_RENDER_HD bool Covers(const TriangleSetup& s, const Barycentric& w) {
  return w.w0 + FillBias(s.v[1], s.v[2]) >= 0 && w.w1 + FillBias(s.v[2], s.v[0]) >= 0 &&
         w.w2 + FillBias(s.v[0], s.v[1]) >= 0;
}

KILN_RENDER_HD uint32_t FloatBits(float f) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(f);
#else
  uint32_t bits;
  std::memcpy(&bits, &f, sizeof(bits));
  return bits;
#endif
}

// The z-buffer key of a covered pixel: depth (non-negative, so its bits order like the
// value) above the triangle index; the smallest key is the visible triangle.
KILN_RENDER_HD uint64_t DepthKey(const TriangleSetup& s, const Barycentric& w, uint32_t triangle) {
  const float sum = static_cast<float>(w.w0) * s.v[0].depth +
                    static_cast<float>(w.w1) * s.v[1].depth +
                    static_cast<float>(w.w2) * s.v[2].depth;
  float depth = sum / static_cast<float>(s.area);
  depth = depth < 0.0f ? 0.0f : (depth > 1.0f ? 1.0f : depth);
  return (uint64_t{FloatBits(depth)} << 32) | triangle;
}

// Calls visit(x, y, key) for every pixel of rows [y_begin, y_end) x columns [x_begin,
// x_end) that the triangle covers.
template <typename Visit>
KILN_RENDER_HD void RasterizeRect(const TriangleSetup& s, uint32_t triangle, int x_begin, int x_end,
                                  int y_begin, int y_end, Visit&& visit) {
  for (int y = y_begin; y < y_end; ++y) {
    for (int x = x_begin; x < x_end; ++x) {
      const Barycentric w = EdgeFunctions(s, x, y);
      if (Covers(s, w)) visit(x, y, DepthKey(s, w, triangle));
    }
  }
}

KILN_RENDER_HD float Channel(uint32_t packed, int i) {
  return static_cast<float>((packed >> (8 * i)) & 0xffu);
}

// The colour of pixel (x, y), whose visible triangle is `s` (set up from the same
// vertices as when it was rasterized): perspective-correct normal and colour, Lambert.
// Covered pixels are opaque (vertex alpha is not blended).
KILN_RENDER_HD uint32_t ShadePixel(const FrameConstants& f, const TriangleSetup& s, int x, int y) {
  const Barycentric w = EdgeFunctions(s, x, y);
  const float p0 = static_cast<float>(w.w0) * s.v[0].inv_w;
  const float p1 = static_cast<float>(w.w1) * s.v[1].inv_w;
  const float p2 = static_cast<float>(w.w2) * s.v[2].inv_w;
  const float sum = p0 + p1 + p2;
  const float b0 = sum > 0.0f ? p0 / sum : 1.0f;
  const float b1 = sum > 0.0f ? p1 / sum : 0.0f;
  const float b2 = sum > 0.0f ? p2 / sum : 0.0f;
  Float3 n = {b0 * s.v[0].normal.x + b1 * s.v[1].normal.x + b2 * s.v[2].normal.x,
              b0 * s.v[0].normal.y + b1 * s.v[1].normal.y + b2 * s.v[2].normal.y,
              b0 * s.v[0].normal.z + b1 * s.v[1].normal.z + b2 * s.v[2].normal.z};
  if (s.back_facing) n = {-n.x, -n.y, -n.z};
  const float length = sqrtf(Dot(n, n));
  n = length > 0.0f ? Float3{n.x / length, n.y / length, n.z / length} : Float3{0.0f, 0.0f, 1.0f};
  float lambert = Dot(n, f.light);
  lambert = lambert > 0.0f ? lambert : 0.0f;
  const float light = f.ambient + f.diffuse * lambert;
  uint32_t out = 0xff000000u;
  for (int i = 0; i < 3; ++i) {
    const float c = (b0 * Channel(s.v[0].color, i) + b1 * Channel(s.v[1].color, i) +
                     b2 * Channel(s.v[2].color, i)) *
                    light;
    const float clamped = c < 0.0f ? 0.0f : (c > 255.0f ? 255.0f : c);
    out |= static_cast<uint32_t>(clamped + 0.5f) << (8 * i);
  }
  return out;
}

}  // namespace kiln::render::core

#endif  // KILN_WORKER_RENDER_RASTER_CORE_H_
