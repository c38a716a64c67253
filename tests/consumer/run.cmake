# Configures, builds and runs tests/consumer against glia. Called by ctest with
#   -DGLIA_SOURCE=<glia source> -DWORK=<scratch dir> -DMODE=find_package|add_subdirectory
file(REMOVE_RECURSE ${WORK})
set(consumer_src ${CMAKE_CURRENT_LIST_DIR})
function(run)
  execute_process(COMMAND ${ARGV} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "failed (${rc}): ${ARGV}\n${out}\n${err}")
  endif()
endfunction()
if(MODE STREQUAL "find_package")
  # Install glia (headers + CMake package) into a private prefix, tests and examples off.
  run(${CMAKE_COMMAND} -S ${GLIA_SOURCE} -B ${WORK}/glia-build -DCMAKE_INSTALL_PREFIX=${WORK}/prefix
      -DGLIA_BUILD_TESTS=OFF -DGLIA_BUILD_EXAMPLES=OFF -DGLIA_BUILD_BENCHMARKS=OFF -DGLIA_BUILD_PROGRAMS=OFF)
  run(${CMAKE_COMMAND} --install ${WORK}/glia-build)
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK}/build -DCMAKE_PREFIX_PATH=${WORK}/prefix -DGLIA_MODE=find_package)
else()
  run(${CMAKE_COMMAND} -S ${consumer_src} -B ${WORK}/build -DGLIA_SOURCE=${GLIA_SOURCE} -DGLIA_MODE=add_subdirectory)
endif()
run(${CMAKE_COMMAND} --build ${WORK}/build)
execute_process(COMMAND ${WORK}/build/consumer RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "consumer failed (${rc}): ${out}\n${err}")
endif()
# Built with the compiler's default flags (no -march), an x86-64 consumer runs glia's baseline
# kernels, and says so.
cmake_host_system_information(RESULT platform QUERY OS_PLATFORM)
if(platform MATCHES "x86_64|AMD64" AND NOT out MATCHES "Instruction set: compiled for baseline, this CPU has ")
  message(FATAL_ERROR "consumer: expected 'Instruction set: compiled for baseline, ...', got: ${out}")
endif()
run(${WORK}/build/consumer_report ${WORK}/report-run)
# A model file saved by one process and loaded by another gives the same scores, bit for bit.
execute_process(COMMAND ${WORK}/build/consumer_model save ${WORK}/model.safetensors RESULT_VARIABLE rc1 OUTPUT_VARIABLE saved ERROR_VARIABLE err1)
execute_process(COMMAND ${WORK}/build/consumer_model load ${WORK}/model.safetensors RESULT_VARIABLE rc2 OUTPUT_VARIABLE loaded ERROR_VARIABLE err2)
if(NOT rc1 EQUAL 0 OR NOT rc2 EQUAL 0 OR NOT saved STREQUAL loaded OR saved STREQUAL "")
  message(FATAL_ERROR "consumer_model: saved '${saved}' (${rc1}: ${err1}), loaded '${loaded}' (${rc2}: ${err2})")
endif()
message(STATUS "consumer (${MODE}) built and ran")
