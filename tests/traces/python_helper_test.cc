// traces/python/pflab_trace.py, driven by Debian's python3 and python3-fsspec: the trace it writes
// must be valid v1 and hold exactly the reads the script made.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>

#include "traces/trace_io.h"

namespace {

namespace fs = std::filesystem;

struct Run {
  int exit_code;
  std::string err;
};

// Runs `script` with /usr/bin/python3, pflab_trace importable; the script gets the output path as argv[1].
Run RunPython(const fs::path& dir, const std::string& script, const std::string& out) {
  const fs::path py = dir / "script.py";
  std::ofstream(py) << script;
  const std::string cmd = "PYTHONPATH=" + std::string(PFLAB_SOURCE_DIR) + "/traces/python /usr/bin/python3 " +
                          py.string() + " " + out + " 2>" + (dir / "err").string();
  const int status = std::system(cmd.c_str());
  std::ifstream in(dir / "err");
  std::stringstream err;
  err << in.rdbuf();
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, err.str()};
}

fs::path TempDir(const std::string& tag) {
  fs::path dir = fs::temp_directory_path() / ("pflab_python_helper_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  return dir;
}

// An fsspec AbstractBufferedFile over bytes with fsspec's readahead cache, a memory:// file, threads
// with their own handles, and fsspec.utils.read_block on a wrapper.
constexpr const char* kScript = R"PY(
import sys, threading
import fsspec
from fsspec.spec import AbstractBufferedFile, AbstractFileSystem
from fsspec.utils import read_block
import pflab_trace

DATA = bytes(range(256)) * 4096  # 1 MiB

class BytesFile(AbstractBufferedFile):
    def __init__(self, path, **kw):
        super().__init__(AbstractFileSystem(), path, mode="rb", size=len(DATA), **kw)
    def _fetch_range(self, start, end):
        return DATA[start:end]

mem = fsspec.filesystem("memory")
with mem.open("/bkt/lines.txt", "wb") as w:
    w.write(b"first line\nsecond\n" + b"x" * 100)

with pflab_trace.record(sys.argv[1], source={"test": "python_helper"}) as rec:
    f = rec.wrap(BytesFile("bkt/big.bin", block_size=65536, cache_type="readahead"))
    assert f.read(100) == DATA[:100]
    f.seek(5000)
    buf = bytearray(300)
    assert f.readinto(buf) == 300 and bytes(buf) == DATA[5000:5300]
    assert f.tell() == 5300
    assert read_block(f, 20000, 1000) == DATA[20000:21000]
    f.seek(len(DATA) - 10)
    assert f.read(4096) == DATA[-10:]  # short at EOF: 10 bytes recorded
    assert f.read(10) == b""            # nothing consumed: no record

    m = rec.wrap(mem.open("/bkt/lines.txt", "rb"), size=118)
    assert m.readline() == b"first line\n"
    assert [l for l in m] == [b"second\n", b"x" * 100]

    def worker(k):
        h = rec.wrap(BytesFile("bkt/big.bin"))
        h.seek(100000 * (k + 1))
        h.read(777)
    # One after the other, so later threads get earlier ones' (reused) idents.
    for k in range(4):
        t = threading.Thread(target=worker, args=(k,))
        t.start()
        t.join()
)PY";

}  // namespace

TEST_CASE("python helper: wrapped fsspec file objects write trace v1 with the exact reads", "[traces][python]") {
  const fs::path dir = TempDir("ok");
  const std::string out = (dir / "rec.jsonl").string();
  const Run run = RunPython(dir, kScript, out);
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  auto trace = pflab::traces::ReadTrace(out);
  INFO((trace ? "" : trace.error().message));
  REQUIRE(trace);
  REQUIRE(trace->objects.size() == 2);
  CHECK(trace->objects[0].name == "bkt/big.bin");
  CHECK(trace->objects[0].size == 1048576);
  CHECK(trace->objects[1].name == "bkt/lines.txt");
  CHECK(trace->objects[1].size == 118);
  CHECK(trace->source["recorder"] == "pflab_trace.py");
  CHECK(trace->source["test"] == "python_helper");

  using Read = std::tuple<std::uint32_t, std::uint64_t, std::uint64_t>;  // object, offset, length
  std::vector<Read> main_thread;
  std::vector<Read> others;
  std::uint32_t main_stream = trace->records.at(0).stream;
  for (const auto& r : trace->records) {
    (r.stream == main_stream ? main_thread : others).emplace_back(r.object, r.offset, r.length);
    CHECK(r.duration_ns >= 0);
  }
  CHECK(main_thread ==
        std::vector<Read>{
            {0, 0, 100}, {0, 5000, 300}, {0, 20000, 1000}, {0, 1048566, 10}, {1, 0, 11}, {1, 11, 7}, {1, 18, 100}});
  // The read cut at EOF keeps the 4096 bytes it asked for; the others asked for what they got.
  for (const auto& r : trace->records) CHECK(r.asked() == (r.offset == 1048566 ? 4096u : r.length));
  std::sort(others.begin(), others.end());
  CHECK(others == std::vector<Read>{{0, 100000, 777}, {0, 200000, 777}, {0, 300000, 777}, {0, 400000, 777}});
  // Each worker thread is its own stream, distinct from the main thread's, even when it reuses the
  // previous thread's ident.
  std::set<std::uint32_t> streams;
  for (const auto& r : trace->records) streams.insert(r.stream);
  CHECK(streams.size() == 5);
  for (std::size_t i = 1; i < trace->records.size(); ++i) CHECK(trace->records[i].t_ns >= trace->records[i - 1].t_ns);
  fs::remove_all(dir);
}

TEST_CASE("python helper: a read beyond a given size fails the recording and writes nothing", "[traces][python]") {
  const fs::path dir = TempDir("bad");
  const std::string out = (dir / "rec.jsonl").string();
  const Run run = RunPython(dir,
                            "import io, sys, pflab_trace\n"
                            "with pflab_trace.record(sys.argv[1]) as rec:\n"
                            "    f = rec.wrap(io.BytesIO(b'0123456789'), name='ten', size=5)\n"
                            "    f.read()\n",
                            out);
  CHECK(run.exit_code != 0);
  CHECK_THAT(run.err, Catch::Contains("ten was read up to byte 10, beyond its size 5"));
  CHECK_FALSE(fs::exists(out));
  fs::remove_all(dir);
}
