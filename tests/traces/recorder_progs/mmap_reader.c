// Maps FILE and touches its first page (not recordable), then preads 100 bytes at 0 (recorded).
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) return 3;
  const unsigned char* p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
  if (p == MAP_FAILED) return 4;
  unsigned sum = 0;
  for (int i = 0; i < 4096; ++i) sum += p[i];
  munmap((void*)p, 4096);
  char buf[100];
  if (pread(fd, buf, sizeof buf, 0) != 100) return 5;
  close(fd);
  return sum == 0xffffffffu ? 6 : 0;
}
