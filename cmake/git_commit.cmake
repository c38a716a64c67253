# Writes OUT, a header that defines GLIA_GIT_COMMIT as `git describe --always --dirty` of SRC,
# and rewrites it only when that changed: run at every build (not only at configure time), so
# that a program records the commit it was built from, and recompiles only when it moved.
#   cmake -DGIT=git -DSRC=dir -DOUT=file -P git_commit.cmake
execute_process(COMMAND ${GIT} describe --always --dirty WORKING_DIRECTORY ${SRC} OUTPUT_VARIABLE commit
                OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
set(text "#define GLIA_GIT_COMMIT \"${commit}\"\n")
set(old "")
if(EXISTS ${OUT})
  file(READ ${OUT} old)
endif()
if(NOT old STREQUAL text)
  file(WRITE ${OUT} "${text}")
endif()
