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

# The scheduler's allocator (bench/README.md, kiln-load: glibc malloc's arena locks and
# consolidation were a quarter of the scheduler's CPU under load). Out: kiln::allocator,
# empty when off; never in sanitizer builds, which bring their own.
set(KILN_ALLOCATOR "jemalloc" CACHE STRING "Allocator of kiln-scheduler: jemalloc | system")
set_property(CACHE KILN_ALLOCATOR PROPERTY STRINGS jemalloc system)
add_library(kiln_allocator INTERFACE)
add_library(kiln::allocator ALIAS kiln_allocator)
if(KILN_ALLOCATOR STREQUAL "jemalloc" AND KILN_SANITIZE STREQUAL "" AND KILN_COMPONENTS STREQUAL "all")
  find_library(KILN_JEMALLOC_LIBRARY NAMES jemalloc)
  if(NOT KILN_JEMALLOC_LIBRARY)
    message(FATAL_ERROR "jemalloc not found: install libjemalloc-dev (scripts/setup-debian.sh) "
                        "or configure with -DKILN_ALLOCATOR=system")
  endif()
  target_link_libraries(kiln_allocator INTERFACE ${KILN_JEMALLOC_LIBRARY})
elseif(NOT KILN_ALLOCATOR MATCHES "^(jemalloc|system)$")
  message(FATAL_ERROR "KILN_ALLOCATOR must be jemalloc or system, not ${KILN_ALLOCATOR}")
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
