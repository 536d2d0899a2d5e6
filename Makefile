# Runnel build. `make` builds build/runneld; `make run` and `make test` first
# install the Debian packages they need (scripts/deps.sh), then build.
#
#   make                 developer build (-Werror) into build/
#   make SAN=1           ASan+UBSan build into build-san/
#   make test            unit + integration tests, then again under ASan/UBSan
#   make run             start a single-node broker on 127.0.0.1:9092, data in ./data

CC      ?= cc
SAN     ?= 0
ifeq ($(SAN),1)
BUILD   ?= build-san
SANFLAGS = -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined -DRN_ARENA_DEBUG
OPT      = -O1
else
BUILD   ?= build
SANFLAGS =
OPT      = -O2
endif
WERROR  ?= -Werror
CFLAGS  ?= $(OPT) -g
CFLAGS  += -std=c11 -D_GNU_SOURCE -Wall -Wextra -Wno-unused-parameter -Wshadow -Wstrict-prototypes -Wno-format-truncation $(WERROR) \
           -pthread -Isrc -I$(BUILD)/gen $(SANFLAGS) -MMD -MP
LDFLAGS += -pthread $(SANFLAGS)
PY      ?= /usr/bin/python3

# One folder per layer; the broker links every layer but the CLI.
LIB_DIRS  = src/common src/proto src/net src/log src/group src/txn src/broker
LIB_SRCS  = $(filter-out src/broker/main.c,$(foreach d,$(LIB_DIRS),$(wildcard $(d)/*.c)))
LIB_OBJS  = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(LIB_SRCS)) $(BUILD)/obj/gen/proto_gen.o
BROKER_LIBS = -lm -lz -llz4 -lzstd -lsnappy

# The command-line tool: librdkafka plus src/common (via librunnel.a).
CLI_SRCS  = $(wildcard src/cli/*.c)
CLI_OBJS  = $(patsubst src/%.c,$(BUILD)/obj/%.o,$(CLI_SRCS))

SCHEMAS   = $(wildcard schema/*.schema)
UNIT_SRCS = $(wildcard tests/unit/test_*.c)
UNIT_BINS = $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRCS))

.PHONY: all deps run test unit integration test-san clean bench fmt crashloop
all: $(BUILD)/runneld $(BUILD)/runnel

$(BUILD)/gen/proto_gen.c $(BUILD)/gen/proto_gen.h $(BUILD)/gen/proto_roundtrip.c &: tools/gen_proto.py $(SCHEMAS)
	@mkdir -p $(BUILD)/gen
	$(PY) tools/gen_proto.py --out $(BUILD)/gen $(SCHEMAS)

$(BUILD)/obj/gen/proto_gen.o: $(BUILD)/gen/proto_gen.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Wno-unused-function -c -o $@ $<

$(BUILD)/obj/%.o: src/%.c $(BUILD)/gen/proto_gen.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD)/librunnel.a: $(LIB_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/runneld: $(BUILD)/obj/broker/main.o $(BUILD)/librunnel.a
	$(CC) $(LDFLAGS) -o $@ $^ $(BROKER_LIBS)

$(BUILD)/runnel: $(CLI_OBJS) $(BUILD)/librunnel.a
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJS) $(BUILD)/librunnel.a -lrdkafka

$(BUILD)/tests/%: tests/unit/%.c $(BUILD)/librunnel.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit -o $@ $< $(BUILD)/librunnel.a $(LDFLAGS) $(BROKER_LIBS) -lcmocka

deps:
	scripts/deps.sh

run: deps
	$(MAKE) all
	$(BUILD)/runneld

unit: $(UNIT_BINS)
	@set -e; for t in $(UNIT_BINS); do echo "== $$t"; $$t; done

integration: $(BUILD)/runneld $(BUILD)/runnel
	RUNNELD=$(abspath $(BUILD)/runneld) tests/integration/run.sh

# The whole suite: deps, unit and integration tests, then the same under ASan/UBSan.
test: deps
	$(MAKE) unit integration
	$(MAKE) SAN=1 unit integration

# Benchmark: `runnel bench` against runneld and against librdkafka's in-process
# mock cluster; see docs/cli.md.  ROUNDS=N to change the round count.
bench: $(BUILD)/runneld $(BUILD)/runnel
	RUNNELD=$(abspath $(BUILD)/runneld) RUNNEL=$(abspath $(BUILD)/runnel) scripts/bench.sh

# The crash loop at length (make test runs its default 50 cycles).
crashloop: $(BUILD)/runneld
	RUNNELD=$(abspath $(BUILD)/runneld) RUNNEL_CRASH_CYCLES=$${RUNNEL_CRASH_CYCLES:-200} \
	    $(PY) -m pytest -q -p no:cacheprovider tests/integration/test_recovery_crashloop.py -o timeout=1800

clean:
	rm -rf build build-san

-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
