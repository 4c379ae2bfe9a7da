// deploy/k8s: the Indexed Job manifest has what an Indexed Job of sweep shards needs, and its command,
// run here once per completion index with the manifest's paths pointed at a temporary folder, gives
// shard files that `sweep merge` (as the manifest's header says) joins into the whole sweep. The image
// recipe cannot be built here (no container runtime), so its steps are checked against the
// repository's: the setup script, the Release build of the CLI, the install prefix the manifest runs.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/cli_runner.h"

namespace pflab::testing {
namespace {

namespace fs = std::filesystem;
const std::string kSource = PFLAB_SOURCE_DIR;

// Every YAML document of `file` as JSON, read by Debian's python3-yaml.
nlohmann::json ReadYaml(const std::string& file, const fs::path& dir) {
  const fs::path out = dir / "manifest.json";
  const int status = Shell(
      "/usr/bin/python3 -c 'import json, sys, yaml; "
      "json.dump(list(yaml.safe_load_all(open(sys.argv[1]))), open(sys.argv[2], \"w\"))' " +
      ShellQuote(file) + " " + ShellQuote(out.string()));
  REQUIRE(status == 0);
  return nlohmann::json::parse(Slurp(out));
}

std::string Replace(std::string text, const std::string& from, const std::string& to) {
  for (auto at = text.find(from); at != std::string::npos; at = text.find(from, at + to.size())) {
    text.replace(at, from.size(), to);
  }
  return text;
}

TEST_CASE("k8s: the Indexed Job runs one shard per completion and its shards merge into the whole sweep", "[deploy]") {
  const fs::path dir = FreshTempDir("pflab_k8s_test");
  const nlohmann::json docs = ReadYaml(kSource + "/deploy/k8s/sweep-job.yaml", dir);
  REQUIRE(docs.size() == 1);
  const nlohmann::json& job = docs[0];
  CHECK(job["apiVersion"] == "batch/v1");
  CHECK(job["kind"] == "Job");
  const nlohmann::json& spec = job["spec"];
  CHECK(spec["completionMode"] == "Indexed");
  const int completions = spec["completions"].get<int>();
  REQUIRE(completions >= 1);
  CHECK(spec["parallelism"].get<int>() <= completions);
  const nlohmann::json& pod = spec["template"]["spec"];
  CHECK((pod["restartPolicy"] == "Never" || pod["restartPolicy"] == "OnFailure"));
  REQUIRE(pod["containers"].size() == 1);
  const nlohmann::json& container = pod["containers"][0];
  CHECK(container["command"] == nlohmann::json::array({"/bin/sh", "-c"}));
  REQUIRE(container["args"].size() == 1);
  const std::string command = container["args"][0];
  INFO(command);
  // The shard comes from the completion index, out of as many as the Job has completions, and each
  // writes its own file.
  CHECK_THAT(command, Catch::Contains("--shard auto/" + std::to_string(completions) + " "));
  CHECK_THAT(command, Catch::Contains("-o /results/shard-${JOB_COMPLETION_INDEX}.jsonl"));
  CHECK_THAT(command, Catch::StartsWith("/usr/local/bin/pflab sweep "));

  // Run the command of every completion, as the pods would, on two small traces.
  fs::create_directories(dir / "traces");
  fs::create_directories(dir / "results");
  for (const char* pattern : {"sequential", "backtrack"}) {
    auto gen = RunPflab(std::string("gen ") + pattern + " --object-size 16MiB --read-size 1MiB --count 12 -o " +
                            (dir / "traces" / (std::string(pattern) + ".jsonl")).string(),
                        dir);
    REQUIRE(gen.exit_code == 0);
  }
  const char* cli = std::getenv("PFLAB_CLI");
  REQUIRE(cli != nullptr);
  std::string local = Replace(command, "/usr/local/bin/pflab", cli);
  local = Replace(local, "/data/traces", (dir / "traces").string());
  local = Replace(local, "/results/", (dir / "results").string() + "/");
  for (int index = 0; index < completions; ++index) {
    const int status = Shell("cd " + ShellQuote(dir.string()) + " && JOB_COMPLETION_INDEX=" + std::to_string(index) +
                             " /bin/sh -c " + ShellQuote(local + " -q") + " >/dev/null 2>" + (dir / "err").string());
    INFO(Slurp(dir / "err"));
    REQUIRE(status == 0);
    CHECK(fs::exists(dir / "results" / ("shard-" + std::to_string(index) + ".jsonl")));
  }
  // The merge the manifest's header gives, with the same sweep options as the command.
  const std::regex options_re("pflab sweep (.*) --shard");
  std::smatch m;
  const std::string sweep_part = Replace(command, "\n", " ");
  REQUIRE(std::regex_search(sweep_part, m, options_re));
  std::string options = Replace(m[1].str(), "/data/traces", (dir / "traces").string());
  std::string shards;
  for (int index = 0; index < completions; ++index) {
    shards += " " + (dir / "results" / ("shard-" + std::to_string(index) + ".jsonl")).string();
  }
  auto merged = RunPflab("sweep merge" + shards + " -o " + (dir / "all.jsonl").string() + " " + options + " -q", dir);
  INFO(merged.err);
  REQUIRE(merged.exit_code == 0);
  auto whole = RunPflab("sweep " + options + " -q -o " + (dir / "single.jsonl").string(), dir);
  REQUIRE(whole.exit_code == 0);
  CHECK(SortedLines(dir / "all.jsonl") == SortedLines(dir / "single.jsonl"));
  fs::remove_all(dir);
}

TEST_CASE("k8s: the image recipe builds and installs pflab with the repository's own steps", "[deploy]") {
  const std::string recipe = Slurp(kSource + "/deploy/k8s/Dockerfile");
  CHECK_THAT(recipe, Catch::Contains("\nFROM debian:12\n"));  // the Debian this project builds on
  CHECK_THAT(recipe, Catch::Contains("PFLAB_SETUP_PACKAGES_ONLY=1 scripts/setup.sh"));
  CHECK_THAT(recipe, Catch::Contains("cmake --build build") && Catch::Contains("--target pflab"));
  // The manifest runs /usr/local/bin/pflab: the recipe installs there.
  CHECK_THAT(recipe, Catch::Contains("cmake --install build --prefix /usr/local"));
  // The setup script honours the switch the recipe sets.
  CHECK_THAT(Slurp(kSource + "/scripts/setup.sh"), Catch::Contains("PFLAB_SETUP_PACKAGES_ONLY"));
}

}  // namespace
}  // namespace pflab::testing
