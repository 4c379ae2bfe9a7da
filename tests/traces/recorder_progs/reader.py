# Reads FILE with unbuffered file objects and os.pread, then a subprocess (vfork + exec of another
# interpreter) preads too; exits 3 so the test sees the status forwarded.
import os
import subprocess
import sys

path = sys.argv[1]
with open(path, "rb", buffering=0) as f:
    f.read(1000)  # [0, 1000)
    f.seek(5000)
    f.read(3000)  # [5000, 8000)
fd = os.open(path, os.O_RDONLY)
os.pread(fd, 4096, 65536)  # [65536, 69632)
os.close(fd)
child = "import os, sys; fd = os.open(sys.argv[1], os.O_RDONLY); os.pread(fd, 100, 100000)"
subprocess.run([sys.executable, "-c", child, path], check=True)  # [100000, 100100), another process
sys.exit(3)
