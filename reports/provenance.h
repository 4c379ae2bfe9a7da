// Where a result came from: pflab's version and commit (from git at build time, "unknown" otherwise),
// and a content hash of each trace, so a results file says exactly what produced it.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/result.h"

namespace pflab::reports {

/// {"pflab_version", "commit", "dirty", "from_git"} of this binary.
nlohmann::json BuildProvenance();

/// Hex MD5 of a file's bytes (the key sweeps already use for traces); errors name the file.
Result<std::string> FileMd5(const std::string& path);

/// BuildProvenance() plus "traces": [{"name", "file", "md5"}] for the given trace names and files.
Result<nlohmann::json> RunProvenance(const std::vector<std::string>& names, const std::vector<std::string>& files);

}  // namespace pflab::reports
