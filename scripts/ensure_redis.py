#!/usr/bin/env python3
"""Prints a REDIS_URL that answers: $REDIS_URL when it does, else a private redis-server this
script starts on a free port (data in .run/redis/, AOF on). Installs Debian's redis-server
with apt-get when the binary is missing and we are root; else says what to do. Stdlib only."""

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parent.parent
RUN = ROOT / ".run"


def answers(url: str) -> bool:
    parts = urlsplit(url)
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 6379), timeout=1) as conn:
            conn.settimeout(1)
            if parts.password:
                user = parts.username or "default"
                conn.sendall(f"AUTH {user} {parts.password}\r\n".encode())
                conn.recv(64)
            conn.sendall(b"PING\r\n")
            return conn.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def redis_binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("redis-server not found: installing Debian's redis-server", file=sys.stderr)
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=sys.stderr)
        subprocess.run(["apt-get", "install", "-y", "-qq", "redis-server"], check=True, stdout=sys.stderr)
        found = shutil.which("redis-server")
        if found:
            return found
    sys.exit("No Redis answers at REDIS_URL and redis-server is not installed: "
             "install it (Debian: apt-get install redis-server) or set REDIS_URL.")


def main() -> None:
    url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    if answers(url):
        print(url)
        return
    previous = RUN / "redis.url"
    if previous.exists() and answers(previous.read_text().strip()):
        print(previous.read_text().strip())
        return
    binary = redis_binary()
    port = free_port()
    data = RUN / "redis"
    data.mkdir(parents=True, exist_ok=True)
    subprocess.run([
        binary, "--daemonize", "yes", "--bind", "127.0.0.1", "--port", str(port),
        "--dir", str(data), "--appendonly", "yes", "--save", "",
        "--pidfile", str(data / "redis.pid"), "--logfile", str(data / "redis.log"),
    ], check=True, stdout=sys.stderr)
    url = f"redis://127.0.0.1:{port}/0"
    for _ in range(50):
        if answers(url):
            previous.write_text(url + "\n")
            print(f"started a private redis-server at {url}", file=sys.stderr)
            print(url)
            return
        time.sleep(0.1)
    sys.exit(f"started redis-server on port {port} but it does not answer (see {data / 'redis.log'})")


if __name__ == "__main__":
    main()
