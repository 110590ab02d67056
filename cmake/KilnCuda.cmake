# CUDA detection shared by the whole tree and by worker/device's standalone build
# (the GPU test machine). In: KILN_WITH_CUDA (AUTO|ON|OFF). Out: KILN_HAVE_CUDA.
# nvcc is not on PATH on Debian's CUDA: look in /usr/local/cuda.
set(KILN_HAVE_CUDA OFF)
if(NOT KILN_WITH_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(KILN_HAVE_CUDA ON)
  elseif(KILN_WITH_CUDA STREQUAL "ON")
    message(FATAL_ERROR "KILN_WITH_CUDA=ON but no CUDA compiler was found")
  endif()
endif()

# The architectures Kiln's own kernels ship for, one list for every CUDA library (the
# device probe reports coverage from it): SASS for each, plus PTX of the newest for what
# comes next. CMake 3.25's "all" is wrong for nvcc 13; "native" cannot be reported.
# -DCMAKE_CUDA_ARCHITECTURES=... overrides it (e.g. 90-real for a quick build on one GPU).
if(KILN_HAVE_CUDA AND NOT CMAKE_CUDA_ARCHITECTURES)
  set(CMAKE_CUDA_ARCHITECTURES "75-real;80-real;86-real;89-real;90-real;100-real;120")
endif()
