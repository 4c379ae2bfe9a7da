// Fuzzes the two results readers: the results document (reports/results.h ReadResultsDocument) and the
// sweep's JSON Lines results file (replay/sweep.h LoadResultsFile).
// - A document that reads must write back (ResultsToJson) to one that reads to the same document, and
//   render as Markdown and console tables.
// - A results file that loads holds lines with distinct run keys; a cut last line is reported with the
//   length of the good part, and that part alone loads to the same lines with nothing cut.
#include <unistd.h>

#include <cstdio>
#include <fstream>

#include "fuzz/fuzz_check.h"
#include "replay/sweep.h"
#include "reports/results.h"

namespace {

using namespace pflab;

void CheckDocument(const std::string& text) {
  const nlohmann::json doc = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) return;
  auto read = reports::ReadResultsDocument(doc, "in.json");
  if (!read) {
    FUZZ_REQUIRE(fuzz::NamesInput(read.error().message, "in.json"), read.error().message);
    return;
  }
  const nlohmann::json written = reports::ResultsToJson(read->runs, read->config, read->details);
  auto again = reports::ReadResultsDocument(written, "written.json");
  FUZZ_REQUIRE(again.ok(), "a written document does not read back: " + again.error().message);
  const nlohmann::json rewritten = reports::ResultsToJson(again->runs, again->config, again->details);
  FUZZ_REQUIRE(rewritten == written, "written twice differently:\n" + written.dump() + "\n" + rewritten.dump());
  (void)reports::RenderMarkdown(read->runs, "fuzz");
  (void)reports::RenderConsole(read->runs);
}

// The file each input is written to, one per process, removed when the fuzzer exits.
struct Scratch {
  std::string path = "/tmp/pflab_fuzz_results_" + std::to_string(::getpid()) + ".jsonl";
  ~Scratch() { std::remove(path.c_str()); }
};

const std::string& ScratchFile() {
  static const Scratch scratch;
  return scratch.path;
}

Result<replay::ResultsFileState> Load(std::string_view text) {
  {
    std::ofstream out(ScratchFile(), std::ios::binary | std::ios::trunc);
    out.write(text.data(), static_cast<std::streamsize>(text.size()));
  }
  return replay::LoadResultsFile(ScratchFile());
}

void CheckResultsFile(const std::string& text) {
  auto state = Load(text);
  if (!state) {
    FUZZ_REQUIRE(fuzz::NamesInput(state.error().message, ScratchFile()), state.error().message);
    return;
  }
  FUZZ_REQUIRE(state->keys.size() == state->lines.size(), "keys and lines differ in number");
  for (const auto& line : state->lines) {
    auto key = replay::RunKeyOfLine(line);
    FUZZ_REQUIRE(key.ok() && state->keys.count(*key), "a kept line has no key among the keys: " + line.dump());
  }
  FUZZ_REQUIRE(state->good_bytes <= text.size(), "good_bytes beyond the file");
  if (!state->truncated_tail) {
    FUZZ_REQUIRE(state->good_bytes == text.size(), "nothing cut, but good_bytes is not the file's length");
    return;
  }
  FUZZ_REQUIRE(!state->missing_newline, "a cut tail and a missing newline at once");
  auto good = Load(std::string_view(text).substr(0, state->good_bytes));
  FUZZ_REQUIRE(good.ok(), "the good part does not load: " + good.error().message);
  FUZZ_REQUIRE(!good->truncated_tail && good->lines == state->lines && good->duplicates == state->duplicates,
               "the good part loads differently");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(fuzz::AsText(data, size));
  CheckDocument(text);
  CheckResultsFile(text);
  return 0;
}
