#include "worker/cad/shape_mesh.h"

#include <BRepBndLib.hxx>
#include <BRepBuilderAPI_MakeFace.hxx>
#include <BRepBuilderAPI_MakePolygon.hxx>
#include <BRepBuilderAPI_MakeSolid.hxx>
#include <BRepBuilderAPI_MakeVertex.hxx>
#include <BRepBuilderAPI_Sewing.hxx>
#include <BRepLib.hxx>
#include <BRepMesh_IncrementalMesh.hxx>
#include <BRep_Builder.hxx>
#include <BRep_Tool.hxx>
#include <Bnd_Box.hxx>
#include <IFSelect_ReturnStatus.hxx>
#include <Interface_Static.hxx>
#include <Poly_Triangulation.hxx>
#include <STEPControl_Writer.hxx>
#include <TopExp_Explorer.hxx>
#include <TopLoc_Location.hxx>
#include <TopoDS.hxx>
#include <TopoDS_Compound.hxx>
#include <TopoDS_Face.hxx>
#include <TopoDS_Shell.hxx>
#include <TopoDS_Solid.hxx>
#include <TopoDS_Vertex.hxx>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <gp_Pnt.hxx>
#include <gp_Trsf.hxx>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"

namespace kiln::cad {
namespace {

using kiln::tasks::Mesh;

// The default linear deflection, as a fraction of the shape's diagonal.
constexpr double kDefaultRelativeDeflection = 1e-3;

// Merges points closer than `tolerance` (per axis) into one vertex: a hash grid of cells
// of that size, searched in the 27 cells around each point.
class VertexWelder {
 public:
  VertexWelder(Mesh* mesh, double tolerance) : mesh_(mesh), tolerance_(tolerance) {}

  uint32_t Add(const gp_Pnt& p) {
    const std::array<int64_t, 3> cell = CellOf(p);
    for (int dx = -1; dx <= 1; ++dx) {
      for (int dy = -1; dy <= 1; ++dy) {
        for (int dz = -1; dz <= 1; ++dz) {
          auto it = cells_.find(Key({cell[0] + dx, cell[1] + dy, cell[2] + dz}));
          if (it == cells_.end()) continue;
          for (uint32_t index : it->second) {
            const std::array<double, 3>& q = exact_[index];
            if (std::abs(q[0] - p.X()) <= tolerance_ && std::abs(q[1] - p.Y()) <= tolerance_ &&
                std::abs(q[2] - p.Z()) <= tolerance_) {
              return index;
            }
          }
        }
      }
    }
    const auto index = static_cast<uint32_t>(mesh_->positions.size());
    mesh_->positions.push_back(
        {static_cast<float>(p.X()), static_cast<float>(p.Y()), static_cast<float>(p.Z())});
    exact_.push_back({p.X(), p.Y(), p.Z()});
    cells_[Key(cell)].push_back(index);
    return index;
  }

 private:
  std::array<int64_t, 3> CellOf(const gp_Pnt& p) const {
    return {static_cast<int64_t>(std::floor(p.X() / tolerance_)),
            static_cast<int64_t>(std::floor(p.Y() / tolerance_)),
            static_cast<int64_t>(std::floor(p.Z() / tolerance_))};
  }
  static uint64_t Key(const std::array<int64_t, 3>& c) {
    uint64_t h = 1469598103934665603ull;
    for (int64_t v : c) h = (h ^ static_cast<uint64_t>(v)) * 1099511628211ull;
    return h;
  }

  Mesh* mesh_;
  const double tolerance_;
  std::vector<std::array<double, 3>> exact_;
  std::unordered_map<uint64_t, std::vector<uint32_t>> cells_;
};

// The diagonal of the box around the nodes of all face triangulations.
double TriangulationDiagonal(const TopoDS_Shape& shape) {
  double lo[3] = {HUGE_VAL, HUGE_VAL, HUGE_VAL}, hi[3] = {-HUGE_VAL, -HUGE_VAL, -HUGE_VAL};
  for (TopExp_Explorer ex(shape, TopAbs_FACE); ex.More(); ex.Next()) {
    TopLoc_Location location;
    const Handle(Poly_Triangulation) tri =
        BRep_Tool::Triangulation(TopoDS::Face(ex.Current()), location);
    if (tri.IsNull()) continue;
    const gp_Trsf trsf = location.Transformation();
    for (int i = 1; i <= tri->NbNodes(); ++i) {
      const gp_Pnt p = tri->Node(i).Transformed(trsf);
      const double c[3] = {p.X(), p.Y(), p.Z()};
      for (int a = 0; a < 3; ++a) {
        lo[a] = std::min(lo[a], c[a]);
        hi[a] = std::max(hi[a], c[a]);
      }
    }
  }
  if (lo[0] > hi[0]) return 0;
  return std::sqrt((hi[0] - lo[0]) * (hi[0] - lo[0]) + (hi[1] - lo[1]) * (hi[1] - lo[1]) +
                   (hi[2] - lo[2]) * (hi[2] - lo[2]));
}

// Normals for the vertices from first_vertex on, averaged (area-weighted) over the
// triangles from first_triangle on: one face's vertices and triangles.
void AddFaceNormals(size_t first_vertex, size_t first_triangle, Mesh* mesh) {
  std::vector<std::array<double, 3>> sums(mesh->positions.size() - first_vertex, {0, 0, 0});
  std::array<double, 3> face_sum = {0, 0, 0};
  for (size_t t = first_triangle; t < mesh->triangles.size(); ++t) {
    const auto& tri = mesh->triangles[t];
    const auto& a = mesh->positions[tri[0]];
    const auto& b = mesh->positions[tri[1]];
    const auto& c = mesh->positions[tri[2]];
    const double u[3] = {double(b[0]) - a[0], double(b[1]) - a[1], double(b[2]) - a[2]};
    const double v[3] = {double(c[0]) - a[0], double(c[1]) - a[1], double(c[2]) - a[2]};
    const std::array<double, 3> n = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                                     u[0] * v[1] - u[1] * v[0]};
    for (uint32_t corner : tri) {
      for (int k = 0; k < 3; ++k) sums[corner - first_vertex][k] += n[k];
    }
    for (int k = 0; k < 3; ++k) face_sum[k] += n[k];
  }
  mesh->normals.resize(mesh->positions.size());
  for (size_t i = 0; i < sums.size(); ++i) {
    // A vertex no triangle uses (or only slivers do) takes the face's mean direction.
    std::array<double, 3> n = sums[i];
    double length = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    if (!(length > 0)) {
      n = face_sum;
      length = std::sqrt(n[0] * n[0] + n[1] * n[1] + n[2] * n[2]);
    }
    if (!(length > 0)) n = {0, 0, length = 1};
    mesh->normals[first_vertex + i] = {static_cast<float>(n[0] / length),
                                       static_cast<float>(n[1] / length),
                                       static_cast<float>(n[2] / length)};
  }
}

}  // namespace

absl::StatusOr<Mesh> TessellateShape(const TopoDS_Shape& shape, const Tessellation& tessellation,
                                     MeshVertices vertices) {
  if (shape.IsNull()) return absl::InvalidArgumentError("the shape is empty");
  if (!(tessellation.linear_deflection >= 0) || !(tessellation.angular_deflection > 0)) {
    return absl::InvalidArgumentError(
        "tessellation: linear deflection must be >= 0 and angular deflection > 0");
  }
  double linear = tessellation.linear_deflection;
  bool relative = tessellation.relative;
  if (linear == 0) {
    Bnd_Box box;
    BRepBndLib::Add(shape, box, /*useTriangulation=*/Standard_False);
    if (box.IsVoid()) return absl::InvalidArgumentError("the shape has no geometry");
    linear = std::sqrt(box.SquareExtent()) * kDefaultRelativeDeflection;
    relative = false;
    if (!(linear > 0)) return absl::InvalidArgumentError("the shape has no extent");
  }
  BRepMesh_IncrementalMesh mesher(shape, linear, relative, tessellation.angular_deflection,
                                  /*isInParallel=*/false);
  const double diagonal = TriangulationDiagonal(shape);
  Mesh mesh;
  VertexWelder welder(&mesh, std::max(diagonal * 1e-6, 1e-12));
  const bool per_face = vertices == MeshVertices::kPerFaceWithNormals;
  int faces = 0, meshed_faces = 0;
  std::vector<uint32_t> node_index;
  for (TopExp_Explorer ex(shape, TopAbs_FACE); ex.More(); ex.Next()) {
    ++faces;
    const TopoDS_Face& face = TopoDS::Face(ex.Current());
    TopLoc_Location location;
    const Handle(Poly_Triangulation) tri = BRep_Tool::Triangulation(face, location);
    if (tri.IsNull() || tri->NbTriangles() == 0) continue;
    ++meshed_faces;
    const gp_Trsf trsf = location.Transformation();
    node_index.assign(tri->NbNodes() + 1, 0);
    const size_t face_first_vertex = mesh.positions.size();
    const size_t face_first_triangle = mesh.triangles.size();
    for (int i = 1; i <= tri->NbNodes(); ++i) {
      const gp_Pnt p = tri->Node(i).Transformed(trsf);
      if (per_face) {
        node_index[i] = static_cast<uint32_t>(mesh.positions.size());
        mesh.positions.push_back(
            {static_cast<float>(p.X()), static_cast<float>(p.Y()), static_cast<float>(p.Z())});
      } else {
        node_index[i] = welder.Add(p);
      }
    }
    // A reversed face's outside is the other side of its surface's parametrisation.
    const bool reversed = face.Orientation() == TopAbs_REVERSED;
    for (int t = 1; t <= tri->NbTriangles(); ++t) {
      int n1 = 0, n2 = 0, n3 = 0;
      tri->Triangle(t).Get(n1, n2, n3);
      if (reversed) std::swap(n2, n3);
      const std::array<uint32_t, 3> corners = {node_index[n1], node_index[n2], node_index[n3]};
      // Welding can collapse a sliver triangle; it would only add a degenerate face.
      if (corners[0] == corners[1] || corners[1] == corners[2] || corners[0] == corners[2]) {
        continue;
      }
      mesh.triangles.push_back(corners);
    }
    if (per_face) AddFaceNormals(face_first_vertex, face_first_triangle, &mesh);
  }
  if (faces == 0) return absl::InvalidArgumentError("the shape has no faces");
  if (mesh.triangles.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("none of the shape's ", faces,
                                                   " faces could be tessellated (", meshed_faces,
                                                   " gave triangles)"));
  }
  return mesh;
}

absl::Status WriteStepShape(const TopoDS_Shape& shape, const std::string& path) {
  STEPControl_Writer writer;
  // A process-wide setting in OCCT; every Kiln writer wants the same value.
  Interface_Static::SetCVal("write.step.schema", "AP214IS");
  if (writer.Transfer(shape, STEPControl_AsIs) != IFSelect_RetDone) {
    return absl::InternalError(
        absl::StrCat(path, ": OpenCASCADE could not translate the shape to STEP"));
  }
  if (writer.Write(path.c_str()) != IFSelect_RetDone) {
    return absl::InternalError(absl::StrCat(path, ": cannot write the STEP file"));
  }
  return absl::OkStatus();
}

absl::StatusOr<TopoDS_Shape> MeshToShape(const Mesh& mesh) {
  const size_t n = mesh.positions.size();
  double lo[3] = {HUGE_VAL, HUGE_VAL, HUGE_VAL}, hi[3] = {-HUGE_VAL, -HUGE_VAL, -HUGE_VAL};
  for (const auto& p : mesh.positions) {
    for (int a = 0; a < 3; ++a) {
      if (!std::isfinite(p[a])) return absl::InvalidArgumentError("mesh: a position is not finite");
      lo[a] = std::min<double>(lo[a], p[a]);
      hi[a] = std::max<double>(hi[a], p[a]);
    }
  }
  double diagonal = 0;
  for (int a = 0; a < 3 && n > 0; ++a) diagonal += (hi[a] - lo[a]) * (hi[a] - lo[a]);
  diagonal = std::sqrt(diagonal);
  // Sliver triangles under this area give OCCT faces it cannot build a plane for.
  const double min_double_area = diagonal * diagonal * 1e-14;

  std::vector<TopoDS_Vertex> vertices(n);
  auto vertex = [&](uint32_t i) -> const TopoDS_Vertex& {
    if (vertices[i].IsNull()) {
      const auto& p = mesh.positions[i];
      vertices[i] = BRepBuilderAPI_MakeVertex(gp_Pnt(p[0], p[1], p[2]));
    }
    return vertices[i];
  };
  BRep_Builder builder;
  TopoDS_Compound faces;
  builder.MakeCompound(faces);
  size_t built = 0;
  for (size_t t = 0; t < mesh.triangles.size(); ++t) {
    const auto& tri = mesh.triangles[t];
    for (uint32_t i : tri) {
      if (i >= n) {
        return absl::InvalidArgumentError(absl::StrCat("mesh: triangle ", t, " uses vertex ", i,
                                                       " but there are only ", n, " vertices"));
      }
    }
    if (tri[0] == tri[1] || tri[1] == tri[2] || tri[0] == tri[2]) continue;
    const auto& a = mesh.positions[tri[0]];
    const auto& b = mesh.positions[tri[1]];
    const auto& c = mesh.positions[tri[2]];
    const double u[3] = {double(b[0]) - a[0], double(b[1]) - a[1], double(b[2]) - a[2]};
    const double v[3] = {double(c[0]) - a[0], double(c[1]) - a[1], double(c[2]) - a[2]};
    const double cross[3] = {u[1] * v[2] - u[2] * v[1], u[2] * v[0] - u[0] * v[2],
                             u[0] * v[1] - u[1] * v[0]};
    const double double_area =
        std::sqrt(cross[0] * cross[0] + cross[1] * cross[1] + cross[2] * cross[2]);
    if (!(double_area > min_double_area)) continue;
    BRepBuilderAPI_MakePolygon polygon(vertex(tri[0]), vertex(tri[1]), vertex(tri[2]),
                                       /*Close=*/Standard_True);
    if (!polygon.IsDone()) continue;
    BRepBuilderAPI_MakeFace face(polygon.Wire(), /*OnlyPlane=*/Standard_True);
    if (!face.IsDone()) continue;
    builder.Add(faces, face.Face());
    ++built;
  }
  if (built == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "mesh: no usable triangle (", mesh.triangles.size(), " triangles, all degenerate)"));
  }

  BRepBuilderAPI_Sewing sewing(std::max(diagonal * 1e-7, 1e-9));
  sewing.Add(faces);
  sewing.Perform();
  const TopoDS_Shape sewn = sewing.SewedShape();

  // Closed shells become solids; anything else (open shells, free faces) stays as sewn.
  std::vector<TopoDS_Solid> solids;
  bool all_closed = true;
  int shells = 0;
  for (TopExp_Explorer ex(sewn, TopAbs_SHELL); ex.More(); ex.Next()) {
    ++shells;
    const TopoDS_Shell& shell = TopoDS::Shell(ex.Current());
    if (!BRep_Tool::IsClosed(shell)) {
      all_closed = false;
      break;
    }
    BRepBuilderAPI_MakeSolid make_solid(shell);
    if (!make_solid.IsDone()) {
      all_closed = false;
      break;
    }
    TopoDS_Solid solid = make_solid.Solid();
    BRepLib::OrientClosedSolid(solid);
    solids.push_back(solid);
  }
  const bool free_faces = TopExp_Explorer(sewn, TopAbs_FACE, TopAbs_SHELL).More();
  if (shells == 0 || !all_closed || free_faces) return sewn;
  if (solids.size() == 1) return TopoDS_Shape(solids[0]);
  TopoDS_Compound compound;
  builder.MakeCompound(compound);
  for (const TopoDS_Solid& s : solids) builder.Add(compound, s);
  return TopoDS_Shape(compound);
}

}  // namespace kiln::cad
