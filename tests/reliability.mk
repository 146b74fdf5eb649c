# Load, soak and valgrind runs (issue: reliability and security), included by
# the Makefile.
#
#   make soak            64 connections for SOAK_SECONDS (default 60) on loopback:
#                        requests/s, p99, statuses, RSS; fails on any 5xx
#   make test-valgrind   API tests against the server under valgrind memcheck
#                        (VALGRIND_TESTS picks the programs; by default the
#                        hostile-request catalogue and the auth tests, ~15 s.
#                        test_api_routes runs clean of memory errors too, but
#                        its bit-exact float64 comparisons differ in the last
#                        bit under valgrind's floating-point emulation)

SOAK_SECONDS ?= 60
VALGRIND_TESTS ?= test_api_errors test_api_auth

.PHONY: soak test-valgrind

$(BUILD)/tests/soak: tests/soak.c tests/check.h $(TESTLIB_OBJ) $(LIB) $(wildcard tests/lib/*.h)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Itests $(CFLAGS) $(LDFLAGS) -o $@ $< $(TESTLIB_OBJ) $(LIB) $(BLAS_LIBS) \
	    $(LIBS) -lcurl -lyaml

soak: deps-test
	@$(MAKE) --no-print-directory build-all $(BUILD)/tests/soak
	@BUILD=$(BUILD) SOAK_SECONDS=$(SOAK_SECONDS) $(BUILD)/tests/soak

# The server runs under memcheck through GRADSERVE_BIN (tests/valgrind-server.sh):
# an error or a definite/indirect leak makes it exit 99 at SIGTERM, which the
# tests check as "exits 0". Startup is slower: GRADSERVE_TEST_START_SECONDS.
test-valgrind: deps-test
	@command -v valgrind >/dev/null || { $(SUDO) apt-get update -qq && \
	  $(SUDO) env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind; }
	@$(MAKE) --no-print-directory build-tests
	@BUILD=$(BUILD) GRADSERVE_BIN=tests/valgrind-server.sh GRADSERVE_TEST_START_SECONDS=120 \
	    VALGRIND_SERVER=$(BUILD)/gradserve VALGRIND_LOG_DIR=$(BUILD)/valgrind \
	    tests/run.sh $(VALGRIND_TESTS:%=$(BUILD)/tests/%)
