# logseal - one non-recursive Makefile.  See README.md.
#   make            build build/logseal
#   make test       install missing packages, build, run every test
#   make run        install, build, init ./data if empty, serve on 127.0.0.1:8080
#   make asan       the suite under AddressSanitizer + UndefinedBehaviorSanitizer
#   make fuzz       every libFuzzer target for FUZZ_TIME seconds (default 20)
#   make bench      benchmarks with baselines, printed with the machine they ran on
#   make crash N=   the SIGKILL crash loop with N rounds (default 200)

SHELL   := /bin/bash
BUILD   ?= build
CC      ?= gcc
PKGS    := openssl jansson libmicrohttpd sqlite3 zlib libdeflate libzstd libcurl libxml-2.0 p11-kit-1 libpq
SAN     ?=
OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wshadow -Wformat=2 \
           -Wno-unused-parameter -Wno-format-truncation -fno-strict-aliasing -Isrc $(SAN)
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
LDLIBS  := $(PKG_LIBS) -lroaring -lpthread -lm
TEST_LIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

# The layers, lowest first (README "A tour of src/"; `make check-layers`).
# The library is every layer but cli/; the command-line tool links it.
LAYERS   := base core store followers server cli
LIB_SRCS := $(wildcard $(patsubst %,src/%/*.c,$(filter-out cli,$(LAYERS))) src/core/formats/*.c)
LIB_OBJS := $(LIB_SRCS:%.c=$(BUILD)/%.o)
CLI_SRCS := $(wildcard src/cli/*.c)
CLI_OBJS := $(CLI_SRCS:%.c=$(BUILD)/%.o)
UNIT_SRCS := $(wildcard tests/unit/test_*.c)
UNIT_BINS := $(UNIT_SRCS:tests/unit/%.c=$(BUILD)/tests/%)
HELPER_SRCS := $(wildcard tests/helpers/*.c)
HELPER_BINS := $(HELPER_SRCS:tests/helpers/%.c=$(BUILD)/tests/%)
# Every bench/*.c is a program but bench_http.c, the HTTP client two of them link.
BENCH_SRCS := $(filter-out bench/bench_http.c,$(wildcard bench/*.c))
BENCH_BINS := $(BENCH_SRCS:bench/%.c=$(BUILD)/bench/%)
FUZZ_SRCS := $(wildcard fuzz/fuzz_*.c)
WEB_FILES := $(wildcard web/*)

.PHONY: all check-layers test run asan fuzz bench crash deps deps-test clean unit-bins
all: $(BUILD)/logseal

# -MMD -MP: each object depends on the headers it includes, no more.
$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -c -o $@ $<
-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)

$(BUILD)/liblogseal.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/logseal: $(CLI_OBJS) $(BUILD)/liblogseal.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

# The dashboard: web/* become byte arrays in the library (src/web.h).  The
# fuzz build compiles LIB_SRCS directly, so the generated file joins them.
# uPlot for the overview's charts: from npm at build time (web/vendor/,
# scripts/vendor_web.sh), its license served beside it; not in the tree.
WEB_VENDOR := $(BUILD)/web-vendor/uplot.min.js $(BUILD)/web-vendor/uplot.min.css \
              $(BUILD)/web-vendor/uplot-LICENSE.txt
WEB_FILES += $(WEB_VENDOR)
$(WEB_VENDOR) &: web/vendor/package.json web/vendor/package-lock.json scripts/vendor_web.sh
	sh scripts/vendor_web.sh $(BUILD)/web-vendor
WEB_GEN := $(BUILD)/gen/web_assets.c
$(WEB_GEN): $(WEB_FILES) web scripts/embed_web.py
	@mkdir -p $(dir $@)
	python3 scripts/embed_web.py $@ $(WEB_FILES)
$(BUILD)/gen/web_assets.o: $(WEB_GEN) src/server/web.h src/base/ls.h
	$(CC) $(CFLAGS) -c -o $@ $<
$(BUILD)/liblogseal.a: $(BUILD)/gen/web_assets.o
LIB_SRCS += $(WEB_GEN)
fuzz: $(WEB_GEN)

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/liblogseal.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/liblogseal.a $(LDLIBS) $(TEST_LIBS)

$(BUILD)/tests/%: tests/helpers/%.c $(BUILD)/liblogseal.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -o $@ $< $(BUILD)/liblogseal.a $(LDLIBS)

$(BUILD)/bench/loadgen $(BUILD)/bench/qbench: $(BUILD)/bench/bench_http.o
$(BUILD)/bench/relp_load: LDLIBS += $(shell pkg-config --libs relp 2>/dev/null)
$(BUILD)/bench/%: bench/%.c $(BUILD)/liblogseal.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(PKG_CFLAGS) -MMD -MP -o $@ $< $(filter %.o,$^) $(BUILD)/liblogseal.a $(LDLIBS)

unit-bins: $(BUILD)/logseal $(UNIT_BINS) $(HELPER_BINS)

deps:
	@scripts/deps.sh

# The suite's engines too (Ceph RGW for the object store): never for make run.
deps-test:
	@scripts/deps.sh test

# Fails when a file includes a header from a layer above its own, when
# store/journal.h is included outside store/, or on an include cycle.
check-layers:
	@python3 scripts/check_layers.py $(LAYERS)

test: deps-test
	@$(MAKE) --no-print-directory unit-bins
	@python3 scripts/check_layers.py $(LAYERS)
	@BUILD=$(BUILD) tests/run.sh

run: deps
	@$(MAKE) --no-print-directory $(BUILD)/logseal
	@scripts/run.sh

asan: deps-test
	@$(MAKE) --no-print-directory BUILD=build-asan OPT=-O1 \
	  SAN="-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all" unit-bins
	@ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  BUILD=build-asan LOGSEAL_SANITIZED=1 tests/run.sh

FUZZ_TIME ?= 20
FUZZ_CFLAGS := -g -O1 -std=gnu11 -D_GNU_SOURCE -Isrc -fsanitize=fuzzer,address,undefined $(PKG_CFLAGS)
fuzz: deps-test
	@mkdir -p build-fuzz
	@set -e; for f in $(FUZZ_SRCS); do \
	  n=$$(basename $$f .c); \
	  clang $(FUZZ_CFLAGS) -o build-fuzz/$$n $$f $(LIB_SRCS) $(LDLIBS); \
	  mkdir -p build-fuzz/corpus-$$n; \
	  cp -n fuzz/corpus/$$n/* build-fuzz/corpus-$$n/ 2>/dev/null || true; \
	  echo "== $$n ($(FUZZ_TIME)s)"; \
	  build-fuzz/$$n -max_total_time=$(FUZZ_TIME) -max_len=70000 -print_final_stats=1 \
	    build-fuzz/corpus-$$n 2>&1 | grep -E 'stat::number_of_executed_units|ERROR|SUMMARY|crash' ; \
	  test $${PIPESTATUS[0]:-0} -eq 0; \
	done

bench: deps-test
	@$(MAKE) --no-print-directory $(BUILD)/logseal $(BENCH_BINS)
	@BUILD=$(BUILD) bench/run.sh

# The script needs LOGSEAL and TESTBIN (tests/run.sh sets them for the
# suite); it is run with bash, so its file mode does not matter.
# tests/integration/t0201-make-crash.sh runs this target as users do.
N ?= 200
crash: deps-test
	@$(MAKE) --no-print-directory unit-bins
	@BUILD=$(BUILD) LOGSEAL=$(abspath $(BUILD))/logseal TESTBIN=$(abspath $(BUILD))/tests \
	  CRASH_ROUNDS=$(N) bash tests/integration/t0200-crash-journal.sh

clean:
	rm -rf build build-asan build-fuzz
