// `concurrent`: the bottom layer of every stack, the ConcurrentFetcher (engine/concurrent_fetcher.h),
// as a registry entry. A spec that names no fetcher gets this one with its defaults, adjusted by the
// layers above that set up their own fetcher (PolicyEntry::set_fetcher: the gcsfs layers).
#pragma once

#include "engine/concurrent_fetcher.h"
#include "policies/policy_entry.h"

namespace pflab::policies {

/// The fetcher a registry stack starts from: one request per read (fsspec's plain fetcher), unlike
/// ConcurrentFetcherOptions' own default of gcsfs main's 4 parts.
ConcurrentFetcherOptions PlainFetcherOptions();

/// The `concurrent` entry.
PolicyEntry ConcurrentEntry();

}  // namespace pflab::policies
