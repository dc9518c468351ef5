# Test registration by convention, so each layer's tests are added by creating files:
#   tests/unit/<layer>/test_*.c        cmocka programs linked to cocoon_<layer>
#   tests/integration/test_*.py        Python (stdlib) scripts that start real programs
#   tests/fuzz/<layer>/fuzz_*.c        LLVMFuzzerTestOneInput targets; seeds in
#                                      tests/fuzz/<layer>/seeds/<name>/
#   contracts/package.json             `npm test` of the smart contracts
# Every test gets COCOON_SHARED (../shared beside the repository), COCOON_SOURCE_DIR
# and COCOON_BIN_DIR in its environment.

get_filename_component(COCOON_SHARED_DEFAULT ${CMAKE_SOURCE_DIR}/../shared ABSOLUTE)
if(DEFINED ENV{COCOON_SHARED})
  set(COCOON_SHARED_DEFAULT $ENV{COCOON_SHARED})
endif()
set(COCOON_TEST_ENV
    COCOON_SHARED=${COCOON_SHARED_DEFAULT}
    COCOON_SOURCE_DIR=${CMAKE_SOURCE_DIR}
    COCOON_BIN_DIR=${CMAKE_BINARY_DIR}/bin
    COCOON_BUILD_DIR=${CMAKE_BINARY_DIR})

# The fuzz build (clang, COCOON_FUZZ) only fuzzes; the other builds run everything.
if(CMOCKA_FOUND AND NOT COCOON_FUZZ)
  foreach(layer IN LISTS COCOON_AVAILABLE)
    if(layer STREQUAL "worker_backends")
      file(GLOB unit_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/worker/test_backend*.c)
    elseif(layer STREQUAL "worker")
      file(GLOB unit_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/worker/test_*.c)
      list(FILTER unit_srcs EXCLUDE REGEX ".*/test_backend[^/]*\\.c$")
    else()
      file(GLOB unit_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/unit/${layer}/test_*.c)
    endif()
    foreach(src IN LISTS unit_srcs)
      get_filename_component(name ${src} NAME_WE)
      set(exe unit_${layer}_${name})
      add_executable(${exe} ${src})
      target_link_libraries(${exe} PRIVATE cocoon_${layer} PkgConfig::CMOCKA)
      set_target_properties(${exe} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/tests)
      add_test(NAME unit.${layer}.${name} COMMAND ${exe})
      set_tests_properties(unit.${layer}.${name} PROPERTIES LABELS unit ENVIRONMENT "${COCOON_TEST_ENV}"
                           TIMEOUT 600)
    endforeach()
  endforeach()
endif()

set(integ_srcs "")
if(NOT COCOON_FUZZ)
  file(GLOB integ_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/integration/test_*.py)
endif()
foreach(src IN LISTS integ_srcs)
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME integration.${name} COMMAND ${Python3_EXECUTABLE} ${src})
  set_tests_properties(integration.${name} PROPERTIES LABELS integration
                       ENVIRONMENT "${COCOON_TEST_ENV}" TIMEOUT 900)
endforeach()

# The conformance programs (tests/interop/): Python peers that play COCOON's
# roles against our daemons. They need the programs built like the
# integration tests, and carry the same label.
set(interop_srcs "")
if(NOT COCOON_FUZZ)
  file(GLOB interop_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/interop/test_*.py)
endif()
foreach(src IN LISTS interop_srcs)
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME interop.${name} COMMAND ${Python3_EXECUTABLE} ${src})
  set_tests_properties(interop.${name} PROPERTIES LABELS "integration;interop"
                       ENVIRONMENT "${COCOON_TEST_ENV}" TIMEOUT 900)
endforeach()

# The fault-injection suite (tests/faults/): real programs under kill -9,
# SIGSTOP, a damaging middlebox, floods and descriptor exhaustion. In the
# normal build only (its figures mean little under the sanitizers).
set(fault_srcs "")
if(NOT COCOON_FUZZ AND NOT COCOON_SANITIZE)
  file(GLOB fault_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/faults/test_*.py)
endif()
foreach(src IN LISTS fault_srcs)
  get_filename_component(name ${src} NAME_WE)
  add_test(NAME faults.${name} COMMAND ${Python3_EXECUTABLE} ${src})
  set_tests_properties(faults.${name} PROPERTIES LABELS faults ENVIRONMENT "${COCOON_TEST_ENV}"
                       TIMEOUT 900)
endforeach()

if(EXISTS ${CMAKE_SOURCE_DIR}/contracts/package.json AND NOT COCOON_SANITIZE AND NOT COCOON_FUZZ)
  add_test(NAME contracts COMMAND npm test --silent WORKING_DIRECTORY ${CMAKE_SOURCE_DIR}/contracts)
  set_tests_properties(contracts PROPERTIES LABELS node TIMEOUT 900)
endif()

# Fuzz targets. With COCOON_FUZZ (clang) they are real libFuzzer programs and the
# test is a short fuzzing run; otherwise they are linked with a replay driver that
# runs the seeds plus deterministic mutations of them, so every build exercises them.
foreach(layer IN LISTS COCOON_AVAILABLE)
  if(layer STREQUAL "worker_backends")
    continue()
  endif()
  file(GLOB fuzz_srcs CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/tests/fuzz/${layer}/fuzz_*.c)
  foreach(src IN LISTS fuzz_srcs)
    get_filename_component(name ${src} NAME_WE)
    set(seeds ${CMAKE_SOURCE_DIR}/tests/fuzz/${layer}/seeds/${name})
    file(MAKE_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz-corpus/${name})
    if(COCOON_FUZZ)
      add_executable(${name} ${src})
      target_link_options(${name} PRIVATE -fsanitize=fuzzer)
      # The run length comes from COCOON_FUZZ_SECONDS at test time (default 15 s).
      set(cmd sh -c "exec \"$0\" -max_total_time=\${COCOON_FUZZ_SECONDS:-15} -rss_limit_mb=2048 \"$@\""
              $<TARGET_FILE:${name}> ${CMAKE_BINARY_DIR}/fuzz-corpus/${name})
      if(EXISTS ${seeds})
        list(APPEND cmd ${seeds})
      endif()
    else()
      add_executable(${name} ${src} ${CMAKE_SOURCE_DIR}/tests/fuzz/replay_driver.c)
      set(cmd ${name} ${seeds})
    endif()
    target_link_libraries(${name} PRIVATE cocoon_${layer})
    set_target_properties(${name} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR}/fuzz)
    add_test(NAME fuzz.${layer}.${name} COMMAND ${cmd})
    set_tests_properties(fuzz.${layer}.${name} PROPERTIES LABELS fuzz ENVIRONMENT "${COCOON_TEST_ENV}"
                         TIMEOUT 600)
  endforeach()
endforeach()
