#include "worker/tasks/cuda/mesh_compare.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

namespace kiln::tasks {
namespace {

using Tri = std::array<uint32_t, 3>;

// The rotation of t that starts at its smallest index (orientation kept).
Tri Canonical(const Tri& t) {
  int m = 0;
  for (int c = 1; c < 3; ++c) {
    if (t[c] < t[m]) m = c;
  }
  return {t[m], t[(m + 1) % 3], t[(m + 2) % 3]};
}

std::string Show(const std::array<float, 3>& p) {
  std::ostringstream out;
  out.precision(9);
  out << "(" << p[0] << ", " << p[1] << ", " << p[2] << ")";
  return out.str();
}

struct CellKey {
  int64_t x, y, z;
  bool operator==(const CellKey&) const = default;
};
struct CellHash {
  size_t operator()(const CellKey& k) const {
    return std::hash<int64_t>()(k.x * 73856093 ^ k.y * 19349663 ^ k.z * 83492791);
  }
};

// Distinct vertices may share a position: a sample exactly at iso puts the vertices of all
// its crossing edges (t = 0 or 1) on the sample, and a t within half a float ulp of 0 or 1
// rounds onto it too. Matching by position then pairs such vertices arbitrarily, so
// within each group of expected vertices at one position this re-pairs them by the
// triangles around them, each triangle written as the position groups of its corners,
// starting at the vertex itself (orientation kept). Returns an empty string, or why the
// meshes differ around a shared position.
std::string PairVerticesThatSharePositions(const Mesh& expected, const Mesh& actual,
                                           std::vector<uint32_t>* to_expected) {
  const uint32_t n = uint32_t(expected.positions.size());
  std::vector<uint32_t> order(n);
  for (uint32_t v = 0; v < n; ++v) order[v] = v;
  std::sort(order.begin(), order.end(), [&](uint32_t a, uint32_t b) {
    return expected.positions[a] != expected.positions[b]
               ? expected.positions[a] < expected.positions[b]
               : a < b;
  });
  // group[v]: the lowest expected vertex at v's position; shared[v]: the group has others.
  std::vector<uint32_t> group(n);
  std::vector<bool> shared(n, false);
  bool any_shared = false;
  for (uint32_t r = 0; r < n;) {
    uint32_t end = r + 1;
    while (end < n && expected.positions[order[end]] == expected.positions[order[r]]) ++end;
    for (uint32_t q = r; q < end; ++q) {
      group[order[q]] = order[r];
      shared[order[q]] = end - r > 1;
    }
    any_shared |= end - r > 1;
    r = end;
  }
  if (!any_shared) return "";

  using Signature = std::vector<Tri>;
  auto signatures = [&](const std::vector<Tri>& triangles, auto expected_vertex) {
    std::unordered_map<uint32_t, Signature> out;
    for (const Tri& t : triangles) {
      for (int c = 0; c < 3; ++c) {
        const uint32_t e = expected_vertex(t[c]);
        if (!shared[e]) continue;
        out[t[c]].push_back({group[e], group[expected_vertex(t[(c + 1) % 3])],
                             group[expected_vertex(t[(c + 2) % 3])]});
      }
    }
    for (auto& [v, signature] : out) std::sort(signature.begin(), signature.end());
    return out;
  };
  auto want = signatures(expected.triangles, [](uint32_t v) { return v; });
  auto got = signatures(actual.triangles, [&](uint32_t v) { return (*to_expected)[v]; });

  // Members of each shared group on both sides, then paired in signature order.
  std::unordered_map<uint32_t, std::vector<uint32_t>> expected_members, actual_members;
  for (uint32_t v = 0; v < n; ++v) {
    if (shared[v]) expected_members[group[v]].push_back(v);
  }
  for (uint32_t v = 0; v < to_expected->size(); ++v) {
    const uint32_t e = (*to_expected)[v];
    if (shared[e]) actual_members[group[e]].push_back(v);
  }
  for (auto& [g, members] : expected_members) {
    std::vector<uint32_t>& others = actual_members[g];
    auto by_signature = [](std::unordered_map<uint32_t, Signature>& sig) {
      return [&sig](uint32_t a, uint32_t b) { return sig[a] < sig[b]; };
    };
    std::sort(members.begin(), members.end(), by_signature(want));
    std::sort(others.begin(), others.end(), by_signature(got));
    if (members.size() != others.size()) {
      return "vertex matching at shared position " + Show(expected.positions[g]) +
             " is not one to one";
    }
    for (size_t m = 0; m < members.size(); ++m) {
      if (want[members[m]] != got[others[m]]) {
        return "the " + std::to_string(members.size()) + " vertices at " +
               Show(expected.positions[g]) + " have different triangles around them";
      }
      (*to_expected)[others[m]] = members[m];
    }
  }
  return "";
}

}  // namespace

MeshComparison CompareMeshes(const Mesh& expected, const Mesh& actual,
                             const MeshCompareOptions& options) {
  MeshComparison result;
  std::ostringstream why;
  auto fail = [&](const std::string& what) {
    result.same = false;
    result.difference = what;
    return result;
  };
  if (expected.positions.size() != actual.positions.size()) {
    why << "vertex counts differ: expected " << expected.positions.size() << ", actual "
        << actual.positions.size();
    return fail(why.str());
  }
  if (expected.triangles.size() != actual.triangles.size()) {
    why << "triangle counts differ: expected " << expected.triangles.size() << ", actual "
        << actual.triangles.size();
    return fail(why.str());
  }
  const bool normals = options.normal_tolerance >= 0;
  if (normals && (expected.normals.size() != expected.positions.size() ||
                  actual.normals.size() != actual.positions.size())) {
    why << "normals missing: expected has " << expected.normals.size() << ", actual "
        << actual.normals.size() << " for " << expected.positions.size() << " vertices";
    return fail(why.str());
  }

  // Hash cells larger than the tolerance, so a match lies in one of 27 neighbour cells.
  float extent = 0;
  for (const auto& p : expected.positions) {
    for (float x : p) extent = std::max(extent, std::abs(x));
  }
  const double cell =
      std::max<double>(4.0 * options.position_tolerance, std::max(1e-30, double(extent) * 1e-5));
  auto key = [cell](const std::array<float, 3>& p) {
    return CellKey{int64_t(std::floor(p[0] / cell)), int64_t(std::floor(p[1] / cell)),
                   int64_t(std::floor(p[2] / cell))};
  };
  std::unordered_map<CellKey, std::vector<uint32_t>, CellHash> grid;
  grid.reserve(expected.positions.size());
  for (uint32_t v = 0; v < expected.positions.size(); ++v) {
    grid[key(expected.positions[v])].push_back(v);
  }

  // actual vertex -> expected vertex.
  constexpr uint32_t kNone = std::numeric_limits<uint32_t>::max();
  std::vector<uint32_t> to_expected(actual.positions.size(), kNone);
  std::vector<bool> taken(expected.positions.size(), false);
  int reported = 0;
  for (uint32_t v = 0; v < actual.positions.size(); ++v) {
    const auto& p = actual.positions[v];
    const CellKey k = key(p);
    uint32_t best = kNone;
    double best_distance = std::numeric_limits<double>::infinity();
    for (int dz = -1; dz <= 1; ++dz) {
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dx = -1; dx <= 1; ++dx) {
          const auto it = grid.find({k.x + dx, k.y + dy, k.z + dz});
          if (it == grid.end()) continue;
          for (uint32_t e : it->second) {
            if (taken[e]) continue;
            double d = 0;
            for (int a = 0; a < 3; ++a) {
              d = std::max(d, std::abs(double(expected.positions[e][a]) - p[a]));
            }
            if (d <= options.position_tolerance && d < best_distance) {
              best = e;
              best_distance = d;
            }
          }
        }
      }
    }
    if (best == kNone) {
      if (reported++ < 5) why << "actual vertex " << v << " at " << Show(p) << " has no match; ";
      continue;
    }
    taken[best] = true;
    to_expected[v] = best;
    result.max_position_difference = std::max(result.max_position_difference, best_distance);
    if (normals) {
      double d = 0;
      for (int a = 0; a < 3; ++a) {
        d = std::max(d, std::abs(double(expected.normals[best][a]) - actual.normals[v][a]));
      }
      result.max_normal_difference = std::max(result.max_normal_difference, d);
      if (d > options.normal_tolerance && reported++ < 5) {
        why << "normal of vertex at " << Show(p) << ": expected " << Show(expected.normals[best])
            << ", actual " << Show(actual.normals[v]) << "; ";
      }
    }
  }
  if (reported > 0) {
    why << reported << " vertex differences in all";
    return fail(why.str());
  }
  if (const std::string shared = PairVerticesThatSharePositions(expected, actual, &to_expected);
      !shared.empty()) {
    return fail(shared);
  }

  std::vector<Tri> want, got;
  want.reserve(expected.triangles.size());
  got.reserve(actual.triangles.size());
  for (const Tri& t : expected.triangles) want.push_back(Canonical(t));
  for (const Tri& t : actual.triangles) {
    Tri mapped;
    for (int c = 0; c < 3; ++c) {
      if (t[c] >= to_expected.size()) return fail("actual triangle with an out-of-range index");
      mapped[c] = to_expected[t[c]];
    }
    got.push_back(Canonical(mapped));
  }
  std::sort(want.begin(), want.end());
  std::sort(got.begin(), got.end());
  if (want != got) {
    size_t i = 0;
    while (i < want.size() && want[i] == got[i]) ++i;
    const Tri& w = want[i];
    why << "triangle sets differ; first difference: expected (" << Show(expected.positions[w[0]])
        << ", " << Show(expected.positions[w[1]]) << ", " << Show(expected.positions[w[2]]) << ")";
    return fail(why.str());
  }
  result.same = true;
  return result;
}

}  // namespace kiln::tasks
