#include "replay/fault_suite.h"

#include <cstdio>
#include <optional>
#include <sstream>

#include "engine/units.h"
#include "fake_gcs/faults.h"
#include "replay/matrix.h"
#include "sim/network_model.h"
#include "traces/generators.h"

namespace pflab::replay {

const std::vector<std::string>& DefaultSuiteFaults() {
  static const std::vector<std::string> kFaults = {
      // Retryable: each is retried (with backoff) and the read resumes where the bytes stopped.
      "return-503", "return-500", "return-429", "return-408", "return-reset-connection", "return-broken-stream",
      "return-broken-stream-after-64K", "stall-for-2s-after-64K",
      // A 200 carrying a short JSON error instead of the range: refused whole, retried, never data.
      "return-200",
      // Not retryable: the read fails at once, with the status as its reason.
      "return-404", "return-401"};
  return kFaults;
}

std::vector<std::string> SuitePolicies(std::uint64_t object_size) {
  std::vector<std::string> out;
  for (const auto& p : policies::RegisteredPolicies()) {
    out.push_back(p.name == "fsspec-parts" ? "fsspec-parts(parts=0-" + std::to_string(object_size) + ")" : p.name);
  }
  return out;
}

Result<std::vector<FaultSuiteRow>> RunFaultSuite(const FaultSuiteOptions& options,
                                                 const std::function<void(const std::string&)>& progress) {
  if (options.faults.empty()) return InvalidArgument("no faults to inject");
  if (!(options.probability > 0 && options.probability <= 1)) {
    return InvalidArgument("the fault probability must be in (0, 1]");
  }
  for (const auto& fault : options.faults) {
    if (auto parsed = fake_gcs::ParseInstruction(fault); !parsed) return parsed.error();
  }
  if (options.transport == TransportKind::kHttp) {
    return InvalidArgument("the fault suite runs over the fake server or the simulator, not live GCS");
  }
  for (const auto& fault : options.script) {
    if (auto parsed = fake_gcs::ParseInstruction(fault); !parsed) return parsed.error();
  }
  auto profile = sim::FindProfile(options.profile);
  if (!profile) return profile.error();
  std::vector<traces::Trace> traces;
  for (const auto& pattern : options.patterns) {
    traces::GeneratorParams params;
    params.object_size = options.object_size;
    params.read_size = options.read_size;
    params.count = options.count;
    params.seed = options.seed;
    auto trace = traces::Generate(pattern, params);
    if (!trace) return trace.error();
    traces.push_back(std::move(*trace));
  }
  std::vector<policies::StackSpec> specs;
  for (const auto& text : options.policies.empty() ? SuitePolicies(options.object_size) : options.policies) {
    auto spec = policies::ParseStackSpec(text);
    if (spec) {
      if (auto status = policies::ValidateStack(*spec); !status) spec = status.error();
    }
    if (!spec) return InvalidArgument("policy '" + text + "': " + spec.error().message);
    specs.push_back(std::move(*spec));
  }

  std::vector<FaultSuiteRow> rows;
  for (const auto& fault : options.faults) {
    RunPlan plan;
    for (const auto& trace : traces) plan.traces.push_back(&trace);
    plan.policies = specs;
    plan.profile_name = options.profile;
    plan.profile = *profile;
    plan.seeds = {options.seed};
    plan.verify_bytes = true;
    plan.transport = options.transport;
    plan.live.http.connections = options.connections;
    plan.live.http.read_timeout = options.read_timeout;
    plan.live.run_limit = options.run_limit;
    plan.faults.script = options.script;
    plan.faults.profile = {
        {"seed", options.seed},
        {"faults",
         {{{"instruction", fault}, {"probability", options.probability}, {"methods", {"storage.objects.get"}}}}}};
    const std::size_t first_row = rows.size();
    for (const auto& spec : specs) {
      FaultSuiteRow row;
      row.fault = fault;
      row.policy = spec.text;
      rows.push_back(std::move(row));
    }
    std::optional<Error> failure;
    RunHooks hooks;
    hooks.on_finish = [&](const RunCell& cell, Result<RunResult>&& result) {
      if (!result) {
        failure = Error{result.error().code, fault + ": " + plan.traces[cell.trace]->name + " x " +
                                                 plan.policies[cell.policy].text + ": " + result.error().message};
        return false;
      }
      FaultSuiteRow& row = rows[first_row + cell.policy];
      const Metrics& m = result->metrics;
      ++row.runs;
      row.reads += m.reads;
      row.retries += m.retries;
      row.requests_failed += m.requests_failed;
      row.reads_failed += m.reads_failed;
      row.bytes_wrong += m.bytes_wrong;
      for (const auto& [reason, n] : result->errors.by_reason) {
        if (reason == "hang") {
          ++row.hangs;
        } else if (reason != "wrong bytes") {
          row.failed_reasons[reason] += n;
        }
      }
      for (const RunError& e : result->errors.first) {
        row.failed_reads.push_back("[" + std::to_string(e.begin) + ", " + std::to_string(e.end) + "): " + e.Reason() +
                                   ", " + std::to_string(e.attempts) + " attempt(s)");
      }
      if (row.first_failure.empty() && !result->errors.empty()) {
        row.first_failure = result->errors.first.front().Summary();
      }
      if (progress) {
        char line[256];
        std::snprintf(line, sizeof line, "%s: %s x %s: %llu retries, %llu reads failed, %llu wrong bytes%s",
                      fault.c_str(), result->trace.c_str(), result->policy.c_str(),
                      static_cast<unsigned long long>(m.retries), static_cast<unsigned long long>(m.reads_failed),
                      static_cast<unsigned long long>(m.bytes_wrong),
                      result->errors.by_reason.count("hang") ? ", HUNG" : "");
        progress(line);
      }
      return true;
    };
    if (auto status = RunMatrix(plan, hooks); !status) return status.error();
    if (failure) return *failure;
  }
  return rows;
}

namespace {

std::string Reasons(const FaultSuiteRow& row) {
  if (row.reads_failed == 0) return "0";
  std::string out = std::to_string(row.reads_failed) + " (";
  bool first = true;
  for (const auto& [reason, n] : row.failed_reasons) {
    out += (first ? "" : ", ") + reason + ": " + std::to_string(n);
    first = false;
  }
  return out + ")";
}

}  // namespace

std::string RenderFaultTable(const std::vector<FaultSuiteRow>& rows) {
  std::ostringstream out;
  out << "| fault | policy | runs | reads | retries | failed reads (reason: count) | wrong bytes | hangs |\n"
      << "| --- | --- | ---: | ---: | ---: | --- | ---: | ---: |\n";
  for (const auto& r : rows) {
    out << "| `" << r.fault << "` | `" << r.policy << "` | " << r.runs << " | " << r.reads << " | " << r.retries
        << " | " << Reasons(r) << " | " << r.bytes_wrong << " | " << r.hangs << " |\n";
  }
  // Per fault, over every policy and trace.
  out << "\n| fault | runs | reads | retries | failed reads (reason: count) | wrong bytes | hangs |\n"
      << "| --- | ---: | ---: | ---: | --- | ---: | ---: |\n";
  for (std::size_t i = 0; i < rows.size();) {
    FaultSuiteRow sum;
    sum.fault = rows[i].fault;
    for (; i < rows.size() && rows[i].fault == sum.fault; ++i) {
      sum.runs += rows[i].runs;
      sum.reads += rows[i].reads;
      sum.retries += rows[i].retries;
      sum.reads_failed += rows[i].reads_failed;
      sum.bytes_wrong += rows[i].bytes_wrong;
      sum.hangs += rows[i].hangs;
      for (const auto& [reason, n] : rows[i].failed_reasons) sum.failed_reasons[reason] += n;
    }
    out << "| `" << sum.fault << "` | " << sum.runs << " | " << sum.reads << " | " << sum.retries << " | "
        << Reasons(sum) << " | " << sum.bytes_wrong << " | " << sum.hangs << " |\n";
  }
  return out.str();
}

}  // namespace pflab::replay
