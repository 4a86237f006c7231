"""Bad input, bounded (API.md; issue 12, finding 1): the time of the largest value of `key`,
`q`, a name (title, cue name), a genre and a URL against the smallest, through a real gunicorn
(3 workers, throttles off, its own Redis key prefix, SQLite with one token user).

Bodies carry 200,000-character values (a 16 MB body could hold far more, but the fields are
refused on their length first, so more costs only the JSON parsing). Query parameters carry
the longest request line gunicorn accepts (4,094 bytes; longer is its 414). Each case sends
ROUNDS requests of the big value and of the small one, alternately, and compares the medians
(and the minima). Prints a table and one JSON line; bench/fuzz.sh runs it.

    .venv/bin/python bench/bounds_bench.py [--rounds 30]
"""

import argparse
import json
import statistics
import sys
import time
from urllib.parse import urlencode

import benchenv

BIG = 200_000
LINE = 4094 - len("GET /api/tracks/?q= HTTP/1.1\r\n") - 16  # gunicorn's limit_request_line


def cases(track_url: str):
    """(name, method, path, big, small): `big`/`small` are a JSON body or a query dict."""
    key_big = "A" + "b" * (BIG - 2) + "!"  # the old key pattern's quadratic input
    base = {"title": "t", "artist": "a"}
    yield "key (POST body)", "POST", "/api/tracks/", {**base, "key": key_big}, {**base, "key": "Am"}
    yield "key (PATCH body)", "PATCH", track_url, {"key": key_big}, {"key": "Am"}
    yield "key (list filter)", "GET", "/api/tracks/", {"key": "A" + "b" * LINE + "!"}, {"key": "Am"}
    yield "q (list filter)", "GET", "/api/tracks/", {"q": "q" * LINE}, {"q": "ab"}
    yield "q (search body)", "POST", "/api/search/", {"query": "q" * BIG}, {"query": "ab"}
    yield "name (title)", "POST", "/api/tracks/", {**base, "title": "x" * BIG}, {**base, "title": "ab"}
    yield ("name (cue)", "PATCH", track_url, {"cues": [{"name": "n" * BIG, "start": 0, "end": 1}]},
           {"cues": [{"name": "ab", "start": 0, "end": 1}]})
    yield "genre (body)", "PATCH", track_url, {"genres": ["g" * BIG]}, {"genres": ["ab"]}
    yield "genre (list filter)", "GET", "/api/tracks/", {"genre": "g" * LINE}, {"genre": "ab"}
    yield ("URL (sources)", "PATCH", track_url, {"sources": {"web": "https://x.org/" + "a" * BIG}},
           {"sources": {"web": "https://x.org/"}})
    yield ("URL (youtube)", "POST", "/api/youtube/", {"url": "https://youtu.be/" + "a" * BIG},
           {"url": "ab"})


def send(session, server, method, path, value):
    if method == "GET":
        return session.get(f"{server}{path}?{urlencode(value)}", timeout=60)
    return session.request(method, f"{server}{path}", json=value, timeout=60)


def timed(session, server, method, path, value) -> tuple[float, int]:
    start = time.perf_counter()
    response = send(session, server, method, path, value)
    return time.perf_counter() - start, response.status_code


def measure(session, server, case, rounds: int) -> dict:
    name, method, path, big, small = case
    for value in (small, big):  # warm-up
        send(session, server, method, path, value)
    big_times, small_times, statuses = [], [], set()
    for _ in range(rounds):
        seconds, status = timed(session, server, method, path, small)
        small_times.append(seconds)
        seconds, status = timed(session, server, method, path, big)
        big_times.append(seconds)
        statuses.add(status)
    big_median, small_median = statistics.median(big_times), statistics.median(small_times)
    return {
        "case": name, "big_status": sorted(statuses),
        "big_chars": max(len(v) for v in json.dumps(big).split('"')),
        "big_median_ms": round(big_median * 1000, 2), "small_median_ms": round(small_median * 1000, 2),
        "ratio_median": round(big_median / small_median, 2),
        "ratio_min": round(min(big_times) / min(small_times), 2),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    benchenv.setup()
    import requests

    from tests.system.servers import Database, Gunicorn, free_port

    dead = f"http://127.0.0.1:{free_port()}"  # search providers: nothing listens there
    database = Database()
    rows = []
    try:
        with Gunicorn(workers=3, database=database, ITUNES_API_URL=dead, SOUNDCLOUD_API_URL=dead,
                      YOUTUBE_API_URL=dead, SOUNDCLOUD_CLIENT_ID="", YOUTUBE_API_KEY="",
                      QL_SEARCH_DEADLINE=1) as server:
            session = requests.Session()
            session.headers["Authorization"] = f"Token {database.token}"
            track = session.post(f"{server.url}/api/tracks/", json={"title": "t", "artist": "a"}, timeout=10)
            track_url = f"/api/tracks/{track.json()['id']}/"
            for case in cases(track_url):
                rows.append(measure(session, server.url, case, args.rounds))
                row = rows[-1]
                print(f"{row['case']:<22} big {row['big_chars']:>7} chars -> {row['big_status']}: "
                      f"median {row['big_median_ms']:7.2f} ms vs {row['small_median_ms']:6.2f} ms "
                      f"(ratio {row['ratio_median']:.2f}, minima {row['ratio_min']:.2f})", flush=True)
    finally:
        database.close()
        benchenv.delete_own_keys()
    print(json.dumps({"rounds": args.rounds, "cases": rows}))
    bad = [row["case"] for row in rows if row["big_status"] not in ([400], [413], [414])]
    if bad:
        print(f"not refused: {bad}", file=sys.stderr)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
