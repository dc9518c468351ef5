# The README's commands. CMake does the real work; this file only names the jobs.
#   make          install missing dependencies and build everything into build/
#   make run      start a local network (proxy, workers, client) answering OpenAI requests
#   make test     build and run every test: normal build, sanitizer build, fuzz smoke run
#   make bench    print the benchmark figures (JSON lines)
#   make deb      Debian packages of the daemons and the CLI into build/deb/
#   make soak     mixed load for 10 minutes (SOAK_SECONDS), RSS/fd drift per daemon;
#                 then 10 kill -9 of the proxy with money on chain (test_money_chain)

BUILD      ?= build
ASAN_BUILD ?= build-asan
FUZZ_BUILD ?= build-fuzz
JOBS       ?= $(shell nproc)
RUN_ARGS   ?=

.PHONY: all deps build run test test-fast test-asan test-fuzz bench soak fuzz deb format clean

all: build

deps:
	@scripts/install-deps.sh

build: deps
	@cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@cmake --build $(BUILD) -j $(JOBS)

# One line per step (dependencies, build, then cocoon up's own lines: model, network, ready).
run:
	@scripts/install-deps.sh run
	@scripts/quiet-build.sh $(BUILD) $(JOBS)
	@$(BUILD)/bin/cocoon up $(RUN_ARGS)

# The whole suite, as CI runs it.
test: test-fast test-asan test-fuzz

# The money test kills the proxy ten times here (issue #9's acceptance test);
# the sanitizer phase keeps the test's default of two.
test-fast: build
	cd $(BUILD) && COCOON_MONEY_KILLS=10 ctest --output-on-failure -j $(JOBS)

test-asan: deps
	@cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DCOCOON_SANITIZE=ON >/dev/null
	@cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -L 'unit|integration|fuzz' -LE slow

test-fuzz: deps
	@cmake -S . -B $(FUZZ_BUILD) -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	  -DCOCOON_FUZZ=ON >/dev/null
	@cmake --build $(FUZZ_BUILD) -j $(JOBS)
	cd $(FUZZ_BUILD) && COCOON_FUZZ_SECONDS=$${COCOON_FUZZ_SECONDS:-15} ctest --output-on-failure -j $(JOBS) -L fuzz

fuzz: deps
	$(MAKE) test-fuzz COCOON_FUZZ_SECONDS=$${COCOON_FUZZ_SECONDS:-300}

bench: build
	bench/run.sh $(BUILD)

deb: build
	packaging/deb/build.sh $(BUILD) $(BUILD)/deb

SOAK_SECONDS ?= 600
soak: build
	COCOON_BIN_DIR=$(CURDIR)/$(BUILD)/bin COCOON_SOAK_SECONDS=$(SOAK_SECONDS) \
	  python3 tests/faults/soak.py
	COCOON_BIN_DIR=$(CURDIR)/$(BUILD)/bin COCOON_MONEY_KILLS=10 \
	  python3 tests/integration/test_money_chain.py

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(FUZZ_BUILD)
