# Finds the Debian 12 packages (see ../shared/DESIGN.md for the traps).
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)  # module mode: protobuf::libprotobuf, protobuf_generate
find_package(absl CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)   # sha256 for blob addresses
if(KILN_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

if(KILN_COMPONENTS STREQUAL "all")
  find_package(gflags CONFIG QUIET)  # before RocksDB, or its config breaks on gflags
  find_package(gRPC CONFIG REQUIRED)
  find_package(RocksDB CONFIG REQUIRED)  # use RocksDB::rocksdb-shared
  find_package(prometheus-cpp CONFIG REQUIRED)
endif()

# CUDA: AUTO builds it when nvcc is found (Debian's CUDA lives in /usr/local/cuda).
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
if(KILN_WITH_TORCH)
  find_package(Torch CONFIG REQUIRED)
endif()
if(KILN_WITH_OCCT)
  find_package(OpenCASCADE CONFIG REQUIRED)
endif()
message(STATUS "kiln: components=${KILN_COMPONENTS} cuda=${KILN_HAVE_CUDA} "
               "torch=${KILN_WITH_TORCH} occt=${KILN_WITH_OCCT}")
