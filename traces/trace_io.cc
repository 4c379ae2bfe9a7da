#include "traces/trace_io.h"

#include <simdjson.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <istream>
#include <limits>
#include <memory>
#include <ostream>
#include <streambuf>
#include <unordered_map>
#include <unordered_set>

#include "traces/binary_trace.h"
#include "traces/limits.h"
#include "traces/text_input.h"

namespace pflab::traces {
namespace {

class LineError {
 public:
  LineError(const std::string& file, std::uint64_t line) : prefix_(file + ":" + std::to_string(line) + ": ") {}
  explicit LineError(std::string prefix) : prefix_(std::move(prefix)) {}
  Error operator()(const std::string& what) const { return InvalidArgument(prefix_ + what); }

 private:
  std::string prefix_;
};

// Reads a required or optional non-negative integer field.
Result<std::uint64_t> Unsigned(const nlohmann::json& j, const char* field, const LineError& error, bool required,
                               std::uint64_t fallback = 0) {
  auto it = j.find(field);
  if (it == j.end()) {
    if (required) return error(std::string("missing field \"") + field + "\"");
    return fallback;
  }
  if (it->is_number_unsigned()) return it->get<std::uint64_t>();
  if (it->is_number_integer()) return error(std::string("\"") + field + "\" is negative: " + it->dump());
  return error(std::string("\"") + field + "\" must be a non-negative integer, got " + it->dump());
}

Result<Trace> ParseHeader(const nlohmann::json& h, const LineError& error) {
  if (!h.is_object()) return error("the header must be a JSON object");
  if (!h.contains("format")) return error("the first line must be the header with \"format\":\"pflab-trace\"");
  if (h["format"] != kTraceFormat) return error("unknown format " + h["format"].dump() + " (expected \"pflab-trace\")");
  if (!h.contains("version") || !h["version"].is_number_integer())
    return error("header is missing an integer \"version\"");
  if (h["version"] != kTraceVersion) {
    return error("unsupported trace version " + h["version"].dump() + " (this pflab reads version 1)");
  }
  if (!h.contains("objects") || !h["objects"].is_array() || h["objects"].empty()) {
    return error("header needs a non-empty \"objects\" array");
  }
  if (auto s = CheckObjectCount(h["objects"].size()); !s) return error(s.error().message);
  Trace trace;
  std::unordered_map<std::string, std::size_t> seen;
  for (std::size_t i = 0; i < h["objects"].size(); ++i) {
    const auto& o = h["objects"][i];
    const std::string where = "objects[" + std::to_string(i) + "]";
    if (!o.is_object()) return error(where + " must be an object");
    if (!o.contains("id") || !o["id"].is_string()) return error(where + " needs a string \"id\"");
    TraceObject object;
    object.id = o["id"].get<std::string>();
    if (!seen.emplace(object.id, i).second) return error("duplicate object id \"" + object.id + "\"");
    object.name = o.contains("name") && o["name"].is_string() ? o["name"].get<std::string>() : object.id;
    object.bucket = o.contains("bucket") && o["bucket"].is_string() ? o["bucket"].get<std::string>() : "pflab";
    auto size = Unsigned(o, "size", error, true);
    if (!size) return InvalidArgument(size.error().message + " in " + where);
    if (auto s = CheckObjectSize(*size); !s) return error(where + ": " + s.error().message);
    object.size = *size;
    trace.objects.push_back(std::move(object));
  }
  if (h.contains("source")) trace.source = h["source"];
  return trace;
}

// A hint line: the stream, object and time are read as for a read; "hint" lists [offset, length] pairs.
Result<TraceHint> ParseHint(const nlohmann::json& j, const TraceRecord& common, const Trace& trace,
                            std::size_t ranges_before, const LineError& error) {
  if (j.contains("offset") || j.contains("length")) {
    return error("a line is either a read (\"offset\", \"length\") or a hint (\"hint\"), not both");
  }
  const nlohmann::json& list = j["hint"];
  if (!list.is_array()) return error("\"hint\" must be an array of [offset, length] pairs, got " + list.dump());
  TraceHint hint;
  hint.t_ns = common.t_ns;
  hint.stream = common.stream;
  hint.object = common.object;
  if (auto s = CheckHintRangeCount(ranges_before + list.size()); !s) return error(s.error().message);
  const TraceObject& object = trace.objects[common.object];
  for (std::size_t i = 0; i < list.size(); ++i) {
    const auto& pair = list[i];
    if (!pair.is_array() || pair.size() != 2 || !pair[0].is_number_unsigned() || !pair[1].is_number_unsigned()) {
      return error("\"hint\"[" + std::to_string(i) + "] must be [offset, length] with non-negative integers, got " +
                   pair.dump());
    }
    const auto offset = pair[0].get<std::uint64_t>();
    const auto length = pair[1].get<std::uint64_t>();
    if (offset > object.size || length > object.size - offset) {
      return error("\"hint\"[" + std::to_string(i) + "] beyond EOF: offset+length=" + std::to_string(offset) + "+" +
                   std::to_string(length) + " > size " + std::to_string(object.size) + " of object \"" + object.id +
                   "\"");
    }
    hint.ranges.push_back({offset, offset + length});
  }
  return hint;
}

// The fast path for read lines, which are nearly all of a trace, in two steps: a scanner for the exact
// form pflab writes ({"t":N,"stream":N[,"object":"ID"],"offset":N,"length":N[,"asked":N][,"dur":N]},
// no spaces, no escapes), then simdjson for any other flat object of the read fields. A line either
// takes, whose values are of the right type and within their limits, is taken here. Anything else (a
// hint, an unknown or repeated field, a wrong type, a value beyond a limit, malformed JSON) returns
// false and goes through the full reader below, which gives the same answer for the lines taken here
// and the error messages for the rest.
class FastReadLine {
 public:
  FastReadLine(const Trace& trace, const std::unordered_map<std::string, std::uint32_t>& ids)
      : trace_(trace), ids_(ids) {}

  // `line` lies in a buffer with SIMDJSON_PADDING readable bytes after it.
  bool Parse(std::string_view line, Nanos last_t, TraceRecord* out) {
    Fields f;
    if (!Scan(line, &f) && !Simdjson(line, &f)) return false;
    return Finish(f, last_t, out);
  }

 private:
  enum : unsigned { kT = 1, kStream = 2, kObject = 4, kOffset = 8, kLength = 16, kDur = 32, kAsked = 64 };
  struct Fields {
    unsigned seen = 0;
    std::uint64_t t = 0, stream = 0, offset = 0, length = 0, dur = 0, asked = 0;
    std::uint32_t object = 0;
  };

  // A JSON integer without sign, leading zeros or exponent, below 10^19 (so it fits 64 bits).
  static bool Number(const char*& p, const char* end, std::uint64_t* v) {
    const char* start = p;
    std::uint64_t x = 0;
    while (p < end && *p >= '0' && *p <= '9' && p - start < 19) x = x * 10 + static_cast<unsigned>(*p++ - '0');
    const auto digits = p - start;
    if (digits == 0 || (digits > 1 && *start == '0') || (p < end && *p >= '0' && *p <= '9')) return false;
    *v = x;
    return true;
  }
  static bool Literal(const char*& p, const char* end, std::string_view text) {
    if (static_cast<std::size_t>(end - p) < text.size() || std::memcmp(p, text.data(), text.size()) != 0) return false;
    p += text.size();
    return true;
  }

  // The form pflab writes; false for anything else (simdjson has a go at it then).
  bool Scan(std::string_view line, Fields* f) {
    const char* p = line.data();
    const char* end = p + line.size();
    if (!Literal(p, end, "{\"t\":") || !Number(p, end, &f->t)) return false;
    if (!Literal(p, end, ",\"stream\":") || !Number(p, end, &f->stream)) return false;
    f->seen = kT | kStream | kOffset | kLength;
    if (Literal(p, end, ",\"object\":\"")) {
      const char* id = p;
      while (p < end && *p != '"' && *p != '\\' && static_cast<unsigned char>(*p) >= 0x20) ++p;
      if (p == end || *p != '"') return false;
      id_.assign(id, static_cast<std::size_t>(p - id));
      ++p;
      auto it = ids_.find(id_);
      if (it == ids_.end()) return false;
      f->object = it->second;
      f->seen |= kObject;
    }
    if (!Literal(p, end, ",\"offset\":") || !Number(p, end, &f->offset)) return false;
    if (!Literal(p, end, ",\"length\":") || !Number(p, end, &f->length)) return false;
    if (Literal(p, end, ",\"asked\":")) {
      if (!Number(p, end, &f->asked)) return false;
      f->seen |= kAsked;
    }
    if (Literal(p, end, ",\"dur\":")) {
      if (!Number(p, end, &f->dur)) return false;
      f->seen |= kDur;
    }
    return Literal(p, end, "}") && p == end;
  }

  bool Simdjson(std::string_view line, Fields* f) {
    simdjson::dom::element root;
    if (parser_.parse(line.data(), line.size(), /*realloc_if_needed=*/false).get(root)) return false;
    simdjson::dom::object object;
    if (root.get_object().get(object)) return false;
    *f = Fields{};
    for (auto field : object) {
      unsigned bit = 0;
      std::uint64_t* value = nullptr;
      const std::string_view key = field.key;
      if (key == "t") {
        bit = kT, value = &f->t;
      } else if (key == "stream") {
        bit = kStream, value = &f->stream;
      } else if (key == "offset") {
        bit = kOffset, value = &f->offset;
      } else if (key == "length") {
        bit = kLength, value = &f->length;
      } else if (key == "dur") {
        bit = kDur, value = &f->dur;
      } else if (key == "asked") {
        bit = kAsked, value = &f->asked;
      } else if (key == "object") {
        bit = kObject;
      } else {
        return false;
      }
      if (f->seen & bit) return false;
      f->seen |= bit;
      if (value) {
        if (field.value.type() != simdjson::dom::element_type::UINT64 &&
            field.value.type() != simdjson::dom::element_type::INT64) {
          return false;
        }
        if (field.value.get_uint64().get(*value)) return false;  // negative
        continue;
      }
      std::string_view id;
      if (field.value.get_string().get(id)) return false;
      id_.assign(id);
      auto it = ids_.find(id_);
      if (it == ids_.end()) return false;
      f->object = it->second;
    }
    return true;
  }

  // The full reader's checks, in short: false when any would fail.
  bool Finish(const Fields& f, Nanos last_t, TraceRecord* out) const {
    if ((f.seen & (kT | kOffset | kLength)) != (kT | kOffset | kLength)) return false;
    if (!(f.seen & kObject) && trace_.objects.size() != 1) return false;
    if (trace_.records.size() + trace_.hints.size() + 1 > kMaxRecords) return false;
    if (f.t > static_cast<std::uint64_t>(kMaxTraceNanos) || static_cast<Nanos>(f.t) < last_t) return false;
    if (f.stream >= kMaxStreams) return false;
    const std::uint64_t size = trace_.objects[f.object].size;
    if (f.offset > size || f.length > size - f.offset) return false;
    if ((f.seen & kAsked) && f.asked != f.length &&
        (f.asked < f.length || f.offset + f.length != size || f.asked - f.length > kMaxObjectSize)) {
      return false;
    }
    if ((f.seen & kDur) && f.dur > static_cast<std::uint64_t>(kMaxTraceNanos)) return false;
    out->t_ns = static_cast<Nanos>(f.t);
    out->stream = static_cast<std::uint32_t>(f.stream);
    out->object = f.object;
    out->offset = f.offset;
    out->length = f.length;
    out->duration_ns = (f.seen & kDur) ? static_cast<Nanos>(f.dur) : -1;
    out->past_eof = (f.seen & kAsked) ? f.asked - f.length : 0;
    return true;
  }

  const Trace& trace_;
  const std::unordered_map<std::string, std::uint32_t>& ids_;
  simdjson::dom::parser parser_;
  std::string id_;
};

}  // namespace

Result<Trace> ParseTraceHeader(const nlohmann::json& header, const std::string& where) {
  return ParseHeader(header, LineError(where));
}

nlohmann::json TraceHeaderJson(const Trace& trace) {
  nlohmann::json header = {{"format", kTraceFormat}, {"version", kTraceVersion}, {"objects", nlohmann::json::array()}};
  for (const auto& o : trace.objects) {
    header["objects"].push_back({{"id", o.id}, {"bucket", o.bucket}, {"name", o.name}, {"size", o.size}});
  }
  header["source"] = trace.source;
  return header;
}

namespace {

// A stream buffer that yields `prefix`, then the rest of `rest`: the bytes read to tell the format by
// its magic go back in front of the input, whichever parser takes it.
class PrefixedBuffer : public std::streambuf {
 public:
  PrefixedBuffer(std::string prefix, std::streambuf* rest) : prefix_(std::move(prefix)), rest_(rest) {
    setg(prefix_.data(), prefix_.data(), prefix_.data() + prefix_.size());
  }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    const std::streamsize n = rest_->sgetn(buffer_, sizeof buffer_);
    if (n <= 0) return traits_type::eof();
    setg(buffer_, buffer_, buffer_ + n);
    return traits_type::to_int_type(*gptr());
  }
  std::streamsize xsgetn(char* out, std::streamsize n) override {
    std::streamsize done = std::min<std::streamsize>(n, egptr() - gptr());
    std::copy(gptr(), gptr() + done, out);
    gbump(static_cast<int>(done));
    if (done < n) done += rest_->sgetn(out + done, n - done);  // large reads go straight through
    return done;
  }

 private:
  std::string prefix_;
  std::streambuf* rest_;
  char buffer_[1 << 16];
};

Result<Trace> ParseJsonl(std::istream& in, const std::string& name);

}  // namespace

Result<Trace> ParseTrace(std::istream& in, const std::string& name) {
  // The format is told by content: a binary trace begins with its 8-byte magic, a JSONL one with text
  // (a file that begins like the magic but is not, a PNG image say, goes to the JSONL reader whole).
  if (in.peek() != static_cast<unsigned char>(kBinaryTraceMagic[0])) return ParseJsonl(in, name);
  std::string magic(sizeof kBinaryTraceMagic, '\0');
  in.read(magic.data(), static_cast<std::streamsize>(magic.size()));
  magic.resize(static_cast<std::size_t>(in.gcount()));
  const bool binary = LooksLikeBinaryTrace(magic);
  auto buffer = std::make_unique<PrefixedBuffer>(std::move(magic), in.rdbuf());
  std::istream rest(buffer.get());
  return binary ? ParseBinaryTrace(rest, name) : ParseJsonl(rest, name);
}

namespace {

Result<Trace> ParseJsonl(std::istream& in, const std::string& name) {
  std::string line;
  bool have_header = false;
  Trace trace;
  std::unordered_map<std::string, std::uint32_t> ids;
  Nanos last_t = 0;
  std::vector<std::uint64_t> hint_lines;  // line of each hint, for the check after the last line
  std::size_t hint_ranges = 0;
  LineReader reader(in, name, kMaxHeaderBytes);
  FastReadLine fast(trace, ids);
  std::string padded;  // a line with room for simdjson's padding after it
  while (true) {
    auto more = reader.Next(&line);
    if (!more) return more.error();
    if (!*more) break;
    const std::uint64_t line_no = reader.line_number();
    std::size_t first = line.find_first_not_of(" \t");
    if (first == std::string::npos || line[first] == '#') continue;
    if (have_header) {
      padded.reserve(line.size() + simdjson::SIMDJSON_PADDING);
      padded.assign(line);
      TraceRecord r;
      if (fast.Parse(padded, last_t, &r)) {
        last_t = r.t_ns;
        trace.records.push_back(r);
        continue;
      }
    }
    const LineError error(name, line_no);
    if (JsonNestedDeeperThan(line, kMaxJsonDepth)) {
      return error("JSON nested deeper than " + std::to_string(kMaxJsonDepth) + " levels, the limit for a trace line");
    }
    nlohmann::json j = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded()) return error("malformed JSON: " + Excerpt(line));
    if (!have_header) {
      auto header = ParseHeader(j, error);
      if (!header) return header.error();
      trace = std::move(*header);
      for (std::uint32_t i = 0; i < trace.objects.size(); ++i) ids[trace.objects[i].id] = i;
      have_header = true;
      reader.set_max_line_bytes(kMaxLineBytes);
      continue;
    }
    if (auto s = CheckRecordCount(trace.records.size() + trace.hints.size() + 1); !s) {
      return error(s.error().message);
    }
    if (!j.is_object()) return error("a read record must be a JSON object");
    if (j.contains("format")) return error("a second header; the header must be the first line only");
    TraceRecord r;
    auto t = Unsigned(j, "t", error, true);
    if (!t) return t.error();
    if (auto s = CheckTraceNanos("t", *t); !s) return error(s.error().message);
    r.t_ns = static_cast<Nanos>(*t);
    if (r.t_ns < last_t) {
      return error("\"t\" goes backwards (" + std::to_string(r.t_ns) + " after " + std::to_string(last_t) +
                   "); records must be in issue order");
    }
    last_t = r.t_ns;
    auto stream = Unsigned(j, "stream", error, false, 0);
    if (!stream) return stream.error();
    if (auto s = CheckStreamId(*stream); !s) return error(s.error().message);
    r.stream = static_cast<std::uint32_t>(*stream);
    if (auto it = j.find("object"); it != j.end()) {
      if (!it->is_string()) return error("\"object\" must be a string id from the header");
      auto id = ids.find(it->get<std::string>());
      if (id == ids.end()) return error("unknown object id " + it->dump());
      r.object = id->second;
    } else if (trace.objects.size() != 1) {
      return error("missing field \"object\" (the header lists several objects)");
    }
    if (j.contains("hint")) {
      auto hint = ParseHint(j, r, trace, hint_ranges, error);
      if (!hint) return hint.error();
      hint_ranges += hint->ranges.size();
      hint->before = trace.records.size();
      trace.hints.push_back(std::move(*hint));
      hint_lines.push_back(line_no);
      continue;
    }
    auto offset = Unsigned(j, "offset", error, true);
    if (!offset) return offset.error();
    auto length = Unsigned(j, "length", error, true);
    if (!length) return length.error();
    r.offset = *offset;
    r.length = *length;
    const TraceObject& object = trace.objects[r.object];
    if (r.offset > object.size || r.length > object.size - r.offset) {
      return error("read beyond EOF: offset+length=" + std::to_string(r.offset) + "+" + std::to_string(r.length) +
                   " > size " + std::to_string(object.size) + " of object \"" + object.id + "\"");
    }
    if (j.contains("asked")) {
      auto asked = Unsigned(j, "asked", error, true);
      if (!asked) return asked.error();
      if (auto s = CheckAsked(r.offset, r.length, *asked, object); !s) return error(s.error().message);
      r.past_eof = *asked - r.length;
    }
    if (j.contains("dur")) {
      auto dur = Unsigned(j, "dur", error, true);
      if (!dur) return dur.error();
      if (auto s = CheckTraceNanos("dur", *dur); !s) return error(s.error().message);
      r.duration_ns = static_cast<Nanos>(*dur);
    }
    trace.records.push_back(r);
  }
  if (in.bad()) return InvalidArgument(name + ":" + std::to_string(reader.line_number()) + ": read error");
  if (!have_header) return InvalidArgument(name + ":1: empty trace (no header line)");
  // Replay runs a stream from its reads; a stream with nothing but hints would never run.
  std::unordered_set<std::uint32_t> streams;
  if (!trace.hints.empty()) {
    for (const auto& r : trace.records) streams.insert(r.stream);
  }
  for (std::size_t i = 0; i < trace.hints.size(); ++i) {
    if (!streams.count(trace.hints[i].stream)) {
      return LineError(
          name, hint_lines[i])("hint for stream " + std::to_string(trace.hints[i].stream) + ", which has no reads");
    }
  }
  return trace;
}

}  // namespace

Result<Trace> ReadTrace(const std::string& path) {
  auto in = OpenTextInput(path, "trace file");
  if (!in) return in.error();
  auto trace = ParseTrace(*in, path);
  if (!trace) return trace;
  trace->name = std::filesystem::path(path).stem().string();
  return trace;
}

void WriteTrace(std::ostream& out, const Trace& trace) {
  out << TraceHeaderJson(trace).dump() << "\n";
  const bool single = trace.objects.size() == 1;
  auto begin_line = [&](Nanos t, std::uint32_t stream, std::uint32_t object) {
    out << "{\"t\":" << t << ",\"stream\":" << stream;
    if (!single) out << ",\"object\":" << nlohmann::json(trace.objects[object].id).dump();
  };
  std::size_t next_hint = 0;
  auto hints_before = [&](std::size_t record) {
    for (; next_hint < trace.hints.size() && trace.hints[next_hint].before <= record; ++next_hint) {
      const TraceHint& h = trace.hints[next_hint];
      begin_line(h.t_ns, h.stream, h.object);
      out << ",\"hint\":[";
      for (std::size_t i = 0; i < h.ranges.size(); ++i) {
        out << (i ? ",[" : "[") << h.ranges[i].begin << "," << h.ranges[i].size() << "]";
      }
      out << "]}\n";
    }
  };
  for (std::size_t i = 0; i < trace.records.size(); ++i) {
    hints_before(i);
    const TraceRecord& r = trace.records[i];
    begin_line(r.t_ns, r.stream, r.object);
    out << ",\"offset\":" << r.offset << ",\"length\":" << r.length;
    if (r.past_eof) out << ",\"asked\":" << r.asked();
    if (r.duration_ns >= 0) out << ",\"dur\":" << r.duration_ns;
    out << "}\n";
  }
  hints_before(trace.records.size());
}

Status WriteTrace(const std::string& path, const Trace& trace) {
  std::ofstream out(path, std::ios::binary);
  if (!out) return InvalidArgument(path + ": cannot write the trace file");
  WriteTrace(out, trace);
  out.close();
  if (!out) return InvalidArgument(path + ": writing the trace file failed");
  return OkStatus();
}

}  // namespace pflab::traces
