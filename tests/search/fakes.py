"""Real HTTP servers on 127.0.0.1 standing in for iTunes, SoundCloud and YouTube in tests.

Each `FakeService` answers every GET with its configured behaviour (status, JSON body or raw
bytes, headers, delay, or never answering) and records the calls it gets. Bodies are built
from the real response samples in ./samples, so field names and nesting are the services'.
"""

import copy
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from tests.system.servers import wait_until

SAMPLES = Path(__file__).parent / "samples"
CLIENT_ID = "sc-client-id-SECRET-4f1d9"
API_KEY = "yt-api-key-SECRET-8c2e7"
# Longest a never-answering request is held (the fixture releases it at teardown).
HANG_SECONDS = 30


def sample(name: str):
    return json.loads((SAMPLES / name).read_text())


# --- bodies in each service's shape ------------------------------------------------------
def itunes_body(*songs: dict) -> dict:
    """iTunes search answer; each song: title, artist, millis, id (and any raw field)."""
    template = sample("itunes_search.json")["results"][0]
    results = []
    for n, song in enumerate(songs):
        record = copy.deepcopy(template)
        record.update(trackId=song.get("id", 1000 + n), trackName=song["title"],
                      artistName=song["artist"], trackTimeMillis=song.get("millis", 200_000),
                      trackViewUrl=f"https://music.apple.com/us/album/x/1?i={song.get('id', 1000 + n)}")
        record.update(song.get("raw", {}))
        results.append(record)
    return {"resultCount": len(results), "results": results}


def soundcloud_body(*tracks: dict) -> dict:
    """SoundCloud v2 search answer; each track: title, artist, millis, full_millis, id, isrc."""
    body = sample("soundcloud_search_tracks.json")
    template = body["collection"][0]
    collection = []
    for n, track in enumerate(tracks):
        record = copy.deepcopy(template)
        ident = track.get("id", 2000 + n)
        millis = track.get("millis", 200_000)
        record.update(id=ident, title=track["title"], duration=millis,
                      full_duration=track.get("full_millis", millis),
                      permalink_url=f"https://soundcloud.com/u/t{ident}")
        record["user"]["username"] = track["artist"]
        if "isrc" in track:
            record["publisher_metadata"]["isrc"] = track["isrc"]
        record.update(track.get("raw", {}))
        collection.append(record)
    body["collection"] = collection
    return body


def youtube_body(*videos: dict) -> dict:
    """YouTube search answer; each video: title, channel, id (as YouTube sends them: escaped)."""
    body = sample("youtube_search.json")
    template = body["items"][0]
    items = []
    for n, video in enumerate(videos):
        record = copy.deepcopy(template)
        record["id"]["videoId"] = video.get("id", f"vid{n:08d}")
        record["snippet"]["title"] = video["title"]
        record["snippet"]["channelTitle"] = video["channel"]
        items.append(record)
    body["items"] = items
    body["pageInfo"]["resultsPerPage"] = len(items)
    return body


# --- the servers -------------------------------------------------------------------------
class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 5  # idle keep-alive connections close after this

    def do_GET(self):  # noqa: N802 (http.server's naming)
        fake: FakeService = self.server.fake
        parts = urlsplit(self.path)
        with fake.lock:
            fake.calls += 1
            fake.requests.append({"path": parts.path, "query": parse_qs(parts.query)})
            fake.active += 1
            behaviour, release = dict(fake.behaviour), fake.release
        try:
            if behaviour["hang"]:
                release.wait(HANG_SECONDS)
                self.close_connection = True
                return
            if behaviour["delay"]:
                release.wait(behaviour["delay"])
            raw = behaviour["raw"]
            if raw is None:
                raw = json.dumps(behaviour["body"]).encode()
            self.send_response(behaviour["status"])
            self.send_header("Content-Type", "application/json; charset=UTF-8")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in behaviour["headers"].items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(raw)
        finally:
            with fake.lock:
                fake.active -= 1

    def log_message(self, *args):
        pass


class FakeService:
    """One fake upstream; `url` is its base URL."""

    def __init__(self, name: str, body: dict, *, base_path: str = ""):
        self.name = name
        self.lock = threading.Lock()
        self.release = threading.Event()
        self.calls = 0
        self.active = 0
        self.requests: list[dict] = []
        self.default_body = body
        self.answer(body=body)
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.server.daemon_threads = True
        self.server.fake = self
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{base_path}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name=f"fake-{name}", daemon=True)
        self.thread.start()

    def answer(self, *, status: int = 200, body=None, raw: bytes | None = None,
               headers: dict | None = None, delay: float = 0.0, hang: bool = False) -> None:
        """What every following call gets (body: JSON-encoded; raw: sent as is)."""
        with self.lock:
            self.behaviour = {"status": status, "body": self.default_body if body is None else body,
                              "raw": raw, "headers": headers or {}, "delay": delay, "hang": hang}

    def reset(self) -> None:
        """Back to the default answer and no calls; held requests are let go."""
        with self.lock:
            self.release.set()
            self.release = threading.Event()
            self.calls = 0
            self.requests = []
        self.answer()

    def stop(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        wait_until(lambda: not self.active, timeout=5, interval=0.01, what="the fake's calls to end")


class Fakes:
    """The three fakes, answering with the services' sample bodies until told otherwise."""

    def __init__(self):
        self.itunes = FakeService("itunes", sample("itunes_search.json"))
        self.soundcloud = FakeService("soundcloud", sample("soundcloud_search_tracks.json"))
        self.youtube = FakeService("youtube", sample("youtube_search.json"), base_path="/youtube/v3")

    @property
    def all(self) -> list[FakeService]:
        return [self.itunes, self.soundcloud, self.youtube]

    def calls(self) -> dict[str, int]:
        return {fake.name: fake.calls for fake in self.all}

    def settings(self) -> dict:
        """Settings (or environment) pointing the app at these fakes, with credentials."""
        return {"ITUNES_API_URL": self.itunes.url, "SOUNDCLOUD_API_URL": self.soundcloud.url,
                "SOUNDCLOUD_CLIENT_ID": CLIENT_ID, "YOUTUBE_API_URL": self.youtube.url,
                "YOUTUBE_API_KEY": API_KEY}

    def reset(self) -> None:
        for fake in self.all:
            fake.reset()

    def stop(self) -> None:
        for fake in self.all:
            fake.stop()
