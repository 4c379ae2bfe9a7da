// Four threads, each preading 8 blocks of 4 KiB: thread i reads blocks 8i .. 8i+7 in order.
#include <fcntl.h>
#include <unistd.h>

#include <thread>
#include <vector>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const int fd = open(argv[1], O_RDONLY);
  if (fd < 0) return 3;
  std::vector<std::thread> threads;
  bool ok[4] = {true, true, true, true};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([fd, t, &ok] {
      char buf[4096];
      for (int k = 0; k < 8; ++k) {
        if (pread(fd, buf, sizeof buf, static_cast<off_t>((t * 8 + k) * 4096)) != 4096) ok[t] = false;
      }
    });
  }
  for (auto& th : threads) th.join();
  close(fd);
  return ok[0] && ok[1] && ok[2] && ok[3] ? 0 : 1;
}
