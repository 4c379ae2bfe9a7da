#include "traces/recorder/runtime.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <atomic>

namespace pflab::recorder {
namespace {

constexpr std::uint32_t kBufferBytes = 64 * 1024;
constexpr int kMaxGlobs = 64;
constexpr std::int32_t kMmapNoted = 1 << 30;
constexpr int kOutputFdFloor = 900;  // away from the low numbers programs reuse and close in loops

enum State : int { kUninitialized, kOn, kOff };

// One thread's pending read records. `busy` serializes the owner's appends with flushes run by other
// threads (exit, exec); the owner is the only appender, so it is practically uncontended.
struct ThreadBuffer {
  std::atomic<bool> busy{false};
  ThreadBuffer* next_all = nullptr;   // every buffer ever made, for FlushAll
  ThreadBuffer* next_free = nullptr;  // buffers of exited threads, for reuse
  std::uint32_t used = 0;
  alignas(8) unsigned char data[kBufferBytes];
};

std::atomic<int> g_state{kUninitialized};
pthread_once_t g_once = PTHREAD_ONCE_INIT;
char g_dir[2048];
std::size_t g_dir_len = 0;
char g_glob_storage[16384];
const char* g_globs[kMaxGlobs];
int g_glob_count = 0;
char g_file_name[64];  // our raw file's name inside g_dir
std::atomic<int> g_out_fd{-1};
pid_t g_pid = 0;
std::atomic<std::uint32_t> g_next_open{0};
std::atomic<std::int32_t> g_fds[kMaxFds];  // open id + 1 (| kMmapNoted), 0 when not recorded
std::atomic<int> g_max_fd{-1};
std::atomic<bool> g_final{false};  // after our destructor: flush every record at once
pthread_key_t g_thread_key;

std::atomic<bool> g_list_busy{false};
ThreadBuffer* g_all = nullptr;
ThreadBuffer* g_free = nullptr;

__attribute__((tls_model("initial-exec"))) thread_local bool t_in_hook = false;
__attribute__((tls_model("initial-exec"))) thread_local ThreadBuffer* t_buffer = nullptr;
__attribute__((tls_model("initial-exec"))) thread_local std::uint32_t t_tid = 0;

void Lock(std::atomic<bool>& flag) {
  while (flag.exchange(true, std::memory_order_acquire)) {
    while (flag.load(std::memory_order_relaxed)) sched_yield();
  }
}
void Unlock(std::atomic<bool>& flag) {
  flag.store(false, std::memory_order_release);
}

long Sys(long number, long a = 0, long b = 0, long c = 0, long d = 0) {
  return syscall(number, a, b, c, d);
}

void WriteAll(int fd, const void* data, std::size_t size) {
  const auto* p = static_cast<const unsigned char*>(data);
  while (size > 0 && fd >= 0) {
    const long n = Sys(SYS_write, fd, reinterpret_cast<long>(p), static_cast<long>(size));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return;  // nowhere to report it from inside the program; the converter sees the gap
    p += n;
    size -= static_cast<std::size_t>(n);
  }
}

void WarnOnce(const char* what) {
  static std::atomic<bool> warned{false};
  if (warned.exchange(true)) return;
  const char prefix[] = "pflab record: ";
  WriteAll(2, prefix, sizeof prefix - 1);
  WriteAll(2, what, strlen(what));
  WriteAll(2, "\n", 1);
}

std::uint32_t Padded(std::size_t n) {
  return static_cast<std::uint32_t>((n + 7) & ~std::size_t{7});
}

// Writes a header struct followed by `tail` (padded to 8) in one write(2), so the record lands whole.
template <typename T>
void WriteRecord(T record, const char* tail, std::size_t tail_bytes) {
  unsigned char buf[sizeof(T) + 4104];
  if (tail_bytes > 4096) tail_bytes = 4096;
  record.h.size = static_cast<std::uint32_t>(sizeof(T)) + Padded(tail_bytes);
  memcpy(buf, &record, sizeof(T));
  memset(buf + sizeof(T), 0, Padded(tail_bytes));
  if (tail_bytes > 0) memcpy(buf + sizeof(T), tail, tail_bytes);
  WriteAll(g_out_fd.load(std::memory_order_relaxed), buf, record.h.size);
}

std::uint32_t Tid() {
  if (t_tid == 0) t_tid = static_cast<std::uint32_t>(Sys(SYS_gettid));
  return t_tid;
}

void AppendUnsigned(char* out, std::size_t cap, unsigned long long v) {
  char digits[24];
  int n = 0;
  do {
    digits[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v > 0);
  std::size_t len = strlen(out);
  while (n > 0 && len + 1 < cap) out[len++] = digits[--n];
  out[len] = '\0';
}

// Creates DIR/raw.<pid>.<n> (the first n free; an exec'd image keeps its pid) and writes its kFile record.
bool OpenOutput() {
  for (unsigned n = 0; n < 10000; ++n) {
    char name[64] = "raw.";
    AppendUnsigned(name, sizeof name, static_cast<unsigned long long>(g_pid));
    strcat(name, ".");
    AppendUnsigned(name, sizeof name, n);
    char path[sizeof g_dir + 80];
    memcpy(path, g_dir, g_dir_len);
    path[g_dir_len] = '/';
    strcpy(path + g_dir_len + 1, name);
    const long fd = Sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>(path),
                        O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
    if (fd < 0 && errno == EEXIST) continue;
    if (fd < 0) return false;
    long high = Sys(SYS_fcntl, fd, F_DUPFD_CLOEXEC, kOutputFdFloor);
    if (high >= 0) {
      Sys(SYS_close, fd);
    } else {
      high = fd;
    }
    g_out_fd.store(static_cast<int>(high));
    strcpy(g_file_name, name);
    RawFile file{};
    file.h.kind = static_cast<std::uint32_t>(RawKind::kFile);
    file.magic = kRawMagic;
    file.version = kRawVersion;
    file.pid = static_cast<std::uint32_t>(g_pid);
    file.t_start_ns = NowNs();
    WriteRecord(file, nullptr, 0);
    return true;
  }
  return false;
}

bool IsNoise(const char* path) {
  static const char* const kPrefixes[] = {"/proc/", "/sys/",  "/dev/", "/etc/",       "/usr/",    "/lib",
                                          "/bin/",  "/sbin/", "/run/", "/var/cache/", "/var/lib/"};
  for (const char* prefix : kPrefixes) {
    if (strncmp(path, prefix, strlen(prefix)) == 0) return true;
  }
  const char* base = strrchr(path, '/');
  base = base ? base + 1 : path;
  const std::size_t len = strlen(base);
  if (len >= 3 && strcmp(base + len - 3, ".so") == 0) return true;
  if (strstr(base, ".so.") != nullptr) return true;
  if (len >= 4 && strcmp(base + len - 4, ".pyc") == 0) return true;
  return false;
}

bool Matches(const char* path) {
  if (strncmp(path, g_dir, g_dir_len) == 0 && (path[g_dir_len] == '/' || path[g_dir_len] == '\0')) return false;
  if (g_glob_count == 0) return !IsNoise(path);
  const char* base = strrchr(path, '/');
  base = base ? base + 1 : path;
  for (int i = 0; i < g_glob_count; ++i) {
    if (fnmatch(g_globs[i], path, 0) == 0 || fnmatch(g_globs[i], base, 0) == 0) return true;
  }
  return false;
}

void ParseGlobs(const char* text) {
  if (text == nullptr) return;
  const std::size_t len = strlen(text);
  if (len >= sizeof g_glob_storage) {
    WarnOnce("PFLAB_RECORD_FILES is too long; recording every file instead");
    return;
  }
  memcpy(g_glob_storage, text, len + 1);
  char* p = g_glob_storage;
  while (*p != '\0' && g_glob_count < kMaxGlobs) {
    char* end = strchr(p, '\n');
    if (end != nullptr) *end = '\0';
    if (*p != '\0') g_globs[g_glob_count++] = p;
    if (end == nullptr) break;
    p = end + 1;
  }
}

void ThreadExit(void* arg) {
  auto* buffer = static_cast<ThreadBuffer*>(arg);
  Lock(buffer->busy);
  WriteAll(g_out_fd.load(std::memory_order_relaxed), buffer->data, buffer->used);
  buffer->used = 0;
  Unlock(buffer->busy);
  Lock(g_list_busy);
  buffer->next_free = g_free;
  g_free = buffer;
  Unlock(g_list_busy);
  t_buffer = nullptr;
}

ThreadBuffer* AttachBuffer() {
  Lock(g_list_busy);
  ThreadBuffer* buffer = g_free;
  if (buffer != nullptr) {
    g_free = buffer->next_free;
  } else {
    void* memory = mmap(nullptr, sizeof(ThreadBuffer), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory != MAP_FAILED) {
      buffer = new (memory) ThreadBuffer;
      buffer->next_all = g_all;
      g_all = buffer;
    }
  }
  Unlock(g_list_busy);
  if (buffer == nullptr) {
    WarnOnce("cannot allocate a record buffer; reads of this thread are not recorded");
    return nullptr;
  }
  t_buffer = buffer;
  pthread_setspecific(g_thread_key, buffer);
  return buffer;
}

void ForkPrepare() {
  Lock(g_list_busy);
}
void ForkParent() {
  Unlock(g_list_busy);
}

// In the child only the forking thread survives: keep its buffer (emptied: the parent writes those
// records), forget the others, and start a raw file that names the parent's.
void ForkChild() {
  char parent[sizeof g_file_name];
  strcpy(parent, g_file_name);
  g_pid = static_cast<pid_t>(Sys(SYS_getpid));
  t_tid = 0;
  g_all = nullptr;
  g_free = nullptr;
  if (t_buffer != nullptr) {
    t_buffer->busy.store(false);
    t_buffer->used = 0;
    t_buffer->next_all = nullptr;
    g_all = t_buffer;
  }
  g_list_busy.store(false);
  const int inherited = g_out_fd.exchange(-1);
  if (inherited >= 0) Sys(SYS_close, inherited);
  if (!OpenOutput()) {
    WarnOnce("cannot create a raw file for a forked child; its reads are not recorded");
    g_state.store(kOff);
    for (auto& slot : g_fds) slot.store(0, std::memory_order_relaxed);
    return;
  }
  RawFork fork{};
  fork.h.kind = static_cast<std::uint32_t>(RawKind::kFork);
  fork.first_own_open = g_next_open.load();
  fork.parent_bytes = static_cast<std::uint32_t>(strlen(parent));
  WriteRecord(fork, parent, fork.parent_bytes);
}

// Descriptors inherited from the parent image (a shell redirect, a file left open across exec) are
// recorded too when they match.
void ScanInheritedFds() {
  const long dir =
      Sys(SYS_openat, AT_FDCWD, reinterpret_cast<long>("/proc/self/fd"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir < 0) return;
  alignas(8) char buf[4096];
  for (;;) {
    const long n = Sys(SYS_getdents64, dir, reinterpret_cast<long>(buf), sizeof buf);
    if (n <= 0) break;
    for (long pos = 0; pos < n;) {
      const auto* entry = reinterpret_cast<const struct dirent64*>(buf + pos);
      pos += entry->d_reclen;
      const char* name = entry->d_name;
      if (name[0] < '0' || name[0] > '9') continue;
      const int fd = atoi(name);
      if (fd == dir || fd == g_out_fd.load()) continue;
      const long flags = Sys(SYS_fcntl, fd, F_GETFL);
      if (flags >= 0) TrackOpen(fd, static_cast<int>(flags) & O_ACCMODE);
    }
  }
  Sys(SYS_close, dir);
}

void Initialize() {
  t_in_hook = true;
  const char* dir = getenv("PFLAB_RECORD_DIR");
  if (dir == nullptr || *dir == '\0') {
    g_state.store(kOff);
    t_in_hook = false;
    return;
  }
  g_dir_len = strlen(dir);
  if (g_dir_len >= sizeof g_dir) {
    WarnOnce("PFLAB_RECORD_DIR is too long; not recording");
    g_state.store(kOff);
    t_in_hook = false;
    return;
  }
  memcpy(g_dir, dir, g_dir_len + 1);
  while (g_dir_len > 1 && g_dir[g_dir_len - 1] == '/') g_dir[--g_dir_len] = '\0';
  ParseGlobs(getenv("PFLAB_RECORD_FILES"));
  g_pid = static_cast<pid_t>(Sys(SYS_getpid));
  if (!OpenOutput()) {
    WarnOnce("cannot create a raw file in PFLAB_RECORD_DIR; not recording");
    g_state.store(kOff);
    t_in_hook = false;
    return;
  }
  pthread_key_create(&g_thread_key, ThreadExit);
  pthread_atfork(ForkPrepare, ForkParent, ForkChild);
  g_state.store(kOn);
  ScanInheritedFds();
  t_in_hook = false;
}

__attribute__((constructor)) void StartEarly() {
  Enabled();
}

__attribute__((destructor)) void FinishAtExit() {
  if (g_state.load() != kOn || !OwnProcess()) return;
  g_final.store(true);
  FlushAll();
}

}  // namespace

bool Enabled() {
  const int state = g_state.load(std::memory_order_acquire);
  if (state != kUninitialized) return state == kOn;
  if (t_in_hook) return false;  // a call made by Initialize itself
  pthread_once(&g_once, Initialize);
  return g_state.load(std::memory_order_acquire) == kOn;
}

HookScope::HookScope() : active_(!t_in_hook && Enabled()) {
  if (active_) t_in_hook = true;
}

HookScope::~HookScope() {
  if (active_) t_in_hook = false;
}

int OpenIdOf(int fd) {
  if (fd < 0 || fd >= kMaxFds) return -1;
  const std::int32_t v = g_fds[fd].load(std::memory_order_relaxed);
  return v == 0 ? -1 : (v & ~kMmapNoted) - 1;
}

void Untrack(int fd) {
  if (fd >= 0 && fd < kMaxFds) g_fds[fd].store(0, std::memory_order_relaxed);
}

void UntrackRange(unsigned first, unsigned last) {
  const int max = g_max_fd.load(std::memory_order_relaxed);
  if (max < 0 || first > static_cast<unsigned>(max)) return;
  if (last > static_cast<unsigned>(max)) last = static_cast<unsigned>(max);
  for (unsigned fd = first; fd <= last; ++fd) g_fds[fd].store(0, std::memory_order_relaxed);
}

void CopyTrack(int from, int to) {
  if (to < 0 || to >= kMaxFds) return;
  const std::int32_t v = from >= 0 && from < kMaxFds ? g_fds[from].load(std::memory_order_relaxed) : 0;
  g_fds[to].store(v & ~kMmapNoted, std::memory_order_relaxed);
  if (v != 0 && to > g_max_fd.load(std::memory_order_relaxed)) g_max_fd.store(to, std::memory_order_relaxed);
}

void TrackOpen(int fd, int access_mode) {
  if (fd < 0 || fd >= kMaxFds) return;
  Untrack(fd);
  if (access_mode == O_WRONLY) return;
  struct stat st;
  if (Sys(SYS_fstat, fd, reinterpret_cast<long>(&st)) != 0 || !S_ISREG(st.st_mode)) return;
  char link[32] = "/proc/self/fd/";
  AppendUnsigned(link, sizeof link, static_cast<unsigned long long>(fd));
  char path[4096];
  const long n = Sys(SYS_readlink, reinterpret_cast<long>(link), reinterpret_cast<long>(path), sizeof path - 1);
  if (n <= 0) return;
  path[n] = '\0';
  if (!Matches(path)) return;
  RawOpen open{};
  open.h.kind = static_cast<std::uint32_t>(RawKind::kOpen);
  open.open_id = g_next_open.fetch_add(1);
  open.path_bytes = static_cast<std::uint32_t>(n);
  open.size = static_cast<std::uint64_t>(st.st_size);
  WriteRecord(open, path, static_cast<std::size_t>(n));
  g_fds[fd].store(static_cast<std::int32_t>(open.open_id) + 1, std::memory_order_relaxed);
  int max = g_max_fd.load(std::memory_order_relaxed);
  while (fd > max && !g_max_fd.compare_exchange_weak(max, fd)) {
  }
}

void NoteMmap(int fd) {
  if (fd < 0 || fd >= kMaxFds) return;
  std::int32_t v = g_fds[fd].load(std::memory_order_relaxed);
  if (v == 0 || (v & kMmapNoted) != 0) return;
  if (!g_fds[fd].compare_exchange_strong(v, v | kMmapNoted)) return;
  RawMmap mmap_record{};
  mmap_record.h.kind = static_cast<std::uint32_t>(RawKind::kMmap);
  mmap_record.open_id = static_cast<std::uint32_t>((v & ~kMmapNoted) - 1);
  WriteRecord(mmap_record, nullptr, 0);
}

void RecordRead(int open_id, RawOp op, std::int64_t t_issue_ns, std::int64_t t_done_ns, std::uint64_t offset,
                long long result, int err, std::uint64_t asked) {
  ThreadBuffer* buffer = t_buffer != nullptr ? t_buffer : AttachBuffer();
  if (buffer == nullptr) return;
  RawRead r{};
  r.h.kind = static_cast<std::uint32_t>(RawKind::kRead);
  r.h.size = sizeof(RawRead);
  r.open_id = static_cast<std::uint32_t>(open_id);
  r.tid = Tid();
  r.op = static_cast<std::uint16_t>(op);
  r.result_errno = result < 0 ? err : 0;
  r.t_issue_ns = t_issue_ns;
  r.t_done_ns = t_done_ns;
  r.offset = offset;
  r.length = result > 0 ? static_cast<std::uint64_t>(result) : 0;
  r.asked = asked;
  Lock(buffer->busy);
  if (buffer->used + sizeof r > kBufferBytes) {
    WriteAll(g_out_fd.load(std::memory_order_relaxed), buffer->data, buffer->used);
    buffer->used = 0;
  }
  memcpy(buffer->data + buffer->used, &r, sizeof r);
  buffer->used += sizeof r;
  if (g_final.load(std::memory_order_relaxed)) {
    WriteAll(g_out_fd.load(std::memory_order_relaxed), buffer->data, buffer->used);
    buffer->used = 0;
  }
  Unlock(buffer->busy);
}

void FlushAll() {
  Lock(g_list_busy);
  for (ThreadBuffer* b = g_all; b != nullptr; b = b->next_all) {
    Lock(b->busy);
    WriteAll(g_out_fd.load(std::memory_order_relaxed), b->data, b->used);
    b->used = 0;
    Unlock(b->busy);
  }
  Unlock(g_list_busy);
}

bool OwnProcess() {
  return static_cast<pid_t>(Sys(SYS_getpid)) == g_pid;
}

int OutputFd() {
  return g_out_fd.load(std::memory_order_relaxed);
}

void ProtectOutputFd(int newfd) {
  const int fd = g_out_fd.load();
  if (fd < 0 || newfd != fd) return;
  const long moved = Sys(SYS_fcntl, fd, F_DUPFD_CLOEXEC, fd + 1);
  if (moved >= 0) g_out_fd.store(static_cast<int>(moved));
}

std::int64_t NowNs() {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

long long KernelPosition(int fd) {
  return Sys(SYS_lseek, fd, 0, SEEK_CUR);
}

}  // namespace pflab::recorder
