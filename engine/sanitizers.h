// Which sanitizer this translation unit is built with, for GCC (which defines __SANITIZE_ADDRESS__ and
// __SANITIZE_THREAD__) and clang (which answers __has_feature instead): the sanitized builds are GCC's
// ThreadSanitizer build and clang's AddressSanitizer+UBSan build (docs/testing.md).
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define PFLAB_HAS_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PFLAB_HAS_ASAN 1
#endif
#endif

#if defined(__SANITIZE_THREAD__)
#define PFLAB_HAS_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define PFLAB_HAS_TSAN 1
#endif
#endif

namespace pflab {

/// Whether free lists may hand freed memory out again (chunks, payloads, coroutine frames, fetch
/// tasks): not under AddressSanitizer, which must see every use after free.
#ifdef PFLAB_HAS_ASAN
inline constexpr bool kRecycleFreedMemory = false;
#else
inline constexpr bool kRecycleFreedMemory = true;
#endif

}  // namespace pflab
