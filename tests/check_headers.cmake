# Compiles every public header on its own (-fsyntax-only): each must include what it uses.
# Core headers get only the standard library; <ternary/eigen.hpp> also gets Eigen.
file(GLOB_RECURSE headers RELATIVE "${INCLUDE_DIR}" "${INCLUDE_DIR}/ternary/*.hpp")
list(LENGTH headers count)
if(count LESS 10)
  message(FATAL_ERROR "found only ${count} headers under ${INCLUDE_DIR}")
endif()
foreach(header IN LISTS headers)
  set(extra)
  if(header STREQUAL "ternary/eigen.hpp")
    set(extra "-I${EIGEN_INCLUDE_DIR}")
  endif()
  file(WRITE "${WORK_DIR}/one_header.cpp" "#include <${header}>\n")
  execute_process(COMMAND "${CXX}" -std=c++20 -fsyntax-only -Wall -Wextra -Werror "-I${INCLUDE_DIR}" ${extra}
                          "${WORK_DIR}/one_header.cpp"
                  RESULT_VARIABLE rc ERROR_VARIABLE err OUTPUT_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${header} does not compile on its own:\n${err}")
  endif()
endforeach()
message(STATUS "${count} headers compile on their own")
