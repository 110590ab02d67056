#include "worker/tasks/cuda/marching_cubes_test_fields.h"

#include "worker/tasks/cuda/marching_cubes_passes.h"

namespace kiln::tasks::marching_cubes {

void FillTestFieldOnHost(TestField field, const GridSpec& grid, uint32_t seed,
                         std::vector<float>* values) {
  const FieldView f = MakeFieldView(nullptr, grid, 0);
  values->resize(SampleCount(grid));
  size_t s = 0;
  for (int k = 0; k <= grid.cells[2]; ++k) {
    for (int j = 0; j <= grid.cells[1]; ++j) {
      for (int i = 0; i <= grid.cells[0]; ++i)
        (*values)[s++] = TestFieldValue(field, f, seed, i, j, k);
    }
  }
}

}  // namespace kiln::tasks::marching_cubes
