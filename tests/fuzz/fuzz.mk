# Fuzzing with libFuzzer (clang), included by the Makefile. Everything is
# built in build-fuzz/ with coverage, ASan and UBSan: the core, the server
# minus main.c, and jansson from Debian's source package (tests/fuzz/jansson.sh;
# Debian's libjansson is not instrumented).
#
#   make fuzz            every harness for FUZZ_SECONDS (default 60) each
#   make fuzz-smoke      every harness for FUZZ_SECONDS (default 20) each,
#                        a PASS/FAIL line per harness and "N passed, N failed"
#   make fuzz FUZZ_HARNESSES=fuzz_compute FUZZ_SECONDS=600
#
# The working corpora grow in build-fuzz/corpus/<harness>/ (seeded from
# tests/fuzz/corpus/); crashes land in build-fuzz/artifacts/<harness>/. A crash
# becomes a regression test by copying its input to
# tests/fuzz/regressions/<harness>/ (replayed by tests/test_fuzz_regressions.c).

FUZZ_DIR      := build-fuzz
FUZZ_CC       ?= clang
FUZZ_SAN      := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
FUZZ_CFLAGS   := -g -O1 -std=c11 -D_GNU_SOURCE $(FUZZ_SAN)
FUZZ_JANSSON  := $(FUZZ_DIR)/jansson/libjansson.a
FUZZ_INC      := -I$(FUZZ_DIR)/jansson/include -Iinclude
FUZZ_CORE_OBJ := $(CORE_SRC:%.c=$(FUZZ_DIR)/%.o)
# The request path: the server minus main and its HTTP side (server/http/),
# which compute_run does not reach, but with the working-set estimate, whose
# count of numbers sizes the scan's pool as in a request (fuzz_common.h).
FUZZ_SRV_OBJ  := $(filter-out $(FUZZ_DIR)/server/main.o $(FUZZ_DIR)/server/http/%.o, \
                   $(SERVER_SRC:%.c=$(FUZZ_DIR)/%.o)) $(FUZZ_DIR)/server/http/estimate.o
FUZZ_SRV_LIB  := $(FUZZ_DIR)/libserver.a
FUZZ_CORE_LIB := $(FUZZ_DIR)/libcore.a
FUZZ_HARNESSES ?= fuzz_request fuzz_compute fuzz_autodiff
FUZZ_BINS     := $(FUZZ_HARNESSES:%=$(FUZZ_DIR)/%)
PKGS_FUZZ     := $(PKGS_TEST) clang libclang-rt-14-dev dpkg-dev

.PHONY: fuzz fuzz-smoke fuzz-build deps-fuzz

fuzz: deps-fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) tests/fuzz/run.sh $(or $(FUZZ_SECONDS),60) $(FUZZ_HARNESSES)

fuzz-smoke: deps-fuzz
	@$(MAKE) --no-print-directory fuzz-build
	@FUZZ_DIR=$(FUZZ_DIR) tests/fuzz/run.sh $(or $(FUZZ_SECONDS),20) $(FUZZ_HARNESSES)

deps-fuzz:
	$(call install_missing,$(PKGS_FUZZ))

fuzz-build: $(FUZZ_BINS)

$(FUZZ_JANSSON): tests/fuzz/jansson.sh
	tests/fuzz/jansson.sh $(FUZZ_DIR)/jansson $(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link

$(FUZZ_DIR)/core/%.o: core/%.c $(wildcard include/*.h) $(wildcard core/*.h) $(FUZZ_JANSSON)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_INC) $(BLAS_CFLAGS) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_DIR)/server/%.o: server/%.c $(wildcard include/*.h) $(wildcard server/*.h server/*/*.h) $(FUZZ_JANSSON) \
                        $(wildcard openapi.yaml) $(wildcard server/static/*)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_INC) -Iserver $(FUZZ_CFLAGS) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<

$(FUZZ_SRV_LIB): $(FUZZ_SRV_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_CORE_LIB): $(FUZZ_CORE_OBJ)
	@rm -f $@
	$(AR) rcs $@ $^

$(FUZZ_DIR)/fuzz_%: tests/fuzz/fuzz_%.c tests/fuzz/fuzz_common.h $(FUZZ_SRV_LIB) $(FUZZ_CORE_LIB) \
                    $(FUZZ_JANSSON)
	$(FUZZ_CC) $(FUZZ_INC) -Iserver -Icore $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(FUZZ_SRV_LIB) $(FUZZ_CORE_LIB) $(FUZZ_JANSSON) $(BLAS_LIBS) -lcrypto -lpthread -lm
