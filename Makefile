# rill: one Makefile. Objects go to build/rel/ (release) and build/san/ (sanitizers) so the
# two flavours never mix. Every entry point first runs scripts/deps.sh, which apt-installs
# only what is missing, so a fresh Debian 12 with git and make needs nothing else.

CC      ?= cc
STD      = -std=c17 -D_GNU_SOURCE
WARN     = -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes \
           -Wformat=2 -Wvla -Wwrite-strings -fno-common -Werror
TEST_WARN = $(filter-out -Wwrite-strings -Wmissing-prototypes -Wpedantic,$(WARN))
SAN      = -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
CPPFLAGS = -I. -MMD -MP
REL_FLAGS = $(STD) $(WARN) -O2 -g
SAN_FLAGS = $(STD) $(WARN) -O1 -g $(SAN)
LIBS     = -lmicrohttpd -lgnutls -ljansson -lsodium -lpthread
TEST_LIBS = -lcriterion -lcurl

LIB_SRC   = $(wildcard common/*.c storage/*.c api/*.c) $(filter-out server/main.c,$(wildcard server/*.c))
SUPPORT_SRC = $(filter-out tests/support/fuzz_driver.c tests/support/fuzz_store.c,\
                           $(wildcard tests/support/*.c))
UNIT_SRC  = $(SUPPORT_SRC) $(wildcard tests/common/test_*.c tests/storage/test_*.c \
                       tests/api/test_*.c tests/server/test_*.c)
INTEG_SRC = $(wildcard tests/integration/test_*.c) $(SUPPORT_SRC)
FUZZ_SRC  = $(wildcard fuzz/fuzz_*.c)

LIB_ASM   = $(wildcard api/*.S)   # embedded files (openapi.yaml)

rel_obj = $(patsubst %.c,build/rel/%.o,$(1)) $(patsubst %.S,build/rel/%.o,$(LIB_ASM))
san_obj = $(patsubst %.c,build/san/%.o,$(1)) $(patsubst %.S,build/san/%.o,$(LIB_ASM))

.PHONY: all deps deps-test deps-bench run test check unit integration fuzz-check bench \
        fuzz clean

all: deps
	@$(MAKE) --no-print-directory rill

deps:
	@scripts/deps.sh build
deps-test:
	@scripts/deps.sh test
deps-bench:
	@scripts/deps.sh bench

rill: $(call rel_obj,$(LIB_SRC) server/main.c)
	$(CC) $(REL_FLAGS) -o $@ $^ $(LIBS)

run: deps
	@$(MAKE) --no-print-directory rill
	./rill serve --listen 127.0.0.1:8080 --data ./data

build/rel/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(REL_FLAGS) -c -o $@ $<

# One rule per flavour: a pattern rule with two targets tells make that one run of
# its recipe makes both, so `make -j rill build/san/rill` would leave one missing.
build/rel/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) -I. -c -o $@ $<

build/san/%.o: %.S
	@mkdir -p $(dir $@)
	$(CC) -I. -c -o $@ $<

build/rel/api/openapi_blob.o build/san/api/openapi_blob.o: openapi.yaml

build/san/tests/%.o: tests/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(STD) $(TEST_WARN) -O1 -g $(SAN) -c -o $@ $<

build/san/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(SAN_FLAGS) -c -o $@ $<

build/san/rill: $(call san_obj,$(LIB_SRC) server/main.c)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS)

build/san/unit-tests: $(call san_obj,$(LIB_SRC) $(UNIT_SRC))
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

build/san/integration-tests: $(call san_obj,$(LIB_SRC) $(INTEG_SRC))
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS) $(TEST_LIBS)

# Fuzz targets, built with gcc + sanitizers and a small driver that replays the seed
# corpus and random mutations of it (so `make test` runs them); `make fuzz` builds the
# same targets with clang's libFuzzer for long runs.
build/san/fuzz/%: build/san/fuzz/%.o build/san/tests/support/fuzz_driver.o \
                  build/san/tests/support/json_oracle.o build/san/tests/support/fuzz_store.o \
                  $(call san_obj,$(LIB_SRC))
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LIBS)

FUZZ_BINS = $(patsubst fuzz/%.c,build/san/fuzz/%,$(FUZZ_SRC))

test: deps-test
	@$(MAKE) --no-print-directory -j$$(nproc) check

# The test run: sanitizer logs go to files because criterion exits 0 when a forked test
# leaks; any log at all fails the run.
check: build/san/unit-tests build/san/integration-tests build/san/rill $(FUZZ_BINS)
	@rm -rf build/san-logs && mkdir -p build/san-logs
	ASAN_OPTIONS=log_path=$(CURDIR)/build/san-logs/asan:detect_leaks=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=log_path=$(CURDIR)/build/san-logs/ubsan:print_stacktrace=1 \
	    build/san/unit-tests --jobs 2
	@for f in $(FUZZ_BINS); do \
	    echo "fuzz $$f"; \
	    ASAN_OPTIONS=log_path=$(CURDIR)/build/san-logs/asan \
	    $$f fuzz/corpus/$$(basename $$f) 20000 || exit 1; done
	RILL_BIN=$(CURDIR)/build/san/rill \
	ASAN_OPTIONS=log_path=$(CURDIR)/build/san-logs/asan:detect_leaks=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=log_path=$(CURDIR)/build/san-logs/ubsan:print_stacktrace=1 \
	    build/san/integration-tests --jobs 1
	cd tests/contract && npm ci --no-audit --no-fund --silent && node lint.mjs
	cd tests/contract && RILL_BIN=$(CURDIR)/build/san/rill \
	ASAN_OPTIONS=log_path=$(CURDIR)/build/san-logs/asan:detect_leaks=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=log_path=$(CURDIR)/build/san-logs/ubsan:print_stacktrace=1 \
	    node contract.mjs
	cd tests/browser && npm ci --no-audit --no-fund --silent && RILL_BIN=$(CURDIR)/build/san/rill \
	ASAN_OPTIONS=log_path=$(CURDIR)/build/san-logs/asan:detect_leaks=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=log_path=$(CURDIR)/build/san-logs/ubsan:print_stacktrace=1 \
	    sh -c 'node sse.mjs && node cors.mjs'
	@if ls build/san-logs/* >/dev/null 2>&1; then cat build/san-logs/*; \
	    echo "sanitizer reports above: failing"; exit 1; fi

build/rel/bench-storage: $(call rel_obj,$(LIB_SRC) bench/bench_storage.c)
	$(CC) $(REL_FLAGS) -o $@ $^ $(LIBS)

build/rel/bare-mhd: bench/bare_mhd.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) -O2 -o $@ $< -lmicrohttpd -lpthread

build/rel/sse-fanout: bench/sse_fanout.c common/hex.h
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(STD) $(WARN) -O2 -o $@ $< -lpthread

build/rel/loopback-fanout: bench/loopback_fanout.c
	@mkdir -p $(dir $@)
	$(CC) $(STD) $(WARN) -O2 -o $@ $< -lpthread

bench: deps-bench
	@$(MAKE) --no-print-directory build/rel/bench-storage build/rel/bare-mhd build/rel/sse-fanout \
	    build/rel/loopback-fanout rill
	build/rel/bench-storage
	bench/http_bench.sh ./rill build/rel/bare-mhd
	bench/sse_bench.sh ./rill build/rel/sse-fanout build/rel/loopback-fanout

fuzz:
	@scripts/deps.sh test
	@mkdir -p build/fuzz
	@for f in $(FUZZ_SRC); do n=$$(basename $$f .c); \
	    echo "clang libFuzzer: build/fuzz/$$n"; \
	    clang $(CPPFLAGS) $(STD) -g -O1 -fsanitize=fuzzer,address,undefined \
	        -o build/fuzz/$$n $$f tests/support/json_oracle.c tests/support/fuzz_store.c \
	        $(LIB_SRC) $(LIB_ASM) \
	        $(LIBS) || exit 1; done
	@echo "run e.g.: build/fuzz/fuzz_record fuzz/corpus/fuzz_record -max_total_time=60"

clean:
	rm -rf build rill

.SECONDARY:

-include $(shell find build -name '*.d' 2>/dev/null)
