// The arithmetic of one marching cube and one sample, written once for the CPU path
// (marching_cubes_cpu.cc), the CUDA kernels (cuda/marching_cubes_cuda.cu) and their host
// emulation: corner and edge numbering, the case mask, the asymptotic decider, the edge
// crossing and its position, and the sampled field's gradient. Everything here is
// __host__ __device__ under nvcc and plain inline C++ otherwise; pure functions of their
// arguments, safe from any thread. Double arithmetic uses explicitly rounded operations
// on the device so that nvcc's fused multiply-adds cannot move a vertex by an ulp: the
// CPU, the emulation and the GPU compute bit-identical positions.
//
// Numbering: cube corner c sits at (c & 1, (c >> 1) & 1, (c >> 2) & 1). Edge e runs
// along axis e / 4; bits 0 and 1 of e give its position on the other two axes
// (ascending). Face f is the side (f % 2) of axis f / 2.
#ifndef KILN_WORKER_TASKS_MARCHING_CUBES_CELL_H_
#define KILN_WORKER_TASKS_MARCHING_CUBES_CELL_H_

#include <cmath>
#include <cstdint>

// KILN_MC_HD marks code for both sides; KILN_MC_INLINE is that plus inline, forced on the
// device, where a call (instead of inlining) would put the small arrays on the stack.
#if defined(__CUDACC__)
#define KILN_MC_HD __host__ __device__
#define KILN_MC_INLINE __host__ __device__ __forceinline__
#else
#define KILN_MC_HD
#define KILN_MC_INLINE inline
#endif
// Fully unrolls a short fixed loop on the device, so that the small arrays it indexes
// stay in registers (a run-time index would put them in local memory).
#if defined(__CUDA_ARCH__)
#define KILN_MC_UNROLL _Pragma("unroll")
#else
#define KILN_MC_UNROLL
#endif

namespace kiln::tasks::marching_cubes {

// Vertex codes in a table triangle: 0..11 are cube edges; kCenterCode + m is the m-th
// loop centre vertex of the cube.
inline constexpr uint8_t kCenterCode = 12;
// At most 4 loops fit in a cube (the alternating case); checked when building tables.
inline constexpr int kMaxCenters = 4;

// The tables of marching_cubes_tables.h as raw pointers, in host or device memory.
struct TableView {
  const uint8_t* ambiguous_faces = nullptr;     // [256]
  const uint32_t* first_variant = nullptr;      // [256]
  const uint32_t* tri_begin = nullptr;          // [variants + 1]
  const uint32_t* center_begin = nullptr;       // [variants + 1]
  const uint8_t* tri_codes = nullptr;           // 3 per triangle
  const uint32_t* center_edge_begin = nullptr;  // [centres + 1]
  const uint8_t* center_edges = nullptr;
};

// A sampled field on a grid: the sample (i, j, k) is values[i + row * j + slice * k]
// and lies at origin + (i, j, k) * spacing. Not owning.
struct FieldView {
  const float* values = nullptr;
  float iso = 0;
  double origin[3] = {0, 0, 0};
  double spacing[3] = {1, 1, 1};
  int cells[3] = {1, 1, 1};
  uint64_t row = 2;    // cells[0] + 1
  uint64_t slice = 4;  // row * (cells[1] + 1)
};

KILN_MC_INLINE double MulRn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dmul_rn(a, b);
#else
  return a * b;
#endif
}

KILN_MC_INLINE double AddRn(double a, double b) {
#if defined(__CUDA_ARCH__)
  return __dadd_rn(a, b);
#else
  return a + b;
#endif
}

// x rounded to float and back, as storing a vertex position does. GCC 12 at -O2 folds
// double(float(x)) to x when it vectorizes the surrounding block (a miscompile); the
// empty asm makes the rounding stick.
KILN_MC_INLINE double RoundToFloat(double x) {
#if defined(__CUDA_ARCH__)
  return double(__double2float_rn(x));
#elif defined(__GNUC__) && (defined(__x86_64__) || defined(__i386__))
  float f = float(x);
  asm("" : "+x"(f));
  return f;
#else
  volatile float f = float(x);
  return f;
#endif
}

KILN_MC_INLINE bool IsFiniteSample(float x) {
#if defined(__CUDA_ARCH__)
  return isfinite(x);
#else
  return std::isfinite(x);
#endif
}

KILN_MC_INLINE uint64_t SampleIndex(const FieldView& f, int i, int j, int k) {
  return uint64_t(uint32_t(i)) + f.row * uint32_t(j) + f.slice * uint32_t(k);
}

// The raw sample (not relative to iso).
KILN_MC_INLINE float RawSample(const FieldView& f, uint64_t s) {
#if defined(__CUDA_ARCH__)
  return __ldg(f.values + s);
#else
  return f.values[s];
#endif
}

// The sample relative to iso; inside when negative. (value - 0 is exact, so iso 0 keeps
// the samples as they are, as the CPU path always did.)
KILN_MC_INLINE float RelativeSample(const FieldView& f, uint64_t s) {
  return RawSample(f, s) - f.iso;
}

KILN_MC_INLINE int EdgeAxis(int e) { return e >> 2; }

// The corner at the low end of edge e; the other end is that corner + (1 << axis).
KILN_MC_INLINE int EdgeLowCorner(int e) {
  const int a = e & 1, b = (e >> 1) & 1;
  switch (e >> 2) {
    case 0:
      return (a << 1) | (b << 2);  // Along x; a: +y, b: +z.
    case 1:
      return a | (b << 2);  // Along y; a: +x, b: +z.
    default:
      return a | (b << 1);  // Along z; a: +x, b: +y.
  }
}

// Corner n (0..3) of face f at (s, t) = (0,0), (1,0), (0,1), (1,1) over its two other
// axes, ascending. Both cubes sharing a face see it in this same order.
KILN_MC_INLINE int FaceCorner(int f, int n) {
  const int axis = f >> 1;
  const int u = axis == 0 ? 1 : 0;
  const int v = axis == 2 ? 1 : 2;
  return ((f & 1) << axis) | ((n & 1) << u) | (((n >> 1) & 1) << v);
}

// v[c] for a corner c known only at run time, without indexing the array: on the GPU
// an indexed local array lives in (slow) local memory, selects keep it in registers.
KILN_MC_INLINE float CornerValue(const float v[8], int c) {
  float value = v[0];
  KILN_MC_UNROLL
  for (int n = 1; n < 8; ++n) value = c == n ? v[n] : value;
  return value;
}

// Bit c set when corner c is inside (value < 0 relative to iso).
KILN_MC_INLINE int CubeMask(const float v[8]) {
  int mask = 0;
  KILN_MC_UNROLL
  for (int c = 0; c < 8; ++c) mask |= int(v[c] < 0) << c;
  return mask;
}

// The asymptotic decider: on an ambiguous face the bilinear interpolant has a saddle;
// when its value is inside, the two inside corners are connected across the face.
// Values are relative to iso and in FaceCorner order; products of floats are exact in
// double, so both cubes sharing the face (and CPU and GPU) decide identically.
KILN_MC_INLINE bool JoinsInside(float a, float b, float c, float d) {
  const double num = AddRn(MulRn(a, d), -MulRn(b, c));
  const double den = AddRn(AddRn(AddRn(a, d), -double(b)), -double(c));  // Nonzero here.
  return num != 0 && ((num < 0) != (den < 0));
}

// The table variant for a cube with corner values v (relative to iso) and case `mask`.
KILN_MC_INLINE uint32_t CubeVariant(const TableView& t, int mask, const float v[8]) {
  uint32_t variant = 0;
  const int ambiguous = t.ambiguous_faces[mask];
  if (ambiguous != 0) {
    int bit = 0;
    KILN_MC_UNROLL
    for (int f = 0; f < 6; ++f) {
      if (!((ambiguous >> f) & 1)) continue;
      if (JoinsInside(v[FaceCorner(f, 0)], v[FaceCorner(f, 1)], v[FaceCorner(f, 2)],
                      v[FaceCorner(f, 3)])) {
        variant |= 1u << bit;
      }
      ++bit;
    }
  }
  return t.first_variant[mask] + variant;
}

// Where along an edge from value v0 to v1 (relative to iso, signs differ) the field
// crosses iso, in [0, 1].
KILN_MC_INLINE double EdgeCrossingT(float v0, float v1) {
  double t = v0 / (double(v0) - v1);
  if (!(t >= 0 && t <= 1)) t = 0.5;  // Unreachable for finite samples of opposite sides.
  return t;
}

// The point at parameter t along the grid edge from sample (i, j, k) along `axis`.
KILN_MC_INLINE void EdgePoint(const FieldView& f, int i, int j, int k, int axis, double t,
                              double p[3]) {
  // Written with selects rather than p[axis]: a run-time index would put the arrays in
  // local memory on the GPU.
  KILN_MC_UNROLL
  for (int a = 0; a < 3; ++a) {
    const int index = a == 0 ? i : (a == 1 ? j : k);
    double x = AddRn(f.origin[a], MulRn(f.spacing[a], double(index)));
    if (a == axis) x = AddRn(x, MulRn(f.spacing[a], t));
    p[a] = x;
  }
}

// The derivative of the field along `axis` at sample (i, j, k): central differences,
// one-sided on the grid's border. In field units per unit length.
KILN_MC_INLINE double SampleDerivative(const FieldView& f, int i, int j, int k, int axis) {
  const int index = axis == 0 ? i : (axis == 1 ? j : k);
  const int last = axis == 0 ? f.cells[0] : (axis == 1 ? f.cells[1] : f.cells[2]);
  const double spacing = axis == 0 ? f.spacing[0] : (axis == 1 ? f.spacing[1] : f.spacing[2]);
  const uint64_t stride = axis == 0 ? 1 : (axis == 1 ? f.row : f.slice);
  const uint64_t s = SampleIndex(f, i, j, k);
  if (index == 0) return (double(RawSample(f, s + stride)) - RawSample(f, s)) / spacing;
  if (index == last) return (double(RawSample(f, s)) - RawSample(f, s - stride)) / spacing;
  return (double(RawSample(f, s + stride)) - RawSample(f, s - stride)) / (2 * spacing);
}

// The gradient at continuous grid coordinates u (sample (i, j, k) at u = (i, j, k)):
// the trilinear interpolation of the samples' central-difference gradients. On a grid
// edge this is the linear interpolation between the edge's two samples.
KILN_MC_INLINE void InterpolatedGradient(const FieldView& f, const double u[3], double g[3]) {
  int base[3];
  double w[3];
  KILN_MC_UNROLL
  for (int a = 0; a < 3; ++a) {
    const double cell = floor(u[a]);
    const int last = f.cells[a] - 1;
    base[a] = cell < 0 ? 0 : (cell > last ? last : int(cell));
    double frac = u[a] - base[a];
    w[a] = frac < 0 ? 0 : (frac > 1 ? 1 : frac);
  }
  g[0] = g[1] = g[2] = 0;
  KILN_MC_UNROLL
  for (int c = 0; c < 8; ++c) {
    double weight = 1;
    KILN_MC_UNROLL
    for (int a = 0; a < 3; ++a) weight *= ((c >> a) & 1) ? w[a] : 1 - w[a];
    if (weight == 0) continue;  // Most terms on a grid edge: saves their loads.
    const int i = base[0] + (c & 1), j = base[1] + ((c >> 1) & 1), k = base[2] + ((c >> 2) & 1);
    KILN_MC_UNROLL
    for (int a = 0; a < 3; ++a) g[a] += weight * SampleDerivative(f, i, j, k, a);
  }
}

// The central-difference gradient at sample (i, j, k).
KILN_MC_INLINE void SampleGradient(const FieldView& f, int i, int j, int k, double g[3]) {
  KILN_MC_UNROLL
  for (int a = 0; a < 3; ++a) g[a] = SampleDerivative(f, i, j, k, a);
}

// The gradient at parameter t along the grid edge from sample (i, j, k) along `axis`: the
// linear interpolation of its two samples' gradients, which is what InterpolatedGradient
// gives there (up to rounding), for a fraction of the work.
KILN_MC_INLINE void EdgeGradient(const FieldView& f, int i, int j, int k, int axis, double t,
                                 double g[3]) {
  double g0[3], g1[3];
  SampleGradient(f, i, j, k, g0);
  SampleGradient(f, i + (axis == 0), j + (axis == 1), k + (axis == 2), g1);
  KILN_MC_UNROLL
  for (int a = 0; a < 3; ++a) g[a] = (1 - t) * g0[a] + t * g1[a];
}

// The unit normal along g. False (and a zero normal) when g has no direction.
KILN_MC_INLINE bool NormalFromGradient(const double g[3], float n[3]) {
  const double len = sqrt(g[0] * g[0] + g[1] * g[1] + g[2] * g[2]);
  bool finite;
#if defined(__CUDA_ARCH__)
  finite = isfinite(len);
#else
  finite = std::isfinite(len);
#endif
  if (len > 0 && finite) {
    KILN_MC_UNROLL
    for (int a = 0; a < 3; ++a) n[a] = float(g[a] / len);
    return true;
  }
  n[0] = n[1] = n[2] = 0;
  return false;
}

}  // namespace kiln::tasks::marching_cubes

#endif  // KILN_WORKER_TASKS_MARCHING_CUBES_CELL_H_
