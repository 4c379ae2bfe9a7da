# The two entry points: `make demo` and `make test`. Both install what is missing first.
JOBS ?= $(shell nproc)
BUILD ?= build
# One sanitized build (clang, ASan+UBSan, libFuzzer's coverage) serves the sanitizer tests and the fuzz
# targets: two full builds in CI instead of three.
ASAN_BUILD ?= build-asan
NOPY_BUILD ?= build-nopy
PREFIX ?= /usr/local
FUZZ_BUILD ?= $(ASAN_BUILD)
SAN_CONFIGURE = -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_COMPILER=clang++ -DPFLAB_FUZZ=ON -DPFLAB_BENCH=OFF
TSAN_BUILD ?= build-tsan
# `make fuzz`: seconds per target; `make fuzz-smoke`: seconds per target after its seed corpus.
FUZZ_SECONDS ?= 60
FUZZ_SMOKE_SECONDS ?= 5

.PHONY: setup build demo test test-release test-asan test-no-python test-bound test-soak test-oracle test-auto test-slurm test-tsan bench-calibrate bench-fidelity fuzz-build fuzz fuzz-smoke bench bench-traces bench-sweep faults install package format clean

setup:
	@scripts/setup.sh

build: setup
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=Release
	cmake --build $(BUILD) -j $(JOBS)

demo: build
	PFLAB=$(BUILD)/pflab scripts/demo.sh

test-release: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

test-asan: setup
	cmake -S . -B $(ASAN_BUILD) $(SAN_CONFIGURE)
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target pflab_tests pflab
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

# A build without the Python development files: it configures (saying py: policies are off) and says
# why a py: spec cannot run. Only what the switch changes is built, two small files, so this stays cheap;
# the development files are hidden by asking pkg-config for a package that does not exist.
test-no-python: setup
	mkdir -p $(NOPY_BUILD)
	cmake -S . -B $(NOPY_BUILD) -DCMAKE_BUILD_TYPE=Release -DPFLAB_BENCH=OFF \
	  -DPFLAB_PYTHON_PACKAGE=pflab-no-such-python >$(NOPY_BUILD)/configure.log 2>&1 || { cat $(NOPY_BUILD)/configure.log; exit 1; }
	grep -q "Python policies (py: specs): off" $(NOPY_BUILD)/configure.log
	cmake --build $(NOPY_BUILD) --target pflab_python_build_probe
	$(NOPY_BUILD)/pflab_python_build_probe | grep "built without the Python bridge"

# CI runs this (.ci/run). The fuzz smoke is every target's committed seeds plus a few seconds of
# fuzzing, from the sanitizer tests' build; ThreadSanitizer (make test-tsan) would be a third full build
# and is run by hand.
test: test-release test-no-python test-asan fuzz-smoke

# The lower bound's full property test (replay/bound.h): 2,000 random traces x every policy x every
# profile; `make test` runs a slice of it. PFLAB_BOUND_TRACES and PFLAB_BOUND_FIRST_SEED choose others.
test-bound: build
	cd $(BUILD) && PFLAB_CLI=$$PWD/pflab ./pflab_tests "[bound-full]"

# Random stacks with random parameters on random traces, every byte checked (tests/replay/
# stack_soak_test.cc): 1,000 runs, about a minute here; PFLAB_SOAK_RUNS and PFLAB_SOAK_FIRST_SEED
# choose others. `make test` runs the first 100.
test-soak: build
	cd $(BUILD) && PFLAB_CLI=$$PWD/pflab ./pflab_tests "[soak-full]"

# ThreadSanitizer over the threaded code: the Asio scheduler, the HTTP transport and fetcher, the fake
# server, live replay and sweeps (docs/testing.md "ThreadSanitizer"). Suppressions: scripts/tsan.supp.
TSAN_TAGS ?= [engine],[fake_gcs],[replay][live],[sweep],[binary][threads],[stream],[http]
test-tsan: setup
	cmake -S . -B $(TSAN_BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPFLAB_TSAN=ON -DPFLAB_BENCH=OFF
	cmake --build $(TSAN_BUILD) -j $(JOBS) --target pflab_tests pflab
	cd $(TSAN_BUILD) && PFLAB_CLI=$$PWD/pflab \
	  TSAN_OPTIONS="suppressions=$(CURDIR)/scripts/tsan.supp second_deadlock_stack=1 history_size=4" \
	  ./pflab_tests "$(TSAN_TAGS)"

# The Slurm test alone (it is also part of every ctest run): a single-node cluster in a temporary folder
# runs a sweep as a job array plus a merge job (docs/sweeps.md "On Slurm").
test-slurm: build
	cd $(BUILD) && PFLAB_CLI=$$PWD/pflab ./pflab_tests "[slurm]"

# pflab calibrate's accuracy against a shaped fake server and, where root can, kernel shaping
# (docs/network.md#calibration). About a minute; PROBES=N changes the latency probes (default 300).
bench-calibrate: build
	PFLAB=$(BUILD)/pflab scripts/bench_calibrate.sh

# The simulator's predictions against real runs over the fake server: 5 traces x 8 policies x 10 seeds on
# two time-scaled profiles (docs/network.md#fidelity). SEEDS=N and PROFILES="..." choose fewer.
bench-fidelity: build
	PFLAB=$(BUILD)/pflab scripts/bench_fidelity.sh

# libFuzzer targets (fuzz/, clang, ASan + UBSan): docs/testing.md "Fuzzing".
fuzz-build: setup
	cmake -S . -B $(FUZZ_BUILD) $(SAN_CONFIGURE)
	cmake --build $(FUZZ_BUILD) -j $(JOBS) --target pflab_fuzz_all

fuzz: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke: fuzz-build
	FUZZ_BUILD=$(FUZZ_BUILD) scripts/fuzz.sh --smoke $(FUZZ_SMOKE_SECONDS)

# The oracle's full acceptance run (seeds 1-5, 60 random traces, every profile; `make test` runs the
# seed-1 slice): no policy may beat the oracle by more than 1%. A few minutes on all cores.
test-oracle: build
	cd $(BUILD) && PFLAB_JOBS=$(JOBS) ./pflab_tests "[oracle-full]"

# The acceptance of the `auto` policy (issue 15): the whole comparison (corpus and generator patterns
# at three sizes x every anchor x seeds 1-5 x three profiles), every byte in the simulator and against
# the fake server, determinism. A few minutes; `make test` runs its slice. PFLAB_AUTO_REPORT=FILE
# writes the comparison's table.
test-auto: build
	cd $(BUILD) && PFLAB_CLI=$$PWD/pflab ./pflab_tests "[auto-acceptance]"

bench: build
	$(BUILD)/pflab_bench --benchmark_counters_tabular=true

# Traces at production scale (docs/traces.md "At scale"): a 100 M-read trace generated straight into
# the binary form (about 200 MB on disk, in the temporary folder, removed afterwards), loaded, and
# replayed; a JSONL rendering of its first 5 M reads parsed in memory. Prints each stage's rate and the
# peak RSS (about 7 GiB). `make test` runs a 300,000-read slice of it ([traces][binary]).
BENCH_TRACES_READS ?= 100000000
bench-traces: build
	$(BUILD)/pflab bench traces --reads $(BENCH_TRACES_READS) --jsonl-reads 5000000

# The same sweep at --jobs 1 and --jobs N (BENCH_SWEEP_JOBS, default 2): CPU time per run and parallel
# efficiency (docs/sweeps.md "On many cores").
BENCH_SWEEP_JOBS ?= 2
bench-sweep: build
	$(BUILD)/pflab bench sweep --jobs $(BENCH_SWEEP_JOBS) --reads 200000 --reps 3

# A relocatable install: PREFIX/bin/pflab and PREFIX/lib/pflab/libpflab_record.so; the profiles and
# the charting libraries are inside the binary.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# A Debian package of the same files under /usr, in $(BUILD)/.
package: build
	cd $(BUILD) && cpack -G DEB

# The whole fault suite (every fault x every policy over the fake server); `make test` runs a slice.
faults: build
	mkdir -p out
	$(BUILD)/pflab faults --md out/faults.md

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) $(NOPY_BUILD) $(FUZZ_BUILD) $(TSAN_BUILD) out fuzz/out
