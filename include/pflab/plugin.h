// The stable interface between pflab and policies built outside it: C++ plugins, and pflab's own
// Python bridge, which is one of them.
//
// A plugin is a shared library that defines
//
//   PFLAB_PLUGIN(registrar) { registrar->AddPolicy(info, &factory); }
//
// and is loaded with `pflab compare|sweep|policies --plugin lib.so`. Its policies are then used like
// built-in ones: the same spec syntax, parameters checked against their declared kind and bounds, the
// same `pflab policies` listing, events, metrics and reports. examples/plugin/ is a complete plugin.
//
// How a layer works. pflab creates one Layer per (reader, object), as it builds a stack, and calls it
// on one thread: Read() for each application read (one outstanding at a time), OnFetched() when a
// request the layer made of the layer below completes, OnTimer() when a timer it set falls due. The
// layer answers through its Host: Fetch() asks the layer below for bytes, SetTimer() schedules a call
// at a point in time (virtual in the simulator), Complete() or Fail() finishes a read. No call on the
// Host runs a Layer method inside it: completions always come later, as separate calls. A layer never
// blocks, never sleeps and never reads a clock other than Host::Now(), so it runs unchanged in virtual
// time (the simulator) and in real time (the fake server, HTTP).
//
// Bytes are held by pflab and handed to the layer as Data handles: zero-copy views that can be cut
// (Sub), shared and copied out. A read is completed with Data whose range is exactly the read's range:
// what was fetched, a part of it, several parts joined, or bytes the layer copied in (DataCopyIn).
// While the layer holds a handle, the bytes count as memory held; delivered bytes count as useful, so
// the run's "fetched", "wasted" and "peak memory" numbers are as exact as for built-in policies.
//
// Stability. The interface uses fixed-width integers, plain structs, C strings and abstract classes
// only, and the version below is checked when a plugin is loaded: a plugin built against another
// kApiVersion is refused with a message naming both. New functions are only ever added at the end of a
// class, with a new version.
#pragma once

#include <cstddef>
#include <cstdint>
#include <utility>

namespace pflab::plugin {

/// The version of this interface. pflab loads plugins built with exactly this version.
inline constexpr std::uint32_t kApiVersion = 1;

/// A half-open byte range [begin, end) of the object.
struct Range {
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  std::uint64_t size() const { return end > begin ? end - begin : 0; }
};

/// Kinds of failure, as pflab's errors have them.
enum class Code : std::uint32_t {
  kInvalidArgument = 1,
  kNotFound = 2,
  kOutOfRange = 3,
  kUnavailable = 4,
  kCancelled = 5,
  kDeadlineExceeded = 6,
  kDataLoss = 7,
  kFailedPrecondition = 8,
  kPermissionDenied = 9,
  kInternal = 10,
};

/// A failure: of a fetch (given to the layer) or of a read (given by the layer). `message` is valid
/// during the call that passes it.
struct Failure {
  Code code = Code::kInternal;
  const char* message = "";
  bool retryable = false;
};

using ReadId = std::uint64_t;   ///< a read asked of the layer; never 0
using FetchId = std::uint64_t;  ///< a request the layer made of the layer below; never 0
using TimerId = std::uint64_t;  ///< a timer the layer set; never 0
using DataId = std::uint64_t;   ///< bytes pflab holds for the layer; 0 is no data

class Data;

/// What pflab gives a layer. Valid from the layer's creation until its destruction; call it only from
/// inside a Layer method (or its constructor or destructor).
class Host {
 public:
  /// The time in nanoseconds: virtual in the simulator, real otherwise.
  virtual std::int64_t Now() = 0;
  /// The object's size in bytes.
  virtual std::uint64_t ObjectSize() = 0;
  /// A seed for the layer's own randomness: the same in every run with the same seed.
  virtual std::uint64_t Seed() = 0;
  /// The spec name of this layer (e.g. "my-readahead"), for messages.
  virtual const char* LayerName() = 0;

  /// Asks the layer below for `range` (clamped to the object), in at most `max_parts` concurrent parts
  /// (0: as the fetcher below is set up). Layer::OnFetched follows, exactly once, later.
  virtual FetchId Fetch(Range range, std::uint32_t max_parts) = 0;
  /// Cancels a fetch: OnFetched follows with kCancelled unless it has already completed.
  virtual void CancelFetch(FetchId id) = 0;
  /// Calls Layer::OnTimer at `at_ns` (or as soon as possible if that has passed), later.
  virtual TimerId SetTimer(std::int64_t at_ns) = 0;
  /// Cancels a timer; false if it already fired or was cancelled.
  virtual bool CancelTimer(TimerId id) = 0;

  /// Completes read `read` with `data` (taken over), whose range must be the read's range.
  virtual void Complete(ReadId read, DataId data) = 0;
  /// Fails read `read`.
  virtual void Fail(ReadId read, const Failure& failure) = 0;
  /// Changes how long a read may stay unfinished (in the time of Now()) before pflab fails it with
  /// kDeadlineExceeded and stops the layer; the default is 600 s.
  virtual void SetReadDeadline(std::int64_t ns) = 0;

  // Data handles; use the Data class rather than these.
  virtual DataId DataCopyIn(std::uint64_t object_offset, const void* bytes, std::uint64_t length) = 0;
  virtual DataId DataJoin(const DataId* parts, std::size_t count) = 0;
  virtual DataId DataSub(DataId id, std::uint64_t skip, std::uint64_t length) = 0;
  virtual DataId DataShare(DataId id) = 0;
  virtual Range DataRange(DataId id) = 0;
  virtual void DataCopyOut(DataId id, std::uint64_t skip, std::uint64_t length, void* out) = 0;
  virtual void DataRelease(DataId id) = 0;

 protected:
  ~Host() = default;
};

/// Bytes of the object held by pflab: a move-only handle; copies are made with Share() or Sub().
class Data {
 public:
  Data() = default;
  Data(Host* host, DataId id) : host_(host), id_(id) {}
  Data(Data&& other) noexcept : host_(other.host_), id_(std::exchange(other.id_, 0)) {}
  Data& operator=(Data&& other) noexcept {
    if (this != &other) {
      Reset();
      host_ = other.host_;
      id_ = std::exchange(other.id_, 0);
    }
    return *this;
  }
  Data(const Data&) = delete;
  Data& operator=(const Data&) = delete;
  ~Data() { Reset(); }

  /// Bytes `bytes[0, length)` that stand for bytes [object_offset, object_offset + length) of the object.
  static Data CopyIn(Host* host, std::uint64_t object_offset, const void* bytes, std::uint64_t length) {
    return Data(host, host->DataCopyIn(object_offset, bytes, length));
  }
  /// Adjacent pieces in order, as one; empty Data if they do not follow each other.
  static Data Join(Host* host, const Data* parts, std::size_t count);

  explicit operator bool() const { return id_ != 0; }
  /// Which bytes of the object these are.
  Range range() const { return id_ ? host_->DataRange(id_) : Range{}; }
  std::uint64_t size() const { return range().size(); }
  /// Bytes [skip, skip + length) of these (no copy).
  Data Sub(std::uint64_t skip, std::uint64_t length) const { return Data(host_, host_->DataSub(id_, skip, length)); }
  /// Another handle to the same bytes.
  Data Share() const { return Data(host_, host_->DataShare(id_)); }
  /// Copies bytes [skip, skip + length) into `out`. In the simulator, which moves no bytes unless asked
  /// to, these are the object's synthetic content.
  void CopyTo(std::uint64_t skip, std::uint64_t length, void* out) const { host_->DataCopyOut(id_, skip, length, out); }
  DataId id() const { return id_; }
  /// Gives up the handle (for Host::Complete).
  DataId Release() { return std::exchange(id_, 0); }
  void Reset() {
    if (id_) host_->DataRelease(std::exchange(id_, 0));
  }

 private:
  Host* host_ = nullptr;
  DataId id_ = 0;
};

inline Data Data::Join(Host* host, const Data* parts, std::size_t count) {
  DataId ids[16];
  if (count > 16) {
    // Joined in groups, so no allocation crosses the interface.
    Data first = Join(host, parts, 16);
    Data rest = Join(host, parts + 16, count - 16);
    if (!first || !rest) return Data();
    DataId two[2] = {first.id(), rest.id()};
    return Data(host, host->DataJoin(two, 2));
  }
  for (std::size_t i = 0; i < count; ++i) ids[i] = parts[i].id();
  return Data(host, host->DataJoin(ids, count));
}

/// One instance of a policy over one object: a layer of a stack.
class Layer {
 public:
  virtual ~Layer() = default;
  /// The application (or the layer above) reads `range`: non-empty, inside the object. One read is
  /// outstanding at a time. Finish it with Host::Complete or Host::Fail, now or later.
  virtual void Read(ReadId id, Range range) = 0;
  /// The reader gives up on read `id`. pflab fails it with kCancelled when this returns, if the layer
  /// has not finished it; the layer should drop what it keeps for it.
  virtual void Cancel(ReadId id) = 0;
  /// Fetch `id` completed: with `data` (empty when the range was empty), or with `failure` (then
  /// non-null, and `data` empty).
  virtual void OnFetched(FetchId id, Data data, const Failure* failure) = 0;
  /// Timer `id` fell due.
  virtual void OnTimer(TimerId id) = 0;
  /// The application announces ranges it will read later. Return false to pass them to the layer below.
  virtual bool Hint(const Range* ranges, std::size_t count) {
    (void)ranges, (void)count;
    return false;
  }
};

/// How a parameter's value is written in a spec, as for built-in policies.
enum class ParamKind : std::uint32_t {
  kSize = 1,    ///< a byte count such as 5MiB
  kUint = 2,    ///< a non-negative integer
  kBool = 3,    ///< true/false (or 1/0)
  kChoice = 4,  ///< one of `choices`
  kText = 5,    ///< anything; the policy reads it with Params::Text
};

/// One parameter of a policy.
struct Param {
  const char* name = "";
  ParamKind kind = ParamKind::kUint;
  const char* description = "";
  const char* default_value = "";        ///< as a spec writes it; must be valid
  std::uint64_t min = 0;                 ///< kSize, kUint
  std::uint64_t max = UINT64_MAX;        ///< kSize, kUint
  const char* const* choices = nullptr;  ///< kChoice
  std::size_t choice_count = 0;          ///< kChoice
};

/// Where a layer may sit in a stack.
enum class Placement : std::uint32_t {
  kAnywhere = 1,   ///< over any layer: one Fetch outstanding at a time
  kOnFetcher = 2,  ///< directly on the fetcher: it keeps several fetches in flight
};

/// What `pflab policies` shows and the registry checks. Strings are copied when registered.
struct PolicyInfo {
  const char* name = "";
  const char* origin = "";
  const char* description = "";
  Placement placement = Placement::kAnywhere;
  const Param* params = nullptr;
  std::size_t param_count = 0;
  /// Accept any key=value instead of `params` (values given as text, see Params::Count).
  bool any_params = false;
  /// The parts of the fetcher appended below when a spec names none; 0 keeps fsspec's plain fetcher
  /// (one request per fetch). A layer that passes max_parts to Fetch sets this to its largest.
  std::uint32_t fetcher_parts = 0;
  /// Runs holding this layer go one at a time in a process (the layer shares process-wide state).
  bool one_run_at_a_time = false;
};

/// A layer's parameter values: every declared parameter (the spec's value or its default), or, with
/// PolicyInfo::any_params, exactly what the spec gave.
class Params {
 public:
  /// A kSize or kUint parameter.
  virtual std::uint64_t Number(const char* name) const = 0;
  /// A kBool parameter.
  virtual bool Flag(const char* name) const = 0;
  /// Any parameter as text (kChoice and kText values, or the others as a spec writes them); "" if none.
  virtual const char* Text(const char* name) const = 0;
  /// The values by position, in the order of the keys: for any_params policies.
  virtual std::size_t Count() const = 0;
  virtual const char* Key(std::size_t i) const = 0;
  virtual const char* Value(std::size_t i) const = 0;
  /// Value `i` read as a size or integer (5MiB, 4096), if it is one.
  virtual bool ValueAsNumber(std::size_t i, std::uint64_t* out) const = 0;
  /// Value `i` read as a duration (250ms, 30s, 2min), in nanoseconds, if it is one.
  virtual bool ValueAsDuration(std::size_t i, std::int64_t* out) const = 0;

 protected:
  ~Params() = default;
};

/// Makes layers of one policy.
class Factory {
 public:
  /// Rules across parameters, checked before any layer is built: null when the values are fine, else
  /// why not (valid until the next call).
  virtual const char* Check(const Params& params) {
    (void)params;
    return nullptr;
  }
  /// A new layer; pflab deletes it. `host` stays valid until then.
  virtual Layer* Create(Host* host, const Params& params) = 0;

 protected:
  ~Factory() = default;
};

/// Policies whose names share a prefix (like pflab's `py:`), described when a spec first names one.
class Family {
 public:
  /// Fills `info` (its strings valid until the next call) and `factory` (valid for the process) for the
  /// member called `name`, prefix included; returns null, or why there is no such member.
  virtual const char* Resolve(const char* name, PolicyInfo* info, Factory** factory) = 0;

 protected:
  ~Family() = default;
};

/// What a plugin registers with, from its PFLAB_PLUGIN function.
class Registrar {
 public:
  virtual std::uint32_t HostApiVersion() = 0;
  /// Registers a policy; `factory` must live as long as the process.
  virtual void AddPolicy(const PolicyInfo& info, Factory* factory) = 0;
  /// Registers a family of policies named `prefix`...; `family` must live as long as the process.
  virtual void AddFamily(const char* prefix, const char* syntax, const char* description, Family* family) = 0;

 protected:
  ~Registrar() = default;
};

}  // namespace pflab::plugin

/// Defines a plugin's entry points: `PFLAB_PLUGIN(r) { r->AddPolicy(...); }`.
#define PFLAB_PLUGIN(registrar)                                                                \
  extern "C" __attribute__((visibility("default"))) std::uint32_t pflab_plugin_api_version() { \
    return ::pflab::plugin::kApiVersion;                                                       \
  }                                                                                            \
  extern "C" __attribute__((visibility("default"))) void pflab_plugin_register(::pflab::plugin::Registrar* registrar)
