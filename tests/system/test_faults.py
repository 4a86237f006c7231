"""Fault suite (issue 12, "Fault tests"): real processes killed or starved while clients write.

- a web worker SIGKILLed in the middle of writes, 50 times;
- Redis (AOF, fsync always) SIGKILLed and restarted during writes;
- clients that send their body at 1 byte/s or never read the answer, through nginx with the
  repository's deploy/nginx.conf.

Each test prints its counts. Every loop is bounded in count and in time. Redis is always a
private redis-server of the test's own (never the shared one: it is killed, and its memory
limit is changed)."""

import json
import os
import random
import signal
import socket
import threading
import time
from collections import defaultdict

from pathlib import Path

import pytest
import redis as redis_py
import requests

from quantumlive import keys
from tests.system.servers import (Gunicorn, Nginx, PrivateRedis, child_pids, nginx_binary, wait_until,
                                  waiting_for_a_connection)

pytestmark = pytest.mark.system

LOCK_TTL = 1.0  # QL_LOCK_TTL of the instances here: short, so an orphaned lock shows quickly


class Writer:
    """One client thread's writes and what the server acknowledged of them.

    It PATCHes a track of its own (`own`) with notes "<name>:<n>", PATCHes a track shared by
    every writer (`hot`, contended: its lock is often held) and POSTs new tracks, in turn,
    until `stop` is set or `limit` calls were made."""

    def __init__(self, name: str, url: str, token: str, own: str, hot: str):
        self.name, self.url, self.own, self.hot = name, url, own, hot
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"
        self.own_attempts: list[tuple[str, int | None]] = []  # (notes, acknowledged version or None)
        self.hot_acks: list[int] = []
        self.created: list[str] = []  # ids of acknowledged creations
        self.status = defaultdict(int)

    def call(self, method: str, path: str, body: dict) -> requests.Response | None:
        try:
            response = self.http.request(method, self.url + path, json=body, timeout=10)
        except requests.RequestException:
            self.status["no answer"] += 1
            return None
        self.status[response.status_code] += 1
        return response

    def run(self, stop: threading.Event, limit: int = 20000):
        for n in range(limit):
            if stop.is_set():
                return
            step = n % 4
            if step in (0, 2):
                notes = f"{self.name}:{n}"
                self.own_attempts.append((notes, None))
                answer = self.call("PATCH", f"/api/tracks/{self.own}/", {"notes": notes})
                if answer is not None and answer.status_code == 200:
                    self.own_attempts[-1] = (notes, answer.json()["version"])
            elif step == 1:
                answer = self.call("PATCH", f"/api/tracks/{self.hot}/", {"notes": f"{self.name}:{n}"})
                if answer is not None and answer.status_code == 200:
                    self.hot_acks.append(answer.json()["version"])
            else:
                answer = self.call("POST", "/api/tracks/", {"title": f"{self.name}:{n}", "artist": "fault"})
                if answer is not None and answer.status_code == 201:
                    self.created.append(answer.json()["id"])

    def acknowledged(self) -> int:
        return sum(v is not None for _, v in self.own_attempts) + len(self.hot_acks) + len(self.created)


def cpu_seconds(master_pid: int) -> float:
    """CPU time of a gunicorn master and its workers, the killed ones included (reaped)."""
    def times(pid: int, children: bool) -> float:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            return 0.0
        fields = stat[stat.rindex(")") + 2:].split()
        ticks = int(fields[11]) + int(fields[12]) + (int(fields[13]) + int(fields[14]) if children else 0)
        return ticks / os.sysconf("SC_CLK_TCK")

    return times(master_pid, True) + sum(times(pid, False) for pid in child_pids(master_pid))


def start_threads(targets) -> list[threading.Thread]:
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    return threads


def join_all(threads, timeout: float):
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "client threads did not finish in time"


def make_writers(url: str, token: str, count: int) -> list[Writer]:
    setup = requests.Session()
    setup.headers["Authorization"] = f"Token {token}"

    def create(title: str) -> str:
        answer = setup.post(url + "/api/tracks/", json={"title": title, "artist": "fault"}, timeout=10)
        assert answer.status_code == 201, answer.text
        return answer.json()["id"]

    hot = create("hot")
    return [Writer(f"w{i}", url, token, create(f"own{i}"), hot) for i in range(count)]


def check_nothing_acknowledged_was_lost(url: str, token: str, writers: list[Writer]) -> dict:
    """Every acknowledged write is in Redis: created tracks exist; a writer's own track holds
    its last acknowledged notes or a later attempt (sent, not answered, yet landed); the hot
    track's version is at least the highest acknowledged. Returns counts."""
    http = requests.Session()
    http.headers["Authorization"] = f"Token {token}"

    def get(path: str) -> requests.Response:
        return http.get(url + path, timeout=10)

    counts = {"acknowledged": 0, "created checked": 0, "later unacknowledged attempt landed": 0}
    for writer in writers:
        counts["acknowledged"] += writer.acknowledged()
        for track_id in writer.created:
            assert get(f"/api/tracks/{track_id}/").status_code == 200, f"acknowledged creation {track_id} lost"
            counts["created checked"] += 1
        acked = [i for i, (_, version) in enumerate(writer.own_attempts) if version is not None]
        own = get(f"/api/tracks/{writer.own}/").json()
        if acked:
            last = acked[-1]
            notes, version = writer.own_attempts[last]
            allowed = {notes} | {n for n, _ in writer.own_attempts[last + 1:]}
            assert own["notes"] in allowed and own["version"] >= version, (writer.name, own["notes"], notes)
            counts["later unacknowledged attempt landed"] += own["notes"] != notes
    hot = get(f"/api/tracks/{writers[0].hot}/").json()
    hot_acks = [v for w in writers for v in w.hot_acks]
    assert hot["version"] >= max(hot_acks, default=1)
    assert len(set(hot_acks)) == len(hot_acks), "two acknowledged writes got the same version"
    return counts


class LockWatch:
    """Polls every track lock (the private Redis holds only this test's keys) every 20 ms: the
    longest TTL any had, and for how long each (lock, token) was surely alive: from the answer
    that first showed it to the request that last showed it (a lower bound of its life,
    whatever the delays of this loaded machine)."""

    def __init__(self, client: redis_py.Redis):
        self.client = client
        self.seen: dict[tuple[str, str], list[float]] = {}  # -> [first answer, last request]
        self.max_pttl = 0
        self.without_expiry = 0
        self.stop = threading.Event()

    def run(self, seconds: float = 600):
        deadline = time.monotonic() + seconds
        while not self.stop.is_set() and time.monotonic() < deadline:
            asked = time.monotonic()
            names = list(self.client.scan_iter(match=keys.track_lock("*"), count=1000))
            if names:
                pipe = self.client.pipeline(transaction=False)
                for name in names:
                    pipe.get(name)
                    pipe.pttl(name)
                replies = pipe.execute()
                answered = time.monotonic()
                for name, token, pttl in zip(names, replies[::2], replies[1::2]):
                    if token is None:
                        continue
                    if pttl == -1:
                        self.without_expiry += 1
                    self.max_pttl = max(self.max_pttl, pttl)
                    self.seen.setdefault((name, token), [answered, asked])[1] = asked
            self.stop.wait(0.02)

    def lifetimes(self) -> list[float]:
        return [max(0.0, last - first) for first, last in self.seen.values()]


def test_sigkill_of_a_web_worker_mid_write_loses_nothing_acknowledged(database):
    """50 times: SIGKILL a worker that holds a client's connection (it is mid-request: every
    request here but the probes is a write) while 6 clients write. Then: every acknowledged
    write is there, no track lock lived longer than QL_LOCK_TTL, and right after each kill the
    other workers answer."""
    runs, workers = 50, 6  # 6: replacements boot while the next kills go on
    server = PrivateRedis().start()
    try:
        with Gunicorn(workers=workers, database=database, REDIS_URL=server.url,
                      QL_LOCK_TTL=LOCK_TTL, QL_LOCK_WAIT=2 * LOCK_TTL) as app:
            writers = make_writers(app.url, database.token, 6)
            watch = LockWatch(redis_py.Redis(port=server.port, decode_responses=True, socket_timeout=2))
            stop = threading.Event()
            threads = start_threads([lambda w=w: w.run(stop) for w in writers] + [watch.run])
            probe = requests.Session()
            counts = defaultdict(int)
            booted: set[int] = set()  # workers seen waiting for a connection: their app is loaded
            started = time.monotonic()
            try:
                for _ in range(runs):
                    victim = None

                    def pick():
                        """A worker that is mid-request: seen idle in its accept loop before
                        (booted), not idle now; while at least 2 booted workers are alive."""
                        nonlocal victim
                        alive = child_pids(app.process.pid)
                        idle = {pid for pid in alive if waiting_for_a_connection(pid)}
                        booted.update(idle)
                        ready = [pid for pid in alive if pid in booted]
                        busy = [pid for pid in ready if pid not in idle]
                        if len(ready) >= 2 and busy:
                            victim = random.choice(busy)
                            return True
                        return False

                    wait_until(pick, timeout=60, interval=0.002, what="a booted worker mid-request")
                    try:
                        os.kill(victim, signal.SIGKILL)
                    except ProcessLookupError:
                        counts["victim already gone"] += 1
                        continue
                    counts["kills"] += 1
                    for path in ("/healthz", "/api/tracks/?limit=1"):  # the others answer at once
                        assert probe.get(app.url + path, timeout=5).status_code == 200
                        counts["probes answered"] += 1
            finally:
                stop.set()
                join_all(threads[:-1], timeout=30)
                watch.stop.set()
                join_all(threads[-1:], timeout=10)
            elapsed = time.monotonic() - started
            gunicorn_cpu = cpu_seconds(app.process.pid)
            counts["writes cut by a kill (no answer)"] = sum(w.status["no answer"] for w in writers)
            statuses = defaultdict(int)
            for writer in writers:
                for status, n in writer.status.items():
                    statuses[status] += n
            checked = check_nothing_acknowledged_was_lost(app.url, database.token, writers)
            lifetimes = watch.lifetimes()
            orphaned = [t for t in lifetimes if t > 0.25]  # a write holds its lock for ms
            print(f"\n{runs} runs in {elapsed:.1f}s (gunicorn's CPU, its {runs} worker boots "
                  f"included: {gunicorn_cpu:.0f}s; load average {os.getloadavg()[0]:.1f}): {dict(counts)}; answers {dict(statuses)}; {checked}; "
                  f"locks seen {len(lifetimes)}, orphaned by a kill {len(orphaned)}, longest seen "
                  f"{max(lifetimes, default=0):.2f}s, highest TTL {watch.max_pttl} ms (QL_LOCK_TTL {LOCK_TTL}s)")
            assert counts["kills"] >= runs - 5
            assert counts["writes cut by a kill (no answer)"] >= runs // 2  # the kills did land mid-write
            assert statuses.get(500, 0) == 0
            assert watch.without_expiry == 0 and 0 < watch.max_pttl <= LOCK_TTL * 1000
            assert orphaned, "no kill left a lock behind: the expiry was not exercised"
            assert max(lifetimes) <= LOCK_TTL  # (lower bounds: a lock that outlived its TTL shows)
            assert checked["acknowledged"] >= 10 * runs
    finally:
        server.close()


def test_redis_killed_and_restarted_with_aof_loses_nothing_acknowledged(database):
    """A private redis-server with appendonly yes + appendfsync always, SIGKILLed (no shutdown,
    no last fsync) while 4 clients write, restarted 1.5 s later on its data: every
    acknowledged write is there; while it is down the API answers 503 (no 500, no hang); once
    it is back the service answers again by itself."""
    server = PrivateRedis(appendonly=True).start()
    try:
        with Gunicorn(workers=3, database=database, REDIS_URL=server.url) as app:
            writers = make_writers(app.url, database.token, 4)
            stop = threading.Event()
            threads = start_threads([lambda w=w: w.run(stop) for w in writers])
            probe = requests.Session()
            probe.headers["Authorization"] = f"Token {database.token}"
            counts = defaultdict(int)
            try:
                wait_until(lambda: sum(w.acknowledged() for w in writers) >= 100, timeout=60,
                           what="100 acknowledged writes before the kill")
                acknowledged_before = sum(w.acknowledged() for w in writers)
                server.kill()
                killed = time.monotonic()
                while time.monotonic() - killed < 1.5:  # down: every answer is a fast 503
                    started = time.monotonic()
                    answer = probe.post(app.url + "/api/tracks/", json={"title": "down", "artist": "x"}, timeout=5)
                    assert answer.status_code == 503 and answer.headers["Retry-After"], answer.text
                    assert time.monotonic() - started < 2.5  # not hanging on the dead Redis (connect timeout 0.5 s)
                    counts["503 while down"] += 1
                    time.sleep(0.05)  # the pace of the probes while Redis is down, not a wait
                server.start()  # same port, same AOF
                restarted = time.monotonic()
                wait_until(lambda: probe.get(app.url + "/api/tracks/?limit=1", timeout=5).status_code == 200,
                           timeout=20, what="the service answering again")
                counts["seconds until served again"] = round(time.monotonic() - restarted, 2)
                resumed = sum(w.acknowledged() for w in writers)
                wait_until(lambda: sum(w.acknowledged() for w in writers) >= resumed + 50, timeout=60,
                           what="50 acknowledged writes after the restart")
            finally:
                stop.set()
                join_all(threads, timeout=30)
            statuses = defaultdict(int)
            for writer in writers:
                for status, n in writer.status.items():
                    statuses[status] += n
            checked = check_nothing_acknowledged_was_lost(app.url, database.token, writers)
            print(f"\nredis kill -9 and restart: {dict(counts)}; acknowledged before the kill "
                  f"{acknowledged_before}; writers' answers {dict(statuses)}; {checked}")
            assert counts["503 while down"] >= 3
            assert statuses.get(500, 0) == 0
            assert set(statuses) <= {200, 201, 503, "no answer"}, statuses
            assert checked["acknowledged"] >= acknowledged_before + 50
    finally:
        server.close()


# --- slow clients, through nginx with deploy/nginx.conf ----------------------------------------
SLOW_WORKERS = 2  # gunicorn workers behind nginx here: fewer than the slow clients
BIG_PAGE = "/api/tracks/?limit=500"  # 500 tracks with 10,000-character notes: ~5 MB


class SlowBody:
    """POSTs a track, sending the body 1 byte per second (a thread), the rest at once when
    `finish` is set; `status` is the answer's status code."""

    def __init__(self, port: int, token: str):
        self.body = json.dumps({"title": "slow", "artist": "client"}).encode()
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.sock.sendall(
            b"POST /api/tracks/ HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            + f"Authorization: Token {token}\r\nContent-Length: {len(self.body)}\r\n\r\n".encode())
        self.finish = threading.Event()
        self.sent_slowly = 0
        self.status = None
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        try:
            for byte in range(len(self.body) - 1):
                if self.finish.wait(1.0):
                    break
                self.sock.sendall(self.body[byte:byte + 1])
                self.sent_slowly += 1
            self.sock.sendall(self.body[self.sent_slowly:])
            reply = self.sock.recv(64)
            self.status = int(reply.split()[1]) if reply.startswith(b"HTTP/") else None
        except OSError:
            self.status = None
        finally:
            self.sock.close()

    def close(self):
        self.finish.set()
        self.thread.join(timeout=35)


class NeverReads:
    """GETs a large answer with a 4 KB receive buffer and never reads it."""

    def __init__(self, port: int, path: str = BIG_PAGE):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        self.sock.connect(("127.0.0.1", port))
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())

    def answer_started(self) -> bool:
        """True once the first bytes of the answer wait in the socket (peeked, left unread)."""
        try:
            return bool(self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT))
        except BlockingIOError:
            return False

    def close(self):
        self.sock.close()


def served_meanwhile(url: str, requests_count: int = 10) -> dict:
    """Other clients' requests, one after another: how many answered 200 and the slowest."""
    http = requests.Session()
    answered, slowest = 0, 0.0
    for n in range(requests_count):
        path = "/healthz" if n % 2 else "/api/tracks/?limit=5"
        started = time.monotonic()
        try:
            answered += http.get(url + path, timeout=5).status_code == 200
        except requests.RequestException:
            pass
        slowest = max(slowest, time.monotonic() - started)
    return {"answered": answered, "of": requests_count, "slowest s": round(slowest, 2)}


def slow_clients_in_place(slow: list, stalled: list) -> None:
    """Until every slow sender has sent a byte of its body at 1 byte/s and every client that
    never reads has its answer on the way: the server, or nginx, is holding all of them."""
    wait_until(lambda: all(c.sent_slowly >= 1 for c in slow) and all(c.answer_started() for c in stalled),
               timeout=30, what="the slow clients connected and served")


def blocked(url: str) -> bool:
    """True when a plain /healthz gets no answer within 3 s (every worker is held)."""
    try:
        requests.get(url + "/healthz", timeout=3)
    except requests.Timeout:
        return True
    return False


@pytest.fixture(scope="module")
def big_library(database):
    """A private Redis holding 500 tracks with 10,000-character notes, a gunicorn of
    SLOW_WORKERS workers on it."""
    server = PrivateRedis().start()
    try:
        with Gunicorn(workers=SLOW_WORKERS, database=database, REDIS_URL=server.url) as app:
            def create(count: int):
                http = requests.Session()
                http.headers["Authorization"] = f"Token {database.token}"
                for n in range(count):
                    answer = http.post(app.url + "/api/tracks/", timeout=10,
                                       json={"title": f"big {n}", "artist": "x", "notes": "n" * 10000})
                    assert answer.status_code == 201, answer.text
            join_all(start_threads([lambda: create(125)] * 4), timeout=180)
            size = len(requests.get(app.url + BIG_PAGE, timeout=30).content)
            assert size > 5 * 10**6, size
            yield app
    finally:
        server.close()


@pytest.mark.skipif(nginx_binary() is None, reason="nginx is not installed (scripts/ensure_nginx.py)")
def test_slow_clients_hold_no_worker_behind_nginx(big_library, database):
    """Clients sending their body at 1 byte/s and clients never reading a 5 MB answer, more of
    them than gunicorn has workers: directly against gunicorn they starve everyone else (the
    control); through nginx with deploy/nginx.conf everyone else is served meanwhile, and the
    slow senders get their answer too."""
    app = big_library
    counts = {}

    # Control: straight to gunicorn, as many slow clients as workers hold every worker.
    slow = [SlowBody(app.port, database.token) for _ in range(SLOW_WORKERS)]
    slow_clients_in_place(slow, [])
    counts["direct, slow bodies: others blocked"] = blocked(app.url)
    for client in slow:
        client.close()
    wait_until(lambda: not blocked(app.url), timeout=30, what="gunicorn free again")
    stalled = [NeverReads(app.port) for _ in range(SLOW_WORKERS)]
    slow_clients_in_place([], stalled)
    counts["direct, never reading: others blocked"] = blocked(app.url)
    for client in stalled:
        client.close()
    wait_until(lambda: not blocked(app.url), timeout=30, what="gunicorn free again")

    # Through nginx: twice as many of each as there are workers.
    with Nginx(app.port) as nginx:
        slow = [SlowBody(nginx.port, database.token) for _ in range(2 * SLOW_WORKERS)]
        stalled = [NeverReads(nginx.port) for _ in range(2 * SLOW_WORKERS)]
        slow_clients_in_place(slow, stalled)
        try:
            counts["through nginx, others"] = served_meanwhile(nginx.url)
            time.sleep(max(0.0, 6 - min(c.sent_slowly for c in slow)))  # 1 byte/s for 6 s at least
            counts["through nginx, again"] = served_meanwhile(nginx.url)
            counts["bytes sent at 1 byte/s"] = [c.sent_slowly for c in slow]
        finally:
            for client in slow:
                client.close()
            for client in stalled:
                client.close()
        counts["slow senders' answers"] = [c.status for c in slow]
        print(f"\nslow clients: {counts}")
        assert "[error]" not in nginx.error_log(), nginx.error_log()[-2000:]

    assert counts["direct, slow bodies: others blocked"] and counts["direct, never reading: others blocked"]
    for phase in ("through nginx, others", "through nginx, again"):
        assert counts[phase]["answered"] == counts[phase]["of"], counts
    assert min(counts["bytes sent at 1 byte/s"]) >= 5
    assert counts["slow senders' answers"] == [201] * (2 * SLOW_WORKERS)
