#include "reports/provenance.h"

#include "pflab_version.h"

namespace pflab::reports {

nlohmann::json RunProvenance(const std::vector<TraceSource>& traces) {
  nlohmann::json out = {{"pflab_version", PFLAB_VERSION},
                        {"commit", PFLAB_GIT_COMMIT},
                        {"dirty", PFLAB_GIT_DIRTY != 0},
                        {"from_git", PFLAB_FROM_GIT != 0}};
  out["traces"] = nlohmann::json::array();
  for (const TraceSource& t : traces) out["traces"].push_back({{"name", t.name}, {"file", t.file}, {"md5", t.md5}});
  return out;
}

}  // namespace pflab::reports
