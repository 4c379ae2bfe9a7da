// Reads FILE through read, pread, lseek, readv, preadv and stdio with a 4 KiB buffer; the recorder
// test knows the expected trace (see recorder_test.cc). The file must be at least 64 KiB.
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/uio.h>
#include <unistd.h>

static char stdio_buffer[4096];

// A length the compiler cannot see, so a _FORTIFY_SOURCE build calls __read_chk, __pread64_chk and
// __fread_chk instead of proving the plain call safe.
static size_t Dyn(size_t n) {
  volatile size_t v = n;
  return v;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  char buf[16384];
  int fd = open(argv[1], O_RDONLY);
  if (fd < 0) return 3;
  if (read(fd, buf, Dyn(1000)) != 1000) return 4;       // [0, 1000)
  if (pread(fd, buf, Dyn(500), 4096) != 500) return 5;  // [4096, 4596)
  if (lseek(fd, 10000, SEEK_SET) != 10000) return 6;
  if (read(fd, buf, Dyn(2000)) != 2000) return 7;  // [10000, 12000)
  struct iovec iov[2] = {{buf, 300}, {buf + 300, 700}};
  if (readv(fd, iov, 2) != 1000) return 8;  // [12000, 13000)
  if (lseek(fd, 0, SEEK_END) < 0) return 9;
  if (read(fd, buf, 100) != 0) return 10;  // EOF: not a read of data
  struct iovec iov2[2] = {{buf, 1000}, {buf + 1000, 1000}};
  if (preadv(fd, iov2, 2, 20000) != 2000) return 11;  // [20000, 22000)
  close(fd);

  FILE* fp = fopen(argv[1], "rb");
  if (fp == NULL) return 12;
  if (setvbuf(fp, stdio_buffer, _IOFBF, sizeof stdio_buffer) != 0) return 13;
  if (fread(buf, 1, Dyn(100), fp) != 100) return 14;    // fills the buffer: [0, 4096)
  if (fread(buf, 1, 100, fp) != 100) return 15;         // from the buffer: nothing reaches the file
  if (fseek(fp, 30000, SEEK_SET) != 0) return 16;       // glibc reads the aligned block: [28672, 32768)
  if (fread(buf, 1, 200, fp) != 200) return 17;         // from the buffer
  if (fread(buf, 1, Dyn(8192), fp) != 8192) return 18;  // 4096 direct + 4096 refill: [32768, 40960)
  fclose(fp);
  return 0;
}
