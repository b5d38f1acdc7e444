# Ballot's front door. `make` builds into build/, `make test` runs everything CI runs.
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE ?= cmake

.PHONY: all build build-sanitize build-fuzz test test-release test-sanitize fuzz-smoke run clean \
        format format-check nemesis nemesis-skew-beyond

all: build

build:
	@$(CMAKE) -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
	@$(CMAKE) --build build -j $(JOBS)

build-sanitize:
	@$(CMAKE) -S . -B build-sanitize -DCMAKE_BUILD_TYPE=Debug -DBALLOT_SANITIZE=ON >/dev/null
	@$(CMAKE) --build build-sanitize -j $(JOBS)

build-fuzz:
	@CC=clang $(CMAKE) -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DBALLOT_FUZZ=ON >/dev/null
	@$(CMAKE) --build build-fuzz -j $(JOBS)

# Everything: the normal build's suite, the same suite under ASan+UBSan, short fuzz runs.
test: test-sanitize fuzz-smoke test-release

test-release: build
	cd build && ctest --output-on-failure -j $(JOBS)

test-sanitize: build-sanitize
	cd build-sanitize && BALLOT_SANITIZED=1 ctest --output-on-failure -j $(JOBS)

fuzz-smoke: build-fuzz
	cd build-fuzz && ctest --output-on-failure -L fuzz -j $(JOBS)

# Real ballotd nodes under faults with a linearizability check (docs/reliability.md): long
# runs of 3 and 5 nodes. NEMESIS_SEED=N replays a schedule; NEMESIS_FAULTS sets its length.
NEMESIS_FAULTS ?= 60
NEMESIS_ARGS = --build build --disk-shim build/tests/nemesis/libballot_nemesis_disk_shim.so \
               $(if $(NEMESIS_SEED),--seed $(NEMESIS_SEED))
nemesis: build
	/usr/bin/python3 -B tests/nemesis/nemesis.py $(NEMESIS_ARGS) --nodes 3 --faults $(NEMESIS_FAULTS)
	/usr/bin/python3 -B tests/nemesis/nemesis.py $(NEMESIS_ARGS) --nodes 5 --faults $(NEMESIS_FAULTS)

# Clocks past the lease drift bound: the checker must report stale reads (it exits 0 when
# it does). Not part of `make test` or `make nemesis`: it shows what the suite can see.
nemesis-skew-beyond: build
	/usr/bin/python3 -B tests/nemesis/nemesis.py $(NEMESIS_ARGS) --skew-beyond

run: build
	@./scripts/run.sh

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

format-check:
	clang-format --dry-run --Werror $$(git ls-files '*.c' '*.h')

clean:
	rm -rf build build-sanitize build-fuzz
