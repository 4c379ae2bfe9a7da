#include "reports/provenance.h"

#include <fstream>
#include <vector>

#include "net/checksums.h"
#include "pflab_version.h"

namespace pflab::reports {

nlohmann::json BuildProvenance() {
  return {{"pflab_version", PFLAB_VERSION},
          {"commit", PFLAB_GIT_COMMIT},
          {"dirty", PFLAB_GIT_DIRTY != 0},
          {"from_git", PFLAB_FROM_GIT != 0}};
}

Result<std::string> FileMd5(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFound(path + ": cannot read");
  // In pieces: a trace may be larger than memory (docs/traces.md, traces at scale).
  Md5 md5;
  std::vector<char> piece(1 << 20);
  while (in) {
    in.read(piece.data(), static_cast<std::streamsize>(piece.size()));
    md5.Update(piece.data(), static_cast<std::size_t>(in.gcount()));
  }
  if (in.bad()) return Internal(path + ": read error");
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex;
  for (std::uint8_t b : md5.Final()) {
    hex += kDigits[b >> 4];
    hex += kDigits[b & 15];
  }
  return hex;
}

Result<nlohmann::json> RunProvenance(const std::vector<std::string>& names, const std::vector<std::string>& files) {
  nlohmann::json out = BuildProvenance();
  out["traces"] = nlohmann::json::array();
  for (std::size_t i = 0; i < names.size() && i < files.size(); ++i) {
    auto md5 = FileMd5(files[i]);
    if (!md5) return md5.error();
    out["traces"].push_back({{"name", names[i]}, {"file", files[i]}, {"md5", *md5}});
  }
  return out;
}

}  // namespace pflab::reports
