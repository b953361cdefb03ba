# ctest simdjson_kernel_unchanged: azid includes simdjson.h without the x86-64 kernels the compiler
# flags cannot select (azid/impl/json.ipp). Checks, for several -march settings, that the kernel
# simdjson's On-Demand API uses (SIMDJSON_BUILTIN_IMPLEMENTATION) is the same in a TU that includes
# azid's JSON header first as in one that includes simdjson.h alone, and that the trim took effect
# for default flags. Preprocessing only: about a second in all.
# Usage: cmake -DCXX=<compiler> -DINCLUDE_DIR=<repo>/include -DWORK_DIR=<dir> -P check_simdjson_kernel.cmake
file(MAKE_DIRECTORY "${WORK_DIR}")
file(WRITE "${WORK_DIR}/alone.cpp" "#include <simdjson.h>\n")
file(WRITE "${WORK_DIR}/after_azid.cpp" "#include <azid/detail/token_json.hpp>\n#include <simdjson.h>\n")

function(macros out flags file)
  execute_process(COMMAND "${CXX}" -std=c++20 ${flags} -I "${INCLUDE_DIR}" -dM -E "${WORK_DIR}/${file}"
                  OUTPUT_VARIABLE text ERROR_VARIABLE err RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "preprocessing ${file} with '${flags}' failed: ${err}")
  endif()
  set(${out} "${text}" PARENT_SCOPE)
endfunction()

function(builtin out text)
  if(NOT text MATCHES "#define SIMDJSON_BUILTIN_IMPLEMENTATION ([a-z0-9_]+)")
    message(FATAL_ERROR "no SIMDJSON_BUILTIN_IMPLEMENTATION")
  endif()
  set(${out} "${CMAKE_MATCH_1}" PARENT_SCOPE)
endfunction()

foreach(flags "" "-march=x86-64-v2" "-march=haswell" "-march=icelake-server")
  macros(alone_text "${flags}" alone.cpp)
  macros(azid_text "${flags}" after_azid.cpp)
  builtin(alone "${alone_text}")
  builtin(with_azid "${azid_text}")
  if(NOT alone STREQUAL with_azid)
    message(FATAL_ERROR "flags '${flags}': On-Demand kernel ${with_azid} after azid, ${alone} without")
  endif()
  message(STATUS "flags '${flags}': On-Demand kernel ${alone} either way")
endforeach()

# The trim itself: with default flags the haswell kernel is left out after azid, not without it.
macros(alone_text "" alone.cpp)
macros(azid_text "" after_azid.cpp)
if(NOT alone_text MATCHES "#define SIMDJSON_IMPLEMENTATION_HASWELL SIMDJSON_IS_X86_64")
  message(FATAL_ERROR "simdjson.h alone no longer defines SIMDJSON_IMPLEMENTATION_HASWELL as expected")
endif()
if(NOT azid_text MATCHES "#define SIMDJSON_IMPLEMENTATION_HASWELL 0")
  message(FATAL_ERROR "azid did not leave the haswell kernel out for default flags")
endif()
