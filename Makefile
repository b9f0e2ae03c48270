# Thin wrapper over meson so that `make`, `make check` and `make demo` work
# from a fresh clone. The build itself is described in meson.build.

BUILD ?= build
ASAN_BUILD ?= build-asan
MESON_FLAGS ?= -Dwerror=true

.PHONY: all check unit e2e demo deps fuzz bench clean

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD) $(MESON_FLAGS)

$(ASAN_BUILD)/build.ninja:
	meson setup $(ASAN_BUILD) $(MESON_FLAGS) -Db_sanitize=address,undefined \
		-Db_lundef=false -Dagent=false

deps:
	scripts/install-deps

check: all $(ASAN_BUILD)/build.ninja
	ninja -C $(ASAN_BUILD)
	meson test -C $(ASAN_BUILD) --print-errorlogs
	scripts/fuzz 20
	scripts/run-e2e $(ASAN_BUILD) $(BUILD)

demo:
	scripts/demo

fuzz:
	scripts/fuzz

bench: all
	bench/run

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) build-fuzz
