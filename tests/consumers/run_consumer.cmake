# One packaging scenario, run by ctest in script mode:
#   find_package      install ternary into a fresh prefix, check the installed files and the
#                     pkg-config file, then build and run a consumer that must find ternary there
#   version_reject    the same install; find_package(ternary 99) must fail
#   add_subdirectory  build and run a consumer that adds the source tree

function(run_step what)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${what} failed (${rc}):\n${out}")
  endif()
endfunction()

set(work "${WORK_DIR}/${SCENARIO}")
file(REMOVE_RECURSE "${work}")
set(build_args -G "${GENERATOR}" "-DCMAKE_CXX_COMPILER=${CXX}" -DCMAKE_FIND_USE_PACKAGE_REGISTRY=OFF)

if(SCENARIO STREQUAL "add_subdirectory")
  run_step("configure" ${CMAKE_COMMAND} -S "${CONSUMERS_DIR}/add_subdirectory" -B "${work}/build" ${build_args}
           "-DTERNARY_SOURCE_DIR=${TERNARY_SOURCE_DIR}")
  run_step("build" ${CMAKE_COMMAND} --build "${work}/build")
  run_step("consumer" "${work}/build/consumer")
  return()
endif()

set(prefix "${work}/prefix")
run_step("install" ${CMAKE_COMMAND} --install "${TERNARY_BINARY_DIR}" --prefix "${prefix}")
foreach(file share/cmake/ternary/ternaryConfig.cmake share/cmake/ternary/ternaryConfigVersion.cmake
             share/cmake/ternary/ternaryTargets.cmake share/pkgconfig/ternary.pc
             include/ternary/ternary.hpp include/ternary/eigen.hpp include/ternary/version.hpp)
  if(NOT EXISTS "${prefix}/${file}")
    message(FATAL_ERROR "install did not produce ${file}")
  endif()
endforeach()

find_program(PKG_CONFIG pkg-config)
if(PKG_CONFIG)
  set(ENV{PKG_CONFIG_PATH} "${prefix}/share/pkgconfig")
  execute_process(COMMAND "${PKG_CONFIG}" --cflags ternary OUTPUT_VARIABLE cflags RESULT_VARIABLE rc)
  string(REGEX MATCH "-I([^ \n]+)" _ "${cflags}")
  if(NOT rc EQUAL 0 OR NOT EXISTS "${CMAKE_MATCH_1}/ternary/ternary.hpp")
    message(FATAL_ERROR "pkg-config --cflags ternary gave '${cflags}', which does not reach the headers")
  endif()
endif()

if(SCENARIO STREQUAL "version_reject")
  execute_process(COMMAND ${CMAKE_COMMAND} -S "${CONSUMERS_DIR}/find_package" -B "${work}/build" ${build_args}
                  "-DCMAKE_PREFIX_PATH=${prefix}" "-DEXPECTED_PREFIX=${prefix}" -DTERNARY_REQUIRED_VERSION=99
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc EQUAL 0 OR NOT out MATCHES "compatible with requested version")
    message(FATAL_ERROR "find_package(ternary 99) should have failed (${rc}):\n${out}")
  endif()
  return()
endif()

run_step("configure" ${CMAKE_COMMAND} -S "${CONSUMERS_DIR}/find_package" -B "${work}/build" ${build_args}
         "-DCMAKE_PREFIX_PATH=${prefix}" "-DEXPECTED_PREFIX=${prefix}")
run_step("build" ${CMAKE_COMMAND} --build "${work}/build")
run_step("core consumer" "${work}/build/consumer_core")
run_step("eigen consumer" "${work}/build/consumer_eigen")
