#!/usr/bin/env python3
"""Makes sure headless Chromium and its driver are installed for the browser test
(tests/admin/test_admin_browser.py): `make test` runs this before the tests. When `chromium`
or `chromedriver` is missing and we are root on Debian, installs the packages `chromium` and
`chromium-driver` with apt-get; otherwise says what to do, and the browser test skips saying
why. Prints the two paths when both are there. Stdlib only."""

import os
import shutil
import subprocess
import sys

PACKAGES = ("chromium", "chromium-driver")


def chromium_and_driver() -> tuple[str, str] | None:
    """The paths of `chromium` and `chromedriver` on PATH, or None unless both are there."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    return (chromium, driver) if chromium and driver else None


def apt_install(packages: tuple[str, ...]) -> None:
    """apt-get update and install; a failure is reported on stderr, not raised: the tests
    still run, and the browser test skips."""
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        subprocess.run(["apt-get", "update", "-qq"], stdout=sys.stderr, env=env, timeout=600)
        subprocess.run(["apt-get", "install", "-y", "-qq", "--no-install-recommends", *packages],
                       stdout=sys.stderr, env=env, timeout=1800)
    except subprocess.TimeoutExpired as exc:
        print(f"apt-get took too long: {exc}", file=sys.stderr)


def main() -> None:
    found = chromium_and_driver()
    if not found and os.geteuid() == 0 and shutil.which("apt-get"):
        print(f"Chromium not found: installing Debian's {' '.join(PACKAGES)}", file=sys.stderr)
        apt_install(PACKAGES)
        found = chromium_and_driver()
    if found:
        print(*found)
        return
    print(f"Chromium is not installed: the browser test will be skipped "
          f"(Debian, as root: apt-get install {' '.join(PACKAGES)}).", file=sys.stderr)


if __name__ == "__main__":
    main()
