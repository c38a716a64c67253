# A build without the glia::glia target (and without its two -D flags) must stop at glia's
# #error naming them, not compile an Eigen configured differently from the other files.
#   cmake -DCXX=... -DINCLUDE=... -DEIGEN=... -DWORK=... -P no_target.cmake
file(WRITE ${WORK}/no_target.cpp "#include <glia/glia.hpp>\nint main() { return 0; }\n")
execute_process(COMMAND ${CXX} -std=c++17 -fsyntax-only -I${INCLUDE} -isystem ${EIGEN} ${WORK}/no_target.cpp
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "glia compiled without EIGEN_DONT_PARALLELIZE and EIGEN_STACK_ALLOCATION_LIMIT")
endif()
if(NOT err MATCHES "glia needs EIGEN_DONT_PARALLELIZE: link the glia::glia target")
  message(FATAL_ERROR "expected glia's #error, got:\n${err}")
endif()
message(STATUS "ok: refused with glia's #error")
