# The two entry points: `make demo` and `make test`. Both install what is missing first.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
PREFIX ?= /usr/local

.PHONY: setup build demo test test-release test-asan test-auto bench install package format clean

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
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DPFLAB_SANITIZE=ON -DPFLAB_BENCH=OFF
	cmake --build $(ASAN_BUILD) -j $(JOBS) --target pflab_tests pflab
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

test: test-release test-asan

# The acceptance of the `auto` policy (issue 15): the whole comparison (corpus and generator patterns
# at three sizes x every anchor x seeds 1-5 x three profiles), every byte in the simulator and against
# the fake server, determinism. A few minutes; `make test` runs its slice. PFLAB_AUTO_REPORT=FILE
# writes the comparison's table.
test-auto: build
	cd $(BUILD) && PFLAB_CLI=$$PWD/pflab ./pflab_tests "[auto-acceptance]"

bench: build
	$(BUILD)/pflab_bench --benchmark_counters_tabular=true

# A relocatable install: PREFIX/bin/pflab and PREFIX/lib/pflab/libpflab_record.so; the profiles and
# the charting libraries are inside the binary.
install: build
	cmake --install $(BUILD) --prefix $(PREFIX)

# A Debian package of the same files under /usr, in $(BUILD)/.
package: build
	cd $(BUILD) && cpack -G DEB

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) out
