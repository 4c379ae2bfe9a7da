// The parent preads [0,1000), forks; the child preads [1000,2000) through the inherited descriptor and
// execs this program in "child" mode, which opens FILE again and preads [2000,3000); the parent waits
// and preads [3000,4000). Exits with the child's status.
#include <fcntl.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char** argv) {
  char buf[1000];
  if (argc == 3 && strcmp(argv[2], "child") == 0) {
    int fd = open(argv[1], O_RDONLY);
    if (fd < 0) return 3;
    return pread(fd, buf, sizeof buf, 2000) == 1000 ? 0 : 4;
  }
  if (argc != 2) return 2;
  int fd = open(argv[1], O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 3;
  if (pread(fd, buf, sizeof buf, 0) != 1000) return 4;
  pid_t pid = fork();
  if (pid < 0) return 5;
  if (pid == 0) {
    if (pread(fd, buf, sizeof buf, 1000) != 1000) _exit(6);
    execl("/proc/self/exe", argv[0], argv[1], "child", (char*)NULL);
    _exit(7);
  }
  int status = 0;
  if (waitpid(pid, &status, 0) != pid) return 8;
  if (pread(fd, buf, sizeof buf, 3000) != 1000) return 9;
  close(fd);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 10;
}
