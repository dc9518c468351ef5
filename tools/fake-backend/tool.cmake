# cocoon-fake-backend: a deterministic OpenAI-compatible server for tests and
# benchmarks. Plain libevent + jansson (and the base layer's option parser, the
# openai layer's multipart/audio validator), so it stays as fast as possible as
# a baseline and builds even when the upper layers are mid-change.
add_executable(cocoon-fake-backend ${CMAKE_CURRENT_LIST_DIR}/main.c)
target_link_libraries(cocoon-fake-backend PRIVATE cocoon_openai cocoon_base PkgConfig::LIBEVENT PkgConfig::JANSSON)
