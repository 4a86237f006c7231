"""A 10,000-track library exported while a client PATCHes it through a real gunicorn, imported
into an empty Redis prefix and compared; then 80 of its tracks imported back over the live
library with --replace while gunicorn serves, and read through HTTP (every worker's cache
follows the restored versions and the deleted tracks)."""

import io
import json
import random
import threading
import time
import uuid

import pytest
import requests
from django.conf import settings
from django.core.management import call_command

from quantumlive.redis_conn import get_redis
from tests.conftest import delete_own_keys
from tests.system.servers import Gunicorn, wait_until
from tracks import lua, store
from tracks.cache import reset_process_cache

TRACKS = 10_000
WRITE_SECONDS_MAX = 40  # the writer stops by itself after this, whatever happens
WRITES_MAX = 20_000


def seed(count: int) -> list[str]:
    """`count` tracks written with the store's CREATE script, pipelined (no server runs yet)."""
    rng = random.Random(12)
    redis = get_redis()
    ids = []
    for start in range(0, count, 500):
        pipe = redis.pipeline(transaction=False)
        for i in range(start, min(count, start + 500)):
            track_id = str(uuid.uuid4())
            values = {"title": f"Track {i}", "artist": f"Artist {i % 97}", "bpm": 90.0 + i % 90,
                      "key": "A minor", "duration": 240.0, "genres": ["house"], "notes": None,
                      "sources": {"youtube": "https://www.youtube.com/watch?v=dQw4w9WgXcQ"},
                      "cues": [{"name": f"cue_{c}", "start": c * 30.0, "end": c * 30.0 + 30.0,
                                "waveform": [round(rng.random(), 4) for _ in range(32)]} for c in range(2)]}
            fields = store.restore_fields(track_id=track_id, values=values, version=1,
                                          created=store.now_iso(), updated=store.now_iso())
            lua.create_track(pipe, track_id=track_id, ack="-", position=None, fields=fields)
            ids.append(track_id)
        pipe.execute()
    return ids


def records(track_ids: list[str]) -> dict[str, dict]:
    found = {}
    for start in range(0, len(track_ids), 500):
        batch = track_ids[start:start + 500]
        for track_id, record in zip(batch, store.track_records(batch)):
            if record is not None:
                found[track_id] = json.loads(record)
    return found


class Writer:
    """PATCHes random tracks through HTTP until stopped (bounded in count and time); `touched`
    holds every id a request was sent for, acknowledged or not."""

    def __init__(self, url: str, token: str, ids: list[str]):
        self.url, self.ids = url, ids
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"
        self.touched: set[str] = set()
        self.acknowledged = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.rng = random.Random(3)

    def _run(self):
        deadline = time.monotonic() + WRITE_SECONDS_MAX
        for n in range(WRITES_MAX):
            if self.stop.is_set() or time.monotonic() > deadline:
                return
            track_id = self.rng.choice(self.ids)
            self.touched.add(track_id)
            try:
                response = self.http.patch(f"{self.url}/api/tracks/{track_id}/", json={"notes": f"write {n}"},
                                           timeout=5)
                if response.status_code == 200:
                    self.acknowledged += 1
            except requests.RequestException:
                pass

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        self.thread.join(timeout=10)


@pytest.fixture
def restore_prefix():
    """Another, empty prefix of this test run; its keys are deleted afterwards."""
    original = settings.QL_REDIS_PREFIX
    name = original + "-restore"
    yield name
    from django.test import override_settings

    with override_settings(QL_REDIS_PREFIX=name):
        delete_own_keys()


def test_a_backup_taken_under_writes_restores_every_track(database, tmp_path, restore_prefix):
    from django.test import override_settings

    began = time.monotonic()
    reset_process_cache()
    ids = seed(TRACKS)
    path = tmp_path / "library.json"
    print(f"\nseeded {TRACKS} tracks in {time.monotonic() - began:.1f} s")
    with Gunicorn(workers=3, database=database) as server:
        print(f"gunicorn up at {time.monotonic() - began:.1f} s")
        before = records(ids)
        assert len(before) == TRACKS
        with Writer(server.url, database.token, ids) as writer:
            wait_until(lambda: writer.acknowledged >= 20, timeout=10, interval=0.01,
                       what="the writes under way before the export starts")
            at_start = writer.acknowledged
            out = io.StringIO()
            call_command("export_library", str(path), stdout=out)
            during = writer.acknowledged - at_start
        print(f"export: {out.getvalue().strip()}; {during} PATCHes acknowledged during it, "
              f"{len(writer.touched)} tracks touched in all")
        assert during > 0, "no write happened during the export"
        document = json.loads(path.read_text(encoding="utf-8"))
        exported = {track["id"]: track for track in document["tracks"]}
        assert [track["id"] for track in document["tracks"]] == ids  # PATCHes do not move

        with override_settings(QL_REDIS_PREFIX=restore_prefix):
            reset_process_cache()
            out = io.StringIO()
            call_command("import_library", str(path), stdout=out)
            print(f"import: {out.getvalue().strip()}")
            assert f"tracks {TRACKS} created" in out.getvalue()
            restored = records(store.track_ids())
            assert list(restored) == ids
            reset_process_cache()

        same = newer = 0
        for track_id in ids:
            if track_id in writer.touched:
                assert restored[track_id]["version"] >= before[track_id]["version"]
                assert restored[track_id] == exported[track_id]
                newer += 1
            else:
                assert restored[track_id] == before[track_id] == exported[track_id]
                same += 1
        print(f"compared: {same} untouched tracks identical, {newer} written ones at their version or newer "
              f"(at {time.monotonic() - began:.1f} s)")

        # part of the backup back over the live library with --replace while gunicorn serves:
        # every worker's cache must follow (written tracks go back to the backup's versions,
        # tracks not in the file are deleted)
        kept = sorted(writer.touched)[:40] + [i for i in ids if i not in writer.touched][:40]
        dropped = [i for i in ids if i not in set(kept)][:40]
        http = requests.Session()
        for track_id in kept + dropped:  # warm the workers' caches
            for _ in range(3):
                assert http.get(f"{server.url}/api/tracks/{track_id}/", timeout=5).status_code == 200
        subset = tmp_path / "subset.json"
        subset.write_text(json.dumps(dict(document, tracks=[exported[i] for i in ids if i in set(kept)])))
        out = io.StringIO()
        call_command("import_library", str(subset), "--replace", stdout=out)
        print(f"import --replace: {out.getvalue().strip()}")
        assert f"{TRACKS - len(kept)} removed" in out.getvalue()
        stale = 0
        for track_id in kept:
            for _ in range(3):
                shown = http.get(f"{server.url}/api/tracks/{track_id}/", timeout=5).json()
                wanted = exported[track_id]
                stale += shown["version"] != wanted["version"] or shown["notes"] != wanted["notes"]
        for track_id in dropped:
            for _ in range(3):
                stale += http.get(f"{server.url}/api/tracks/{track_id}/", timeout=5).status_code != 404
        listed = http.get(f"{server.url}/api/tracks/?limit=500", timeout=5).json()
        print(f"read {3 * (len(kept) + len(dropped))} tracks through gunicorn after it: {stale} stale "
              f"(at {time.monotonic() - began:.1f} s)")
        assert stale == 0
        assert listed["count"] == len(kept)
        assert [t["id"] for t in listed["results"]] == [i for i in ids if i in set(kept)]
    reset_process_cache()
