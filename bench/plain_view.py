"""Bench only (never in production urls): the project's settings with a URLconf of one plain
Django view that reads one Redis hash, at the track-detail path. bench/tracks_bench.py serves
it with `DJANGO_SETTINGS_MODULE=bench.plain_view` as the yardstick of the track read: the
same middleware, the same client, no store, no cache, no DRF."""

import json

from django.http import HttpResponse
from django.urls import path

from quantumlive.settings import *  # noqa: F401,F403

ROOT_URLCONF = "bench.plain_view"


def track_hash(request, track_id: str):
    from quantumlive import keys
    from quantumlive.redis_conn import get_redis

    fields = get_redis().hgetall(keys.track(track_id))
    if not fields:
        return HttpResponse(status=404)
    return HttpResponse(json.dumps(fields), content_type="application/json")


urlpatterns = [path("api/tracks/<str:track_id>/", track_hash), path("healthz", lambda request: HttpResponse("ok"))]
