#include "worker/cad/csg_builder.h"

#include <BRepAlgoAPI_BooleanOperation.hxx>
#include <BRepAlgoAPI_Common.hxx>
#include <BRepAlgoAPI_Cut.hxx>
#include <BRepAlgoAPI_Fuse.hxx>
#include <BRepBuilderAPI_Transform.hxx>
#include <BRepCheck_Analyzer.hxx>
#include <BRepFilletAPI_MakeFillet.hxx>
#include <BRepGProp.hxx>
#include <BRepLib.hxx>
#include <BRepPrimAPI_MakeBox.hxx>
#include <BRepPrimAPI_MakeCylinder.hxx>
#include <BRepPrimAPI_MakeSphere.hxx>
#include <BRep_Tool.hxx>
#include <GProp_GProps.hxx>
#include <Standard_Failure.hxx>
#include <TopExp.hxx>
#include <TopExp_Explorer.hxx>
#include <TopTools_IndexedDataMapOfShapeListOfShape.hxx>
#include <TopTools_ListOfShape.hxx>
#include <TopoDS.hxx>
#include <gp_Ax1.hxx>
#include <gp_Ax2.hxx>
#include <gp_Trsf.hxx>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"
#include "worker/cad/occt_status.h"

namespace kiln::cad {
namespace {

constexpr double kPi = 3.14159265358979323846;

absl::Status NodeError(const std::string& field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("parameters.", field, ": ", what));
}

bool HasSolid(const TopoDS_Shape& shape) {
  return !shape.IsNull() && TopExp_Explorer(shape, TopAbs_SOLID).More();
}

double Volume(const TopoDS_Shape& shape) {
  GProp_GProps props;
  BRepGProp::VolumeProperties(shape, props);
  return props.Mass();
}

// Every sharp edge: bounded by two different faces that meet with a crease (edges
// between tangent faces, seams and degenerate edges cannot take a fillet).
std::vector<TopoDS_Edge> SharpEdges(const TopoDS_Shape& shape) {
  BRepLib::EncodeRegularity(shape);
  TopTools_IndexedDataMapOfShapeListOfShape edge_faces;
  TopExp::MapShapesAndUniqueAncestors(shape, TopAbs_EDGE, TopAbs_FACE, edge_faces);
  std::vector<TopoDS_Edge> edges;
  for (int i = 1; i <= edge_faces.Extent(); ++i) {
    const TopoDS_Edge& edge = TopoDS::Edge(edge_faces.FindKey(i));
    const TopTools_ListOfShape& faces = edge_faces.FindFromIndex(i);
    if (BRep_Tool::Degenerated(edge) || faces.Extent() != 2) continue;
    const TopoDS_Face& f1 = TopoDS::Face(faces.First());
    const TopoDS_Face& f2 = TopoDS::Face(faces.Last());
    if (f1.IsSame(f2)) continue;
    if (BRep_Tool::HasContinuity(edge, f1, f2) &&
        BRep_Tool::Continuity(edge, f1, f2) != GeomAbs_C0) {
      continue;
    }
    edges.push_back(edge);
  }
  return edges;
}

class CsgBuilder {
 public:
  absl::StatusOr<TopoDS_Shape> Build(const CadNode& node, const std::string& field) {
    TopoDS_Shape shape;
    const std::string kind_field =
        absl::StrCat(field, ".", std::string(CadNodeKindName(node.kind)));
    switch (node.kind) {
      case CadNodeKind::kBox: {
        const auto& s = node.size;
        const gp_Pnt corner = node.center ? gp_Pnt(-s[0] / 2, -s[1] / 2, -s[2] / 2) : gp_Pnt();
        shape = BRepPrimAPI_MakeBox(corner, s[0], s[1], s[2]).Shape();
        break;
      }
      case CadNodeKind::kCylinder: {
        const gp_Ax2 axis(gp_Pnt(0, 0, node.center ? -node.height / 2 : 0), gp::DZ());
        shape = BRepPrimAPI_MakeCylinder(axis, node.radius, node.height).Shape();
        break;
      }
      case CadNodeKind::kSphere:
        shape = BRepPrimAPI_MakeSphere(node.radius).Shape();
        break;
      case CadNodeKind::kUnion:
      case CadNodeKind::kDifference:
      case CadNodeKind::kIntersection: {
        const std::string children = absl::StrCat(kind_field, ".children");
        KILN_ASSIGN_OR_RETURN(shape, Build(node.children[0], absl::StrCat(children, "[0]")));
        for (size_t i = 1; i < node.children.size(); ++i) {
          KILN_ASSIGN_OR_RETURN(const TopoDS_Shape other,
                                Build(node.children[i], absl::StrCat(children, "[", i, "]")));
          KILN_ASSIGN_OR_RETURN(shape, Boolean(node.kind, shape, other, kind_field));
        }
        if (!HasSolid(shape) || !(Volume(shape) > 0)) {
          return NodeError(kind_field, "the result is empty (no solid is left)");
        }
        break;
      }
      case CadNodeKind::kFillet: {
        KILN_ASSIGN_OR_RETURN(const TopoDS_Shape child,
                              Build(node.children[0], absl::StrCat(kind_field, ".child")));
        KILN_ASSIGN_OR_RETURN(shape, Fillet(child, node.radius, kind_field));
        break;
      }
    }
    if (node.rotate.has_value() || node.translate.has_value()) {
      gp_Trsf placement;
      if (node.translate.has_value()) {
        const auto& t = *node.translate;
        placement.SetTranslation(gp_Vec(t[0], t[1], t[2]));
      }
      if (node.rotate.has_value()) {
        const auto& a = node.rotate->axis;
        gp_Trsf rotation;
        rotation.SetRotation(gp_Ax1(gp_Pnt(), gp_Dir(a[0], a[1], a[2])),
                             node.rotate->degrees * kPi / 180);
        // Rotation first, then translation.
        placement.Multiply(rotation);
      }
      shape = BRepBuilderAPI_Transform(shape, placement, /*Copy=*/Standard_True).Shape();
    }
    return shape;
  }

 private:
  static absl::StatusOr<TopoDS_Shape> Boolean(CadNodeKind kind, const TopoDS_Shape& a,
                                              const TopoDS_Shape& b, const std::string& field) {
    std::unique_ptr<BRepAlgoAPI_BooleanOperation> op;
    switch (kind) {
      case CadNodeKind::kUnion:
        op = std::make_unique<BRepAlgoAPI_Fuse>(a, b);
        break;
      case CadNodeKind::kDifference:
        op = std::make_unique<BRepAlgoAPI_Cut>(a, b);
        break;
      default:
        op = std::make_unique<BRepAlgoAPI_Common>(a, b);
        break;
    }
    if (!op->IsDone() || op->HasErrors()) {
      return NodeError(field, "OpenCASCADE could not compute this boolean operation");
    }
    return op->Shape();
  }

  static absl::StatusOr<TopoDS_Shape> Fillet(const TopoDS_Shape& child, double radius,
                                             const std::string& field) {
    const std::vector<TopoDS_Edge> edges = SharpEdges(child);
    if (edges.empty()) return NodeError(field, "the child has no sharp edges to fillet");
    const std::string too_large = absl::StrCat(
        "radius ", radius, " cannot be applied to the child's edges (too large for its faces?)");
    try {
      BRepFilletAPI_MakeFillet fillet(child);
      for (const TopoDS_Edge& edge : edges) fillet.Add(radius, edge);
      fillet.Build();
      if (!fillet.IsDone()) return NodeError(field, too_large);
      TopoDS_Shape result = fillet.Shape();
      // A fillet that "succeeds" with overlapping rounds leaves an invalid solid.
      if (!HasSolid(result) || !BRepCheck_Analyzer(result).IsValid() || !(Volume(result) > 0)) {
        return NodeError(field, too_large);
      }
      return result;
    } catch (const Standard_Failure& failure) {
      return NodeError(field,
                       absl::StrCat(too_large, "; OpenCASCADE: ", DescribeOcctFailure(failure)));
    }
  }
};

}  // namespace

absl::StatusOr<TopoDS_Shape> BuildCsg(const CadNode& root) {
  CsgBuilder builder;
  KILN_ASSIGN_OR_RETURN(TopoDS_Shape shape, builder.Build(root, "shape"));
  if (!HasSolid(shape) || !(Volume(shape) > 0)) {
    return NodeError("shape", "the part is empty (no solid)");
  }
  return shape;
}

}  // namespace kiln::cad
