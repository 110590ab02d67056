# kiln_cc_library(NAME name SRCS ... [DEPS ...])
# One static library per component; DEPS are linked PUBLIC so users inherit them.
function(kiln_cc_library)
  cmake_parse_arguments(K "" "NAME" "SRCS;DEPS" ${ARGN})
  add_library(${K_NAME} STATIC ${K_SRCS})
  # BUILD_INTERFACE: installed SDK targets (client/CMakeLists.txt) must not point into the tree.
  target_include_directories(${K_NAME} PUBLIC $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}>)
  target_link_libraries(${K_NAME} PUBLIC ${K_DEPS})
endfunction()

# kiln_cc_test(NAME name SRCS ... [DEPS ...] [LABELS ...])
# A GoogleTest binary registered with CTest, one CTest entry per binary.
function(kiln_cc_test)
  if(NOT KILN_BUILD_TESTS)
    return()
  endif()
  cmake_parse_arguments(K "" "NAME" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${K_NAME} ${K_SRCS})
  target_link_libraries(${K_NAME} PRIVATE ${K_DEPS} GTest::gtest GTest::gtest_main
                                          GTest::gmock)
  add_test(NAME ${K_NAME} COMMAND ${K_NAME})
  set_tests_properties(${K_NAME} PROPERTIES TIMEOUT 300)
  if(K_LABELS)
    set_tests_properties(${K_NAME} PROPERTIES LABELS "${K_LABELS}")
  endif()
endfunction()
