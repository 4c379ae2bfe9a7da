// Which objects a live run reads: a trace's objects mapped onto existing ones (`--object
// ID=gs://BUCKET/NAME`, sizes checked), or synthetic objects created for the run in a writable bucket
// (`--create-objects gs://BUCKET[/PREFIX]`) and deleted after it unless kept.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/result.h"
#include "engine/transport.h"
#include "net/gcs_objects.h"
#include "traces/trace.h"

namespace pflab::replay {

/// `gs://BUCKET/NAME` (or, for a prefix, `gs://BUCKET` and `gs://BUCKET/PREFIX`).
struct GcsUrl {
  std::string bucket;
  std::string name;  // an object's name, or a prefix

  std::string ToString() const { return "gs://" + bucket + (name.empty() ? "" : "/" + name); }
  /// Parses it; `name_required` for an object's URL.
  static Result<GcsUrl> Parse(const std::string& text, bool name_required);
};

/// One `--object KEY=gs://BUCKET/NAME`: the trace object whose id (e.g. o0) or name is KEY is read from
/// that existing object.
struct ObjectMapping {
  std::string key;
  GcsUrl target;

  static Result<ObjectMapping> Parse(const std::string& text);
};

/// What a live run reads instead of the traces' objects as named.
struct LiveObjectsOptions {
  std::vector<ObjectMapping> mappings;
  /// Where to create the objects no mapping names: the object's name is PREFIX + the trace object's
  /// name; none: they are read as named (bucket `pflab`, generation 1, as `pflab serve --synthetic`).
  std::optional<GcsUrl> create;
  /// The command reads objects only as named (`fidelity`): its errors do not suggest the options above.
  bool named_only = false;
};

/// One trace object's place in a live run.
struct LiveObject {
  std::string trace_object;  // "o0 (name)" of the first trace naming it
  ObjectRef ref;             // where it is read: bucket, name, generation, size
  bool created = false;      // created for the run (synthetic content), so deleted after it
};

/// The objects of a live run, keyed as LiveOptions::objects is ("bucket/name" of TraceObjectRef).
class LiveObjects {
 public:
  /// Objects read as named whose metadata Prepare checks, the first by bucket and name (a trace of
  /// thousands of objects would otherwise wait on as many requests before its first run).
  static constexpr std::size_t kMaxNamedChecks = 32;

  /// Looks up every mapped object (it must exist and be at least as large as every trace object mapped
  /// onto it) and creates the others when options.create says where, with the content the simulator and
  /// --verify-bytes expect of the trace object; without options.create the others are read as named,
  /// and the first kMaxNamedChecks of them must exist at the endpoint at generation 1 and be large
  /// enough. When a step fails, what it created is deleted again. `note` hears one line per mapped or
  /// created object.
  static Result<LiveObjects> Prepare(const std::vector<const traces::Trace*>& traces, const LiveObjectsOptions& options,
                                     GcsObjectClient& client, const std::function<void(const std::string&)>& note);

  const std::map<std::string, LiveObject>& objects() const { return objects_; }
  /// The map LiveOptions::objects takes.
  std::map<std::string, ObjectRef> Refs() const;
  /// Whether any object is an existing one (whose bytes are not the synthetic content).
  bool any_mapped() const;
  /// Deletes the objects created for the run (each at its generation); the first failure is returned
  /// after trying them all. Created objects are forgotten, so a second call deletes nothing.
  Status DeleteCreated(GcsObjectClient& client, const std::function<void(const std::string&)>& note);

 private:
  std::map<std::string, LiveObject> objects_;
};

}  // namespace pflab::replay
