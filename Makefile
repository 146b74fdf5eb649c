# gradserve: `make run` builds and starts the service, `make test` runs the
# whole test suite. Both install the Debian packages they need when missing.
#
#   make            build the core library and the server
#   make run        build, then run the server on 127.0.0.1:8080
#   make test       build with -Werror and run every test
#   make test SANITIZE=1   the same suite under AddressSanitizer + UBSan
#   make test-fresh the two commands on a bare Debian 12 container (Docker)
#   make bench      benchmarks (results printed and written to bench/results.md)
#   make bench-smoke   the benchmark tools on tiny budgets (CI)
#   make fixtures   regenerate the PyTorch reference fixtures (needs python3-torch)
#   make fixtures-check   a rerun of the generator gives the committed fixtures, byte for byte

SANITIZE ?=
BUILD    ?= build$(if $(SANITIZE),-san)
CC       ?= cc
PORT     ?= 8080

# Packages per purpose; `deps-*` targets install whichever are missing.
PKGS_BUILD := gcc make pkg-config libopenblas-dev libjansson-dev libmicrohttpd-dev libssl-dev
PKGS_TEST  := $(PKGS_BUILD) libcurl4-openssl-dev libyaml-dev curl python3-numpy
PKGS_BENCH := $(PKGS_TEST) python3-numpy python3-torch wrk python3-flask gunicorn dataset-fashion-mnist

CPPFLAGS += -Iinclude -D_GNU_SOURCE
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra -Werror -Wshadow -Wvla -fno-fast-math
ifneq ($(SANITIZE),)
CFLAGS   += -O1 -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=address,undefined
endif
# Evaluated when a recipe runs, so after the deps targets have installed them.
BLAS_CFLAGS = $(shell pkg-config --cflags openblas 2>/dev/null)
BLAS_LIBS   = $(shell pkg-config --libs openblas 2>/dev/null || echo -lopenblas)
LIBS        = -ljansson -lmicrohttpd -lcrypto -lpthread -lm

CORE_SRC   := $(wildcard core/*.c)
CORE_OBJ   := $(CORE_SRC:%.c=$(BUILD)/%.o)
SERVER_SRC := $(wildcard server/*.c server/*/*.c)
SERVER_OBJ := $(SERVER_SRC:%.c=$(BUILD)/%.o)
TEST_SRC   := $(wildcard tests/test_*.c)
TEST_BIN   := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)
# Tests driven by a script (a browser, the README's examples): same output rules.
TEST_SCRIPTS := $(wildcard tests/test_*.sh)
TESTLIB_SRC := $(wildcard tests/lib/*.c)
TESTLIB_OBJ := $(TESTLIB_SRC:%.c=$(BUILD)/%.o)
BENCH_SRC  := $(wildcard bench/*.c)
BENCH_BIN  := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)
BENCHLIB_SRC := $(wildcard bench/lib/*.c)
BENCHLIB_OBJ := $(BENCHLIB_SRC:%.c=$(BUILD)/%.o)
# The benchmarked step as a shared library, for bench/torch_bench.py (ctypes):
# it links the core once more, built as position-independent code.
BENCH_STEP_SO := $(BUILD)/bench/libbench_step.so
CORE_PIC_OBJ  := $(CORE_SRC:%.c=$(BUILD)/pic/%.o)
LIB        := $(BUILD)/libgradserve.a
SERVER_BIN := $(if $(SERVER_SRC),$(BUILD)/gradserve)
# The server minus main(): in-process tests (compute_run) link it.
SERVER_LIB := $(BUILD)/libgradserve-server.a

.PHONY: all run test test-fresh bench bench-smoke fixtures fixtures-check lint-openapi clean deps-build deps-test deps-bench deps-node \
        build-all build-tests build-bench

all: deps-build
	@$(MAKE) --no-print-directory build-all

run: deps-build
	@$(MAKE) --no-print-directory build-all
	$(BUILD)/gradserve --listen 127.0.0.1:$(PORT)

test: deps-test
	@$(MAKE) --no-print-directory build-tests
	@BUILD=$(BUILD) EXAMPLE_LDFLAGS="$(LDFLAGS)" tests/run.sh $(TEST_BIN) $(TEST_SCRIPTS)

# A clean clone's `make test` and `make run` in a bare Debian 12 container.
test-fresh: deps-docker
	@bash tests/fresh_debian.sh

bench: deps-bench
	@$(MAKE) --no-print-directory build-bench $(BUILD)/tests/test_api_errors
	@BUILD=$(BUILD) bench/run.sh

# The benchmark tools on tiny budgets, timings not judged (CI): bench/smoke.sh.
bench-smoke: deps-test
	$(call install_missing,python3-numpy)
	@$(MAKE) --no-print-directory build-bench
	@BUILD=$(BUILD) bench/smoke.sh

fixtures:
	/usr/bin/python3 tests/fixtures/make_fixtures.py tests/fixtures

# A rerun of the generator writes the committed fixtures byte for byte (CI; ~5 s).
fixtures-check:
	$(call install_missing,python3-numpy python3-torch libopenblas0-pthread)
	@tests/fixtures/check.sh

# The contract must lint clean (Redocly's recommended rules, redocly.yaml).
REDOCLY := @redocly/cli@2.77.0
lint-openapi: deps-node
	npx --yes $(REDOCLY) lint openapi.yaml && echo "lint: ok"

build-all: $(LIB) $(SERVER_BIN)
build-tests: build-all $(TEST_BIN)
build-bench: build-all $(BENCH_BIN) $(BENCH_STEP_SO)

$(LIB): $(CORE_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(SERVER_LIB): $(filter-out $(BUILD)/server/main.o,$(SERVER_OBJ))
	@rm -f $@
	$(AR) rcs $@ $^

# The core's element-wise loops need -O3 to be vectorized by GCC 12 (ReLU at
# -O2 is a scalar branch per element: 25% of a 784-512-512-10 step, bench/).
$(BUILD)/core/%.o $(BUILD)/pic/core/%.o: CFLAGS += $(if $(SANITIZE),,-O3)
$(BUILD)/core/%.o: core/%.c $(wildcard include/*.h) $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BLAS_CFLAGS) $(CFLAGS) -c -o $@ $<
$(BUILD)/pic/core/%.o: core/%.c $(wildcard include/*.h) $(wildcard core/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(BLAS_CFLAGS) $(CFLAGS) -fPIC -fno-semantic-interposition -c -o $@ $<

$(BUILD)/server/%.o: server/%.c $(wildcard include/*.h) $(wildcard server/*.h server/*/*.h) $(wildcard openapi.yaml) $(wildcard server/static/*)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iserver $(CFLAGS) -c -o $@ $<
# the JavaScript client, embedded beside server/static/ (assets.c)
$(BUILD)/server/api/assets.o: $(wildcard clients/js/*.js)

$(BUILD)/gradserve: $(SERVER_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(SERVER_OBJ) $(LIB) $(BLAS_LIBS) $(LIBS)

$(BUILD)/tests/lib/%.o: tests/lib/%.c $(wildcard tests/lib/*.h) include/gradserve.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) -c -o $@ $<

$(BUILD)/tests/%: tests/%.c tests/check.h $(TESTLIB_OBJ) $(SERVER_LIB) $(LIB) $(wildcard tests/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests -Iserver $(BLAS_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) \
	    $(SERVER_LIB) $(LIB) $(BLAS_LIBS) $(LIBS) -lcurl -lyaml

# bench_codec times the server's decoders and writer in-process: it links the server too.
$(BUILD)/bench/%: bench/%.c $(BENCHLIB_OBJ) $(SERVER_LIB) $(LIB) $(wildcard bench/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Iserver $(BLAS_CFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(BENCHLIB_OBJ) \
	    $(SERVER_LIB) $(LIB) $(BLAS_LIBS) $(LIBS) -lcurl

$(BUILD)/bench/lib/%.o: bench/lib/%.c $(wildcard bench/lib/*.h) include/gradserve.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fPIC -c -o $@ $<

$(BENCH_STEP_SO): $(BENCHLIB_OBJ) $(CORE_PIC_OBJ)
	$(CC) -shared $(LDFLAGS) -o $@ $^ $(BLAS_LIBS) -lm

clean:
	rm -rf build build-san

# Install whichever of the listed Debian packages are missing (root or sudo).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
define install_missing
	@missing=$$(for p in $(1); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; \
	  done); \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:" $$missing; \
	  $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	fi
endef

deps-build:
	$(call install_missing,$(PKGS_BUILD))
deps-test:
	$(call install_missing,$(PKGS_TEST))
deps-bench:
	$(call install_missing,$(PKGS_BENCH))
# Node.js from Debian unless a node is already on the PATH.
deps-node:
	@command -v npx >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm; }

# Container image and its tests (issue: Docker and scale-out).
-include docker/docker.mk

# Fuzzing (issue: reliability and security): make fuzz, make fuzz-smoke.
-include tests/fuzz/fuzz.mk
# Soak and valgrind runs: make soak, make test-valgrind.
-include tests/reliability.mk
