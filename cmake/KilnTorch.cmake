# LibTorch detection. In: KILN_WITH_TORCH (AUTO|ON|OFF). Out: KILN_HAVE_TORCH.
# Included before RocksDB is found: Torch's config breaks on gflags otherwise (DESIGN.md).
# Torch also links OpenCV's and ONNX's .proto files into the one protobuf registry; ours
# stay under kiln/v1/ so the names cannot clash.
set(KILN_HAVE_TORCH OFF)
if(NOT KILN_WITH_TORCH STREQUAL "OFF")
  if(KILN_WITH_TORCH STREQUAL "ON")
    find_package(Torch CONFIG REQUIRED)
  else()
    find_package(Torch CONFIG QUIET)
  endif()
  if(Torch_FOUND OR TORCH_FOUND)
    set(KILN_HAVE_TORCH ON)
  endif()
endif()
