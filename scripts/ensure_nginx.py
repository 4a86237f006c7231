#!/usr/bin/env python3
"""Makes sure nginx is installed for the tests that run deploy/nginx.conf (tests/test_deploy.py,
tests/system/test_faults.py): installs Debian's nginx with apt-get when it is missing and we
are root (as scripts/ensure_redis.py does for redis-server; Debian does not start the service
where a policy-rc.d forbids it, and the tests never use it: they run their own nginx on free
ports). Otherwise says what to do; those tests then skip. Stdlib only."""

import os
import shutil
import subprocess
import sys

CANDIDATES = ("/usr/sbin/nginx", "/usr/local/sbin/nginx")


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next((p for p in CANDIDATES if os.access(p, os.X_OK)), None)


def main() -> None:
    found = nginx_binary()
    if found:
        print(found)
        return
    if os.geteuid() == 0 and shutil.which("apt-get"):
        print("nginx not found: installing Debian's nginx", file=sys.stderr)
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive", RUNLEVEL="1")  # no service start
        subprocess.run(["apt-get", "update", "-qq"], check=False, stdout=sys.stderr, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", "nginx"],
                       check=True, stdout=sys.stderr, env=env)
        found = nginx_binary()
        if found:
            print(found)
            return
    print("nginx is not installed: the tests of deploy/nginx.conf will be skipped "
          "(Debian: apt-get install nginx).", file=sys.stderr)


if __name__ == "__main__":
    main()
