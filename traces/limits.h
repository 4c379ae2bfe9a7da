// The limits on what a trace may hold, checked where values enter: the trace reader, the importers and
// the generators. Past these checks the engine, the simulator and the reports can add offsets and
// lengths, index streams and count reads without overflow or runaway memory. docs/traces.md lists
// each limit with its reason; the check helpers below return the message that names it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/result.h"
#include "engine/scheduler.h"
#include "traces/trace.h"

namespace pflab::traces {

/// Longest line of a trace after the header, and of any importer input (CSV, strace, gcsfs logs).
/// A read record is under 200 bytes; a hint line of 1 MiB holds about 50,000 ranges.
inline constexpr std::size_t kMaxLineBytes = std::size_t{1} << 20;
/// Longest trace header line: room for kMaxObjects objects with names of up to ~60 bytes.
inline constexpr std::size_t kMaxHeaderBytes = std::size_t{64} << 20;
/// Deepest nesting of JSON arrays and objects in one trace line (real ones need 4).
inline constexpr int kMaxJsonDepth = 64;
/// Largest object: 1 PiB (GCS objects are at most 5 TiB). Offsets and lengths lie within objects,
/// so any sum of a few of them, and any read-ahead window on top, stays far below 2^63.
inline constexpr std::uint64_t kMaxObjectSize = std::uint64_t{1} << 50;
/// Stream ids are below 2^20: replay and the metrics index per-stream state by id.
inline constexpr std::uint64_t kMaxStreams = std::uint64_t{1} << 20;
/// Most objects in one trace header.
inline constexpr std::size_t kMaxObjects = std::size_t{1} << 20;
/// Most reads plus hints in one trace: 2^28 (268,435,456), room for production request logs of a few
/// hundred million reads. A read costs 48 bytes in the trace and about 50 more in replay, so the
/// largest trace needs about 26 GiB; replay indexes reads with 32 bits.
inline constexpr std::size_t kMaxRecords = std::size_t{1} << 28;
/// Most [offset, length] ranges in all the hints of one trace.
inline constexpr std::size_t kMaxHintRanges = std::size_t{1} << 26;
/// Latest issue time ("t") and longest recorded duration ("dur"): 2^53 ns, about 104 days, so that
/// think times scaled in double precision stay exact and sums of them fit 64 bits.
inline constexpr Nanos kMaxTraceNanos = Nanos{1} << 53;

/// Each check returns an InvalidArgument whose message says what is wrong and names the limit,
/// without a location: callers prefix "FILE:LINE: " or the option.
Status CheckObjectSize(std::uint64_t size);
Status CheckStreamId(std::uint64_t stream);
Status CheckObjectCount(std::size_t objects);
/// `records` is the count including the one about to be added.
Status CheckRecordCount(std::size_t records);
Status CheckHintRangeCount(std::size_t ranges);
/// `field` names the value, e.g. "t" or "dur".
Status CheckTraceNanos(const char* field, std::uint64_t ns);

/// A read's asked length: at least what it returned, and more only for a read cut at EOF (one that
/// returned the object's last byte); the excess stays below kMaxObjectSize.
Status CheckAsked(std::uint64_t offset, std::uint64_t length, std::uint64_t asked, const TraceObject& object);

/// Checks a whole in-memory trace (generated or imported) against every limit above.
Status ValidateTraceLimits(const Trace& trace);

}  // namespace pflab::traces
