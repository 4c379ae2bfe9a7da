// Where a result came from: pflab's version and commit (from git at build time, "unknown" otherwise),
// and a content hash of each trace, so a results file says exactly what produced it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace pflab::reports {

/// One trace a run read: its name, its file, and the hex MD5 of the file's bytes as they were parsed
/// (replay::LoadTrace, the key sweeps use for traces).
struct TraceSource {
  std::string name;
  std::string file;
  std::string md5;
};

/// {"pflab_version", "commit", "dirty", "from_git"} of this binary and "traces": [{"name", "file", "md5"}].
nlohmann::json RunProvenance(const std::vector<TraceSource>& traces);

}  // namespace pflab::reports
