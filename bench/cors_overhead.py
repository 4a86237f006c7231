"""CPU per request of the CORS middleware alone (issue 17): django-cors-headers' own
middleware against quantumlive/cors.py (the same answers, settings read once), on a GET
without an Origin header, from the allowed origin, and from another one. CPU time of this
process (time.process_time), best of 7 rounds of 20,000 calls; the view is a bare
HttpResponse, whose own cost is subtracted.

    DJANGO_CORS_ALLOWED_ORIGINS=http://front.example .venv/bin/python bench/cors_overhead.py
"""

import os
import sys
import time
import timeit
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "quantumlive.settings")
os.environ.setdefault("DJANGO_CORS_ALLOWED_ORIGINS", "http://front.example")

import django  # noqa: E402

django.setup()

from corsheaders.middleware import CorsMiddleware  # noqa: E402
from django.http import HttpResponse  # noqa: E402
from django.test import RequestFactory  # noqa: E402

from quantumlive.cors import CorsMiddleware as Ours  # noqa: E402


def cpu_us(call, n=20000) -> float:
    return min(timeit.repeat(call, number=n, repeat=7, timer=time.process_time)) / n * 1e6


def main() -> None:
    def view(request):
        return HttpResponse(b"{}")

    library, ours = CorsMiddleware(view), Ours(view)
    factory = RequestFactory()
    for name, headers in (("no Origin", {}), ("allowed Origin", {"HTTP_ORIGIN": "http://front.example"}),
                          ("other Origin", {"HTTP_ORIGIN": "http://other.example"})):
        request = factory.get("/api/tracks/6f1c1d2e-0000-4000-8000-000000000000/", **headers)
        bare = cpu_us(lambda: view(request))
        print(f"{name}: django-cors-headers +{cpu_us(lambda: library(request)) - bare:.1f} µs, "
              f"quantumlive.cors +{cpu_us(lambda: ours(request)) - bare:.1f} µs per request")


if __name__ == "__main__":
    main()
