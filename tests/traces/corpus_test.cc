// The committed trace corpus (traces/corpus/*.jsonl, recorded by traces/corpus/make_corpus.sh): every
// trace must load and stay within its objects, and traces/corpus/README.md must describe each trace
// exactly once with the object size and read count the trace really has, so the two cannot drift.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "engine/text.h"
#include "traces/trace_io.h"

namespace pflab::traces {
namespace {

namespace fs = std::filesystem;

const fs::path kCorpusDir = fs::path(PFLAB_SOURCE_DIR) / "traces" / "corpus";
// The budget: each trace small enough to commit uncompressed.
constexpr std::uintmax_t kMaxTraceBytes = 1 << 20;

std::vector<fs::path> CorpusTraces() {
  std::vector<fs::path> out;
  for (const auto& entry : fs::directory_iterator(kCorpusDir)) {
    if (entry.is_regular_file() && entry.path().extension() == ".jsonl") out.push_back(entry.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

/// One row of the README's trace table, as written.
struct ReadmeRow {
  int line = 0;
  std::string object_size;  // the cell; starts with the total size in bytes
  std::string reads;        // the cell; the number of reads
};

/// The cells of a Markdown table row; a backslash before a bar makes the bar part of the cell, as on GitHub.
std::vector<std::string> Cells(const std::string& line) {
  std::vector<std::string> cells;
  std::string cell;
  for (std::size_t i = 1; i < line.size(); ++i) {  // past the leading '|'
    if (line[i] == '\\' && i + 1 < line.size() && line[i + 1] == '|') {
      cell += '|';
      ++i;
    } else if (line[i] == '|') {
      cells.emplace_back(Trim(cell, " \t"));
      cell.clear();
    } else {
      cell += line[i];
    }
  }
  if (!Trim(cell, " \t").empty()) cells.emplace_back(Trim(cell, " \t"));
  return cells;
}

/// Rows whose first cell is a trace file name in backquotes; every other line is prose. A name listed
/// twice is reported by the caller through `duplicates`.
std::map<std::string, ReadmeRow> ReadmeRows(std::vector<std::string>& duplicates) {
  std::ifstream in(kCorpusDir / "README.md");
  REQUIRE(in.good());
  std::map<std::string, ReadmeRow> rows;
  std::string line;
  for (int n = 1; std::getline(in, line); ++n) {
    if (line.rfind("| `", 0) != 0) continue;
    const auto cells = Cells(line);
    const std::string first = cells.empty() ? "" : cells[0];
    if (first.size() < 8 || first.back() != '`' || first.find(".jsonl`") == std::string::npos) continue;
    const std::string name = first.substr(1, first.size() - 2);
    // trace | program | data | command | object size | reads | pattern seen
    REQUIRE(cells.size() >= 7);
    if (rows.count(name) != 0) duplicates.push_back(name);
    rows[name] = {n, cells[4], cells[5]};
  }
  return rows;
}

/// The leading integer of a cell ("48589645 (46.3 MiB)" -> 48589645); -1 if it has none.
std::int64_t LeadingInteger(const std::string& cell) {
  std::size_t i = 0;
  while (i < cell.size() && cell[i] >= '0' && cell[i] <= '9') ++i;
  if (i == 0) return -1;
  return std::stoll(cell.substr(0, i));
}

TEST_CASE("corpus: every committed trace loads, is small, and reads only within its objects", "[corpus]") {
  const auto traces = CorpusTraces();
  REQUIRE(traces.size() >= 8);
  for (const auto& path : traces) {
    INFO(path.filename().string());
    CHECK(fs::file_size(path) < kMaxTraceBytes);
    auto trace = ReadTrace(path.string());
    REQUIRE(trace.ok());
    REQUIRE(!trace->objects.empty());
    REQUIRE(!trace->records.empty());
    // The recorder says how the trace was made; a hand-edited or generated file would not.
    CHECK(trace->source.is_object());
    CHECK(!trace->source.empty());
    for (const auto& o : trace->objects) CHECK(o.size > 0);
    std::size_t outside = 0;
    std::size_t empty = 0;
    for (const auto& r : trace->records) {
      REQUIRE(r.object < trace->objects.size());
      if (r.length == 0) ++empty;
      if (r.offset + r.length > trace->objects[r.object].size) ++outside;
    }
    CHECK(empty == 0);
    CHECK(outside == 0);
  }
}

TEST_CASE("corpus: README.md has one line per trace, with its object size and read count", "[corpus]") {
  std::vector<std::string> duplicates;
  const auto rows = ReadmeRows(duplicates);
  CHECK(duplicates.empty());
  std::vector<std::string> names;
  for (const auto& path : CorpusTraces()) names.push_back(path.filename().string());
  REQUIRE(!names.empty());
  for (const auto& name : names) {
    INFO(name);
    const auto it = rows.find(name);
    CHECK(it != rows.end());
    if (it == rows.end()) continue;
    auto trace = ReadTrace((kCorpusDir / name).string());
    REQUIRE(trace.ok());
    std::uint64_t object_bytes = 0;
    for (const auto& o : trace->objects) object_bytes += o.size;
    INFO("README.md line " << it->second.line);
    CHECK(LeadingInteger(it->second.object_size) == static_cast<std::int64_t>(object_bytes));
    CHECK(LeadingInteger(it->second.reads) == static_cast<std::int64_t>(trace->records.size()));
  }
  for (const auto& [name, row] : rows) {
    INFO("README.md line " << row.line << " describes " << name);
    CHECK(std::find(names.begin(), names.end(), name) != names.end());
  }
}

}  // namespace
}  // namespace pflab::traces
