#include "replay/live_objects.h"

#include <algorithm>
#include <set>

#include "engine/synthetic_content.h"
#include "engine/units.h"
#include "replay/simulation.h"

namespace pflab::replay {
namespace {

std::string Describe(const traces::TraceObject& object) {
  return object.id + " (" + object.name + ")";
}

}  // namespace

Result<GcsUrl> GcsUrl::Parse(const std::string& text, bool name_required) {
  const std::string expected = name_required ? "gs://BUCKET/NAME" : "gs://BUCKET[/PREFIX]";
  if (text.rfind("gs://", 0) != 0) return InvalidArgument("'" + text + "' is not " + expected);
  const std::string rest = text.substr(5);
  const auto slash = rest.find('/');
  GcsUrl url;
  url.bucket = rest.substr(0, slash);
  if (slash != std::string::npos) url.name = rest.substr(slash + 1);
  if (url.bucket.empty()) return InvalidArgument("'" + text + "' has no bucket: expected " + expected);
  for (unsigned char c : url.bucket) {
    if (!std::islower(c) && !std::isdigit(c) && c != '-' && c != '_' && c != '.') {
      return InvalidArgument("'" + text + "': '" + url.bucket +
                             "' is not a bucket name (lower-case letters, digits, -, _ and .)");
    }
  }
  if (name_required && url.name.empty())
    return InvalidArgument("'" + text + "' has no object name: expected " + expected);
  return url;
}

Result<ObjectMapping> ObjectMapping::Parse(const std::string& text) {
  // Split at "=gs://", so an id or name holding '=' still maps (and a target name may hold one too).
  auto eq = text.find("=gs://");
  if (eq == std::string::npos) eq = text.find('=');
  if (eq == std::string::npos || eq == 0) {
    return InvalidArgument("'" + text + "': expected ID=gs://BUCKET/NAME (ID: a trace object's id, e.g. o0, or name)");
  }
  auto target = GcsUrl::Parse(text.substr(eq + 1), /*name_required=*/true);
  if (!target) return InvalidArgument(text.substr(0, eq) + ": " + target.error().message);
  return ObjectMapping{text.substr(0, eq), *target};
}

Result<LiveObjects> LiveObjects::Prepare(const std::vector<const traces::Trace*>& traces,
                                         const LiveObjectsOptions& options, GcsObjectClient& client,
                                         const std::function<void(const std::string&)>& note) {
  // Every trace object, by the key the transport sees, with the largest size any trace gives it.
  struct Wanted {
    const traces::TraceObject* first = nullptr;
    std::uint64_t size = 0;
    const ObjectMapping* mapping = nullptr;
  };
  std::map<std::string, Wanted> wanted;
  std::set<std::string> used_keys;
  for (const traces::Trace* trace : traces) {
    for (const auto& object : trace->objects) {
      const ObjectRef ref = TraceObjectRef(object);
      Wanted& w = wanted[ref.bucket + "/" + ref.name];
      if (w.first == nullptr) w.first = &object;
      w.size = std::max(w.size, object.size);
      for (const auto& mapping : options.mappings) {
        if (mapping.key != object.id && mapping.key != object.name) continue;
        if (w.mapping != nullptr && w.mapping->target.ToString() != mapping.target.ToString()) {
          return InvalidArgument("--object: trace object " + Describe(object) + " is mapped twice (" +
                                 w.mapping->target.ToString() + " and " + mapping.target.ToString() + ")");
        }
        w.mapping = &mapping;
        used_keys.insert(mapping.key);
      }
    }
  }
  for (const auto& mapping : options.mappings) {
    if (used_keys.count(mapping.key) == 0) {
      std::string known;
      for (const auto& [key, w] : wanted) known += (known.empty() ? "" : ", ") + Describe(*w.first);
      return InvalidArgument("--object " + mapping.key + "=" + mapping.target.ToString() +
                             ": no trace object has that id or name (the traces have " + known + ")");
    }
  }

  LiveObjects live;
  auto fail = [&](Error error) -> Result<LiveObjects> {
    if (auto status = live.DeleteCreated(client, note); !status) {
      error.message += "; cleaning up also failed: " + status.error().message;
    }
    return error;
  };
  std::size_t named_checked = 0;
  for (const auto& [key, w] : wanted) {
    if (w.mapping != nullptr) {
      const GcsUrl& target = w.mapping->target;
      auto object = client.Get(target.bucket, target.name);
      if (!object)
        return fail(Error{object.error().code, "--object " + w.mapping->key + ": " + object.error().message});
      if (object->size < w.size) {
        return fail(InvalidArgument("--object " + w.mapping->key + "=" + target.ToString() + ": the object has " +
                                    std::to_string(object->size) + " bytes (" + FormatSize(object->size) +
                                    "), fewer than the " + std::to_string(w.size) + " of trace object " +
                                    Describe(*w.first) + ": a run may read up to its end"));
      }
      live.objects_[key] = LiveObject{Describe(*w.first),
                                      ObjectRef{target.bucket, target.name, object->generation, object->size}, false};
      note("object " + Describe(*w.first) + " -> " + target.ToString() + " (generation " +
           std::to_string(object->generation) + ", " + FormatSize(object->size) +
           (object->size > w.size ? "; the trace reads its first " + FormatSize(w.size) : "") + ")");
      continue;
    }
    const ObjectRef ref = TraceObjectRef(*w.first);
    if (!options.create) {
      // Read as named. One metadata request now turns an endpoint that cannot be reached, a missing
      // object or one the reads cannot get (they ask for generation 1) into one clear error before the
      // runs, where each read would otherwise fail after all its retries. Traces of many objects get
      // the first kMaxNamedChecks checked, so the check stays a handful of requests.
      if (++named_checked > kMaxNamedChecks) continue;
      const std::string as_named = "trace object " + Describe(*w.first) + " is read as named, gs://" + ref.bucket +
                                   "/" + ref.name + " at generation " + std::to_string(ref.generation);
      std::string hint =
          " (`pflab serve --synthetic " + ref.bucket + "/" + ref.name + "=" + std::to_string(w.size) + "` serves it";
      hint += options.named_only ? ")"
                                 : "; or map it onto an existing object with --object " + w.first->id +
                                       "=gs://BUCKET/NAME, or create it with --create-objects gs://BUCKET)";
      auto object = client.Get(ref.bucket, ref.name);
      if (!object) return fail(Error{object.error().code, as_named + ": " + object.error().message + hint});
      if (object->generation != ref.generation) {
        return fail(InvalidArgument(as_named + ", but the endpoint's object is generation " +
                                    std::to_string(object->generation) + hint));
      }
      if (object->size < w.size) {
        return fail(InvalidArgument(as_named + ", but the endpoint's object has " + std::to_string(object->size) +
                                    " bytes, fewer than the trace's " + std::to_string(w.size) + hint));
      }
      continue;
    }
    const std::string name = options.create->name + w.first->name;
    const std::uint64_t seed = ObjectSeed(ref.bucket, ref.name, ref.generation);
    auto created = client.CreateSynthetic(options.create->bucket, name, w.size, seed);
    if (!created) return fail(Error{created.error().code, "--create-objects: " + created.error().message});
    live.objects_[key] = LiveObject{Describe(*w.first),
                                    ObjectRef{options.create->bucket, name, created->generation, created->size}, true};
    note("object " + Describe(*w.first) + " -> created gs://" + options.create->bucket + "/" + name + " (generation " +
         std::to_string(created->generation) + ", " + FormatSize(created->size) + " of synthetic content)");
  }
  return live;
}

std::map<std::string, ObjectRef> LiveObjects::Refs() const {
  std::map<std::string, ObjectRef> refs;
  for (const auto& [key, object] : objects_) refs.emplace(key, object.ref);
  return refs;
}

bool LiveObjects::any_mapped() const {
  return std::any_of(objects_.begin(), objects_.end(), [](const auto& entry) { return !entry.second.created; });
}

Status LiveObjects::DeleteCreated(GcsObjectClient& client, const std::function<void(const std::string&)>& note) {
  std::optional<Error> first;
  for (auto it = objects_.begin(); it != objects_.end();) {
    if (!it->second.created) {
      ++it;
      continue;
    }
    const ObjectRef& ref = it->second.ref;
    if (auto status = client.Delete(ref.bucket, ref.name, ref.generation); !status) {
      if (!first) first = status.error();
    } else {
      note("deleted gs://" + ref.bucket + "/" + ref.name + " (created for the run)");
    }
    it = objects_.erase(it);
  }
  if (first) return *first;
  return OkStatus();
}

}  // namespace pflab::replay
