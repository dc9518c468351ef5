# cocoon-fake-backend: a deterministic OpenAI-compatible server for tests and
# benchmarks. Plain libevent + jansson so it builds even when the project's
# own layers are mid-change, and stays as fast as possible as a baseline.
add_executable(cocoon-fake-backend ${CMAKE_CURRENT_LIST_DIR}/main.c)
target_link_libraries(cocoon-fake-backend PRIVATE PkgConfig::LIBEVENT PkgConfig::JANSSON)
