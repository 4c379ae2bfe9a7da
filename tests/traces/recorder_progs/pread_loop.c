// The recorder's overhead benchmark: COUNT preads of SIZE bytes cycling through FILE (or, with a 4th
// argument "read", lseek + read); prints the loop's own time per read so process start-up and trace
// conversion are not counted.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char** argv) {
  if (argc != 4 && argc != 5) return 2;
  const int use_read = argc == 5 && strcmp(argv[4], "read") == 0;
  const long count = atol(argv[2]);
  const long size = atol(argv[3]);
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0 || size <= 0) return 3;
  const off_t file_size = lseek(fd, 0, SEEK_END);
  const long blocks = file_size / size;
  if (blocks <= 0) return 4;
  char* buf = malloc((size_t)size);
  struct timespec a, b;
  clock_gettime(CLOCK_MONOTONIC, &a);
  for (long i = 0; i < count; ++i) {
    const off_t offset = (off_t)((i % blocks) * size);
    if (use_read) {
      if (lseek(fd, offset, SEEK_SET) != offset || read(fd, buf, (size_t)size) != size) return 5;
    } else if (pread(fd, buf, (size_t)size, offset) != size) {
      return 5;
    }
  }
  clock_gettime(CLOCK_MONOTONIC, &b);
  const double ns = (double)(b.tv_sec - a.tv_sec) * 1e9 + (double)(b.tv_nsec - a.tv_nsec);
  printf("%.1f\n", ns / (double)count);
  free(buf);
  close(fd);
  return 0;
}
