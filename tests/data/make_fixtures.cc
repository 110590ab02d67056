// Writes the CAD fixtures of tests/data (see README.md there) with OpenCASCADE: a small
// L-shaped bracket with a through hole, as STEP (AP214), and its tessellation as binary
// STL (StlAPI_Writer), OBJ (RWObj_CafWriter), GLB (RWGltf_CafWriter) and binary PLY (a
// few lines below: OCCT 7.6 has no PLY writer, and Kiln's own writer would make the
// round-trip tests circular). Run by hand from the repository root:
//   build-cad/bin/kiln_make_cad_fixtures tests/data
#include <BRepAlgoAPI_Cut.hxx>
#include <BRepAlgoAPI_Fuse.hxx>
#include <BRepMesh_IncrementalMesh.hxx>
#include <BRepPrimAPI_MakeBox.hxx>
#include <BRepPrimAPI_MakeCylinder.hxx>
#include <Message_ProgressRange.hxx>
#include <RWGltf_CafWriter.hxx>
#include <RWObj_CafWriter.hxx>
#include <StlAPI_Writer.hxx>
#include <TColStd_IndexedDataMapOfStringString.hxx>
#include <TDocStd_Document.hxx>
#include <XCAFApp_Application.hxx>
#include <XCAFDoc_DocumentTool.hxx>
#include <XCAFDoc_ShapeTool.hxx>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <gp_Ax2.hxx>
#include <string>
#include <vector>

#include "worker/cad/shape_mesh.h"

namespace {

// 40 x 20 x 5 base plate, 5 x 20 x 30 upright at x = 0..5, a 6 mm hole through the
// plate at (25, 10). All in millimetres, inside [0,40] x [0,20] x [0,30].
TopoDS_Shape Bracket() {
  const TopoDS_Shape base = BRepPrimAPI_MakeBox(40, 20, 5).Shape();
  const TopoDS_Shape upright = BRepPrimAPI_MakeBox(5, 20, 30).Shape();
  const TopoDS_Shape l_shape = BRepAlgoAPI_Fuse(base, upright).Shape();
  const TopoDS_Shape hole =
      BRepPrimAPI_MakeCylinder(gp_Ax2(gp_Pnt(25, 10, -1), gp::DZ()), 3, 7).Shape();
  return BRepAlgoAPI_Cut(l_shape, hole).Shape();
}

bool WritePlyBinary(const kiln::tasks::Mesh& mesh, const std::string& path) {
  std::ofstream out(path, std::ios::binary);
  out << "ply\nformat binary_little_endian 1.0\ncomment made by tests/data/make_fixtures.cc\n"
      << "element vertex " << mesh.positions.size() << "\nproperty float x\nproperty float y\n"
      << "property float z\nelement face " << mesh.triangles.size()
      << "\nproperty list uchar int vertex_indices\nend_header\n";
  for (const auto& p : mesh.positions) out.write(reinterpret_cast<const char*>(p.data()), 12);
  for (const auto& t : mesh.triangles) {
    const uint8_t three = 3;
    out.write(reinterpret_cast<const char*>(&three), 1);
    for (uint32_t i : t) {
      const int32_t index = static_cast<int32_t>(i);
      out.write(reinterpret_cast<const char*>(&index), 4);
    }
  }
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: kiln_make_cad_fixtures <tests/data directory>\n");
    return 2;
  }
  const std::string dir = argv[1];
  const TopoDS_Shape bracket = Bracket();
  if (!kiln::cad::WriteStepShape(bracket, dir + "/bracket.step").ok()) return 1;

  // A coarse tessellation keeps the mesh files small; every face is planar or the hole.
  BRepMesh_IncrementalMesh mesher(bracket, 0.2, false, 0.5, false);
  StlAPI_Writer stl;
  stl.ASCIIMode() = Standard_False;
  if (!stl.Write(bracket, (dir + "/bracket.stl").c_str())) return 1;

  Handle(TDocStd_Document) doc;
  XCAFApp_Application::GetApplication()->NewDocument("MDTV-XCAF", doc);
  XCAFDoc_DocumentTool::ShapeTool(doc->Main())->AddShape(bracket, Standard_False);
  const TColStd_IndexedDataMapOfStringString info;
  RWObj_CafWriter obj((dir + "/bracket.obj").c_str());
  if (!obj.Perform(doc, info, Message_ProgressRange())) return 1;
  RWGltf_CafWriter glb((dir + "/bracket.glb").c_str(), Standard_True);
  if (!glb.Perform(doc, info, Message_ProgressRange())) return 1;

  kiln::cad::Tessellation tessellation;
  tessellation.linear_deflection = 0.2;
  auto mesh = kiln::cad::TessellateShape(bracket, tessellation);
  if (!mesh.ok() || !WritePlyBinary(*mesh, dir + "/bracket.ply")) return 1;
  std::printf("wrote bracket.{step,stl,obj,glb,ply} to %s (%zu vertices, %zu triangles)\n",
              dir.c_str(), mesh->positions.size(), mesh->triangles.size());
  return 0;
}
