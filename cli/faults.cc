#include "cli/faults.h"

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "policies/registry.h"
#include "replay/fault_suite.h"

namespace {

int Fail(const std::string& message) {
  std::cerr << "pflab faults: " << message << "\n";
  return 1;
}

std::vector<std::string> SplitCommas(const std::string& text) {
  std::vector<std::string> out;
  std::stringstream in(text);
  for (std::string item; std::getline(in, item, ',');) {
    if (!item.empty()) out.push_back(item);
  }
  return out;
}

}  // namespace

CLI::App* AddFaultsCommand(CLI::App& app, FaultsArgs& args) {
  auto* cmd = app.add_subcommand(
      "faults",
      "inject each fault into an in-process fake GCS server (or the simulator) and read generated traces through "
      "every policy");
  cmd->add_option("--faults", args.faults,
                  "comma-separated fault instructions (default: the suite's, see docs/faults.md)");
  cmd->add_option("--policies", args.policies, "comma-separated policy stacks (default: all registered policies)");
  cmd->add_option("--patterns", args.patterns, "generated traces to read (gen patterns)")->capture_default_str();
  cmd->add_option("--probability", args.probability, "chance that a media request gets the fault")
      ->capture_default_str();
  cmd->add_option("--count", args.count, "reads per trace")->capture_default_str();
  cmd->add_option("--seed", args.seed, "seed for traces, fault draws and jitter")->capture_default_str();
  cmd->add_option("--transport", args.transport, "fake (the fake GCS server injects the faults) or sim")
      ->capture_default_str();
  cmd->add_option("--md", args.md, "also write the tables to this Markdown file");
  cmd->add_flag("-q,--quiet", args.quiet, "no progress on stderr");
  return cmd;
}

int RunFaults(const FaultsArgs& args) {
  pflab::replay::FaultSuiteOptions options;
  if (!args.faults.empty()) options.faults = SplitCommas(args.faults);
  if (!args.policies.empty() && args.policies != "all") {
    auto specs = pflab::policies::ParsePolicyList(args.policies);
    if (!specs) return Fail("--policies: " + specs.error().message);
    options.policies.clear();
    for (const auto& spec : *specs) options.policies.push_back(spec.text);
  }
  options.patterns = SplitCommas(args.patterns);
  if (options.patterns.empty()) return Fail("--patterns: none given");
  if (args.count == 0) return Fail("--count: must be at least 1");
  options.probability = args.probability;
  options.count = args.count;
  options.seed = args.seed;
  auto transport = pflab::replay::ParseTransportKind(args.transport);
  if (!transport || *transport == pflab::replay::TransportKind::kHttp) {
    return Fail("--transport: '" + args.transport + "' is not fake or sim");
  }
  options.transport = *transport;
  const auto start = std::chrono::steady_clock::now();
  auto rows = pflab::replay::RunFaultSuite(options, [&](const std::string& line) {
    if (!args.quiet) std::fprintf(stderr, "%s\n", line.c_str());
  });
  if (!rows) return Fail(rows.error().message);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const std::string table = pflab::replay::RenderFaultTable(*rows);
  std::cout << table;
  if (!args.md.empty()) {
    std::ofstream out(args.md, std::ios::binary);
    out << table;
    out.close();
    if (!out) return Fail(args.md + ": cannot write");
  }
  std::uint64_t wrong = 0;
  std::size_t hangs = 0, runs = 0;
  for (const auto& row : *rows) {
    wrong += row.bytes_wrong;
    hangs += row.hangs;
    runs += row.runs;
  }
  std::fprintf(stderr, "pflab faults: %zu runs in %.1fs; %llu wrong bytes, %zu hangs\n", runs, wall,
               static_cast<unsigned long long>(wrong), hangs);
  if (wrong > 0 || hangs > 0) {
    for (const auto& row : *rows) {
      if (row.bytes_wrong > 0 || row.hangs > 0) {
        std::fprintf(stderr, "pflab faults: %s x %s: %s\n", row.fault.c_str(), row.policy.c_str(),
                     row.first_failure.c_str());
      }
    }
    return 2;
  }
  return 0;
}
