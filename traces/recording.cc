#include "traces/recording.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <unordered_map>

#include "traces/limits.h"
#include "traces/recorder/raw_format.h"

namespace pflab::traces {
namespace {

namespace fs = std::filesystem;
namespace rec = pflab::recorder;

// One raw file, parsed: its own opens, its reads (with open ids still unresolved) and its parent link.
struct RawImage {
  std::string name;
  std::uint32_t pid = 0;
  std::string parent;                // raw file of the image this one was forked from, if any
  std::uint32_t first_own_open = 0;  // ids below this (in a forked image) are the parent's
  struct Open {
    std::string path;
    std::uint64_t size = 0;  // st_size at open
  };
  std::unordered_map<std::uint32_t, Open> opens;
  std::vector<rec::RawRead> reads;
  std::vector<std::uint32_t> mmaps;
};

template <typename T>
T Load(const std::string& bytes, std::size_t pos) {
  T value;
  std::memcpy(&value, bytes.data() + pos, sizeof(T));
  return value;
}

Result<RawImage> ParseImage(const fs::path& path, std::vector<std::string>* warnings) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  const std::string bytes = ss.str();
  RawImage image;
  image.name = path.filename().string();
  const std::string where = path.string() + ": ";
  std::size_t pos = 0;
  while (pos < bytes.size()) {
    if (bytes.size() - pos < sizeof(rec::RawHeader)) {
      warnings->push_back(where + "ends inside a record at byte " + std::to_string(pos) + " (process killed?)");
      break;
    }
    const auto header = Load<rec::RawHeader>(bytes, pos);
    if (pos == 0 && static_cast<rec::RawKind>(header.kind) != rec::RawKind::kFile) {
      return InvalidArgument(where + "not a pflab raw recording (no file record first)");
    }
    if (header.size < sizeof(rec::RawHeader) || header.size % 8 != 0) {
      return InvalidArgument(where + "bad record size " + std::to_string(header.size) + " at byte " +
                             std::to_string(pos));
    }
    if (bytes.size() - pos < header.size) {
      warnings->push_back(where + "ends inside a record at byte " + std::to_string(pos) + " (process killed?)");
      break;
    }
    const auto kind = static_cast<rec::RawKind>(header.kind);
    auto need = [&](std::size_t n) -> Status {
      if (header.size < n) return InvalidArgument(where + "record too short at byte " + std::to_string(pos));
      return OkStatus();
    };
    switch (kind) {
      case rec::RawKind::kFile: {
        if (auto s = need(sizeof(rec::RawFile)); !s) return s.error();
        const auto file = Load<rec::RawFile>(bytes, pos);
        if (file.magic != rec::kRawMagic) return InvalidArgument(where + "not a pflab raw recording (bad magic)");
        if (file.version != rec::kRawVersion) {
          return InvalidArgument(where + "raw format version " + std::to_string(file.version) + " (this pflab reads " +
                                 std::to_string(rec::kRawVersion) + ")");
        }
        image.pid = file.pid;
        break;
      }
      case rec::RawKind::kOpen: {
        if (auto s = need(sizeof(rec::RawOpen)); !s) return s.error();
        const auto open = Load<rec::RawOpen>(bytes, pos);
        if (auto s = need(sizeof(rec::RawOpen) + open.path_bytes); !s) return s.error();
        image.opens[open.open_id] = {bytes.substr(pos + sizeof(rec::RawOpen), open.path_bytes), open.size};
        break;
      }
      case rec::RawKind::kRead: {
        if (auto s = need(sizeof(rec::RawRead)); !s) return s.error();
        image.reads.push_back(Load<rec::RawRead>(bytes, pos));
        break;
      }
      case rec::RawKind::kMmap: {
        if (auto s = need(sizeof(rec::RawMmap)); !s) return s.error();
        image.mmaps.push_back(Load<rec::RawMmap>(bytes, pos).open_id);
        break;
      }
      case rec::RawKind::kFork: {
        if (auto s = need(sizeof(rec::RawFork)); !s) return s.error();
        const auto fork = Load<rec::RawFork>(bytes, pos);
        if (auto s = need(sizeof(rec::RawFork) + fork.parent_bytes); !s) return s.error();
        image.parent = bytes.substr(pos + sizeof(rec::RawFork), fork.parent_bytes);
        image.first_own_open = fork.first_own_open;
        break;
      }
      default:
        return InvalidArgument(where + "unknown record kind " + std::to_string(header.kind) + " at byte " +
                               std::to_string(pos));
    }
    pos += header.size;
  }
  return image;
}

}  // namespace

Result<RawRecording> ReadRawRecording(const std::string& dir) {
  std::error_code ec;
  std::vector<fs::path> files;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().filename().string().rfind("raw.", 0) == 0) files.push_back(it->path());
  }
  if (ec) return NotFound(dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  RawRecording recording;
  std::unordered_map<std::string, RawImage> images;
  for (const auto& file : files) {
    auto image = ParseImage(file, &recording.warnings);
    if (!image) return image.error();
    images.emplace(image->name, std::move(*image));
  }
  recording.images = static_cast<std::uint32_t>(images.size());
  // Resolves an open id seen in `name`, following fork links to the image that opened it.
  auto resolve = [&](const std::string& name, std::uint32_t id) -> const std::string* {
    const RawImage* image = &images.at(name);
    for (int depth = 0; depth < 1000; ++depth) {
      if (image->parent.empty() || id >= image->first_own_open) {
        auto it = image->opens.find(id);
        if (it == image->opens.end()) return nullptr;
        auto& known = recording.sizes[it->second.path];
        known = std::max(known, it->second.size);
        return &it->second.path;
      }
      auto parent = images.find(image->parent);
      if (parent == images.end()) return nullptr;
      image = &parent->second;
    }
    return nullptr;
  };
  std::set<std::string> mmapped;
  for (const auto& [name, image] : images) {
    for (const auto& r : image.reads) {
      const std::string* path = resolve(name, r.open_id);
      if (path == nullptr) {
        return InvalidArgument(dir + "/" + name + ": a read refers to open id " + std::to_string(r.open_id) +
                               ", which no raw file defines");
      }
      RawReadEvent e;
      e.path = *path;
      e.pid = image.pid;
      e.tid = r.tid;
      e.op = rec::RawOpName(r.op);
      e.t_issue_ns = r.t_issue_ns;
      e.t_done_ns = r.t_done_ns;
      e.offset = r.offset;
      e.length = r.length;
      e.asked = r.asked;
      e.error = r.result_errno;
      recording.reads.push_back(std::move(e));
    }
    for (std::uint32_t id : image.mmaps) {
      if (const std::string* path = resolve(name, id)) mmapped.insert(*path);
    }
  }
  recording.mmapped.assign(mmapped.begin(), mmapped.end());
  return recording;
}

Result<Trace> RecordingToTrace(const RawRecording& recording, nlohmann::json source) {
  std::vector<const RawReadEvent*> reads;
  std::uint64_t eof_reads = 0, failed_reads = 0;
  std::map<std::string, std::uint64_t> ops;
  for (const auto& r : recording.reads) {
    if (r.error != 0) {
      ++failed_reads;
    } else if (r.length == 0) {
      ++eof_reads;
    } else {
      reads.push_back(&r);
      ++ops[r.op];
    }
  }
  if (reads.empty()) {
    return NotFound("no reads of matching files were recorded (" + std::to_string(eof_reads) + " at EOF, " +
                    std::to_string(failed_reads) + " failed)");
  }
  std::stable_sort(reads.begin(), reads.end(), [](const RawReadEvent* a, const RawReadEvent* b) {
    if (a->t_issue_ns != b->t_issue_ns) return a->t_issue_ns < b->t_issue_ns;
    if (a->pid != b->pid) return a->pid < b->pid;
    return a->tid < b->tid;
  });
  Trace trace;
  std::map<std::string, std::uint32_t> objects;
  std::map<std::pair<std::uint32_t, std::uint32_t>, std::uint32_t> streams;
  std::vector<std::string> paths;
  const std::int64_t t0 = reads.front()->t_issue_ns;
  for (const RawReadEvent* r : reads) {
    auto [object, new_object] = objects.try_emplace(r->path, static_cast<std::uint32_t>(paths.size()));
    if (new_object) paths.push_back(r->path);
    auto [stream, new_stream] = streams.try_emplace({r->pid, r->tid}, static_cast<std::uint32_t>(streams.size()));
    (void)new_stream;
    TraceRecord record;
    record.t_ns = r->t_issue_ns - t0;
    record.stream = stream->second;
    record.object = object->second;
    record.offset = r->offset;
    record.length = r->length;
    record.duration_ns = std::max<std::int64_t>(r->t_done_ns - r->t_issue_ns, 0);
    // Kept only if the read turns out to end at the object's end (below).
    record.past_eof = r->asked > r->length ? std::min(r->asked - r->length, kMaxObjectSize) : 0;
    trace.records.push_back(record);
  }
  // Names relative to the deepest common directory of every recorded file.
  fs::path root = fs::path(paths.front()).parent_path();
  for (const auto& p : paths) {
    while (!root.empty() && root != root.root_path()) {
      auto rel = fs::path(p).lexically_relative(root);
      if (!rel.empty() && *rel.begin() != "..") break;
      root = root.parent_path();
    }
  }
  nlohmann::json files = nlohmann::json::object();
  for (std::uint32_t i = 0; i < paths.size(); ++i) {
    TraceObject object;
    object.id = "o" + std::to_string(i);
    object.bucket = "pflab";
    object.name = fs::path(paths[i]).lexically_relative(root).generic_string();
    if (object.name.empty() || object.name == ".") object.name = fs::path(paths[i]).filename().string();
    auto size = recording.sizes.find(paths[i]);
    object.size = size != recording.sizes.end() ? size->second : 0;
    files[object.id] = paths[i];
    trace.objects.push_back(std::move(object));
  }
  for (const auto& r : trace.records) {
    auto& size = trace.objects[r.object].size;
    size = std::max(size, r.offset + r.length);
  }
  std::uint64_t short_reads = 0;
  for (auto& r : trace.records) {
    if (r.past_eof != 0 && r.offset + r.length != trace.objects[r.object].size) {
      r.past_eof = 0;
      ++short_reads;
    }
  }
  if (!source.is_object()) source = nlohmann::json::object();
  source["recorder"] = "pflab record";
  source["paths"] = files;
  source["root"] = root.string();
  source["processes"] = recording.images;
  source["streams"] = streams.size();
  source["ops"] = ops;
  source["eof_reads_dropped"] = eof_reads;
  source["failed_reads_dropped"] = failed_reads;
  if (short_reads != 0) source["short_reads"] = short_reads;
  if (!recording.mmapped.empty()) {
    source["mmap_unrecorded"] = recording.mmapped;
    source["note"] = "files listed in mmap_unrecorded were mmap'd; reads through the mapping are not recorded";
  }
  trace.source = std::move(source);
  // What the recorder saw must also be a trace the reader accepts (traces/limits.h).
  if (auto s = ValidateTraceLimits(trace); !s) return InvalidArgument("the recording: " + s.error().message);
  return trace;
}

}  // namespace pflab::traces
