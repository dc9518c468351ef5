# cocoon-net-bench: throughput and latency of the net transport on loopback and
# the proof-of-work solve time (run by bench/net/run.sh; prints JSON lines).
add_executable(cocoon-net-bench ${CMAKE_CURRENT_LIST_DIR}/main.c)
target_link_libraries(cocoon-net-bench PRIVATE cocoon_net)
