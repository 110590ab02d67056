// How mesh writers encode a file (shared by mesh_io.h and the per-format writers).
#ifndef KILN_WORKER_TASKS_MESHIO_MESH_WRITE_OPTIONS_H_
#define KILN_WORKER_TASKS_MESHIO_MESH_WRITE_OPTIONS_H_

namespace kiln::tasks {

struct WriteOptions {
  // PLY and STL: text instead of binary. Ignored by OBJ (always text) and GLB (binary).
  bool ascii = false;
};

}  // namespace kiln::tasks

#endif  // KILN_WORKER_TASKS_MESHIO_MESH_WRITE_OPTIONS_H_
