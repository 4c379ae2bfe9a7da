# The two entry points: `make demo` and `make test`. Both install what is missing first.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan

.PHONY: setup build demo test test-release test-asan test-oracle bench format clean

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

# The oracle's full acceptance run (seeds 1-5, 60 random traces, every profile; `make test` runs the
# seed-1 slice): no policy may beat the oracle by more than 1%. A few minutes on all cores.
test-oracle: build
	cd $(BUILD) && PFLAB_JOBS=$(JOBS) ./pflab_tests "[oracle-full]"

bench: build
	$(BUILD)/pflab_bench --benchmark_counters_tabular=true

format:
	clang-format -i $$(git ls-files '*.h' '*.cc')

clean:
	rm -rf $(BUILD) $(ASAN_BUILD) out
