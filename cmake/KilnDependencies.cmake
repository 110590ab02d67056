# Finds the Debian 12 packages (see ../shared/DESIGN.md for the traps).
find_package(Threads REQUIRED)
find_package(Protobuf REQUIRED)  # module mode: protobuf::libprotobuf, protobuf_generate
find_package(absl CONFIG REQUIRED)
find_package(OpenSSL REQUIRED)   # sha256 for blob addresses
if(KILN_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()

include(${CMAKE_CURRENT_LIST_DIR}/KilnTorch.cmake)  # before RocksDB (gflags trap)

if(KILN_COMPONENTS STREQUAL "all")
  find_package(gflags CONFIG QUIET)  # before RocksDB, or its config breaks on gflags
  find_package(gRPC CONFIG REQUIRED)
  find_package(RocksDB CONFIG REQUIRED)  # use RocksDB::rocksdb-shared
  find_package(prometheus-cpp CONFIG REQUIRED)
  find_package(civetweb CONFIG REQUIRED)  # the dashboard (scheduler/http); ships with prometheus-cpp
endif()

include(${CMAKE_CURRENT_LIST_DIR}/KilnCuda.cmake)
# OCCT's config must be asked for all its components (or none: DESIGN.md); Out: KILN_HAVE_OCCT.
set(KILN_HAVE_OCCT OFF)
if(NOT KILN_WITH_OCCT STREQUAL "OFF")
  if(KILN_WITH_OCCT STREQUAL "ON")
    find_package(OpenCASCADE CONFIG REQUIRED)
  else()
    find_package(OpenCASCADE CONFIG QUIET)
  endif()
  if(OpenCASCADE_FOUND)
    set(KILN_HAVE_OCCT ON)
  endif()
endif()
message(STATUS "kiln: components=${KILN_COMPONENTS} cuda=${KILN_HAVE_CUDA} "
               "torch=${KILN_HAVE_TORCH} occt=${KILN_HAVE_OCCT}")
