# lifeboat_target_defaults(<target>): C++20, warnings as errors on our own code. Per target only.
function(lifeboat_target_defaults target)
  target_compile_features(${target} PUBLIC cxx_std_20)
  set_target_properties(${target} PROPERTIES CXX_EXTENSIONS OFF)
  target_compile_options(${target} PRIVATE -Wall -Wextra -Werror -Wno-unused-parameter
                                           -Wno-missing-field-initializers)
  # cpprestsdk's U() macro breaks fmt and GoogleTest headers (DESIGN.md: known pitfall).
  target_compile_definitions(${target} PRIVATE _TURN_OFF_PLATFORM_STRING)
endfunction()

# lifeboat_library(<name> SOURCES ... DEPS ... PRIVATE_DEPS ...): one library per folder.
function(lifeboat_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${LIFEBOAT_SOURCE_DIR})
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE ${ARG_PRIVATE_DEPS})
  lifeboat_target_defaults(${name})
endfunction()

# lifeboat_test(<name> SOURCES ... DEPS ...): a GoogleTest binary registered with ctest.
function(lifeboat_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT" "SOURCES;DEPS;LABELS" ${ARGN})
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gmock GTest::gtest_main)
  lifeboat_target_defaults(${name})
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  # Tests find the source tree and the lifeboat binary through tests/support (compiled-in
  # paths, overridable by LIFEBOAT_SOURCE_DIR / LIFEBOAT_BINARY); the binary is built first.
  add_dependencies(${name} lifeboat)
  gtest_discover_tests(${name} DISCOVERY_TIMEOUT 60
                       PROPERTIES TIMEOUT ${ARG_TIMEOUT} LABELS "${ARG_LABELS}")
endfunction()
