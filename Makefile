# The two entry points: `make demo` and `make test`. Both install what is missing first.
JOBS ?= $(shell nproc)
BUILD ?= build
ASAN_BUILD ?= build-asan
NOPY_BUILD ?= build-nopy
PREFIX ?= /usr/local

.PHONY: setup build demo test test-release test-asan test-no-python bench install package format clean

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

test: test-release test-no-python test-asan

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
	rm -rf $(BUILD) $(ASAN_BUILD) $(NOPY_BUILD) out
