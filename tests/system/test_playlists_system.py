"""Playlists on the production topology (issue 14): two gunicorn instances x 3 workers on one
Redis of the module's own, driven over real HTTP by client threads. Concurrent adds lose
nothing; range reorders racing with inserts and removes under If-Match equal a sequential
replay of what was acknowledged; no read on the other instance is older than an acknowledged
write, also while the workers' pub/sub connections are being killed; deleting a library track
while it is being added to playlists leaves no entry pointing at it.

The Redis is private (PrivateRedis): the test kills its pub/sub connections, which on the
shared Redis would hit other runs. Every loop is bounded in count and in time."""

import itertools
import random
import threading
import time

import pytest
import redis as redis_py
import requests

from tests.system.servers import Gunicorn, PrivateRedis, wait_until

WORKERS = 3
LIMIT = 500  # the largest page


# --- clients ---------------------------------------------------------------------------------
class Client:
    """A thread's HTTP client against a list of instances, alternating between them."""

    def __init__(self, urls: list[str], token: str, offset: int = 0):
        self.urls = itertools.cycle(urls[offset:] + urls[:offset])
        self.http = requests.Session()
        self.http.headers["Authorization"] = f"Token {token}"

    def call(self, method: str, path: str, **kwargs) -> requests.Response:
        return self.http.request(method, next(self.urls) + path, timeout=15, **kwargs)

    def write(self, method: str, path: str, **kwargs) -> requests.Response:
        """A write, sent again while it answers 503 (the lock's wait ran out: nothing changed)."""
        for _ in range(50):
            answer = self.call(method, path, **kwargs)
            if answer.status_code != 503:
                return answer
            assert answer.headers.get("Retry-After"), answer.text
            time.sleep(0.02)
        raise AssertionError(f"{method} {path} answered 503 fifty times")


def run_threads(targets, *, timeout: float):
    errors = []

    def guard(target):
        try:
            target()
        except BaseException as exc:  # reported to the test below
            errors.append(exc)

    threads = [threading.Thread(target=guard, args=(t,), daemon=True) for t in targets]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout
    for thread in threads:
        thread.join(timeout=max(0.1, deadline - time.monotonic()))
    assert not any(t.is_alive() for t in threads), "client threads did not finish in time"
    if errors:
        raise errors[0]


def tag(version: int) -> str:
    return f'"{version}"'


def create_tracks(client: Client, count: int, **fields) -> list[str]:
    ids = []
    for i in range(count):
        answer = client.write("POST", "/api/tracks/", json={"title": f"t{i}", "artist": "a", **fields})
        assert answer.status_code == 201, answer.text
        ids.append(answer.json()["id"])
    return ids


def create_playlist(client: Client, name: str = "set") -> dict:
    answer = client.write("POST", "/api/playlists/", json={"name": name})
    assert answer.status_code == 201, answer.text
    assert answer.json()["version"] == 1 and answer.headers["ETag"] == tag(1)
    return answer.json()


def add(client: Client, playlist_id: str, track_ids: list[str], position: int | None = None,
        version: int | None = None) -> requests.Response:
    body = {"tracks": track_ids}
    if position is not None:
        body["position"] = position
    headers = {} if version is None else {"If-Match": tag(version)}
    return client.write("POST", f"/api/playlists/{playlist_id}/items/", json=body, headers=headers)


def get_playlist(client: Client, playlist_id: str) -> dict:
    answer = client.call("GET", f"/api/playlists/{playlist_id}/")
    assert answer.status_code == 200, answer.text
    assert answer.headers["ETag"] == tag(answer.json()["version"])
    return answer.json()


def read_entries(client: Client, playlist_id: str) -> list[dict]:
    """Every entry, page after page (checked: positions contiguous, count as announced)."""
    entries, offset = [], 0
    while True:
        answer = client.call("GET", f"/api/playlists/{playlist_id}/items/", params={"limit": LIMIT, "offset": offset})
        assert answer.status_code == 200, answer.text
        page = answer.json()
        entries += page["results"]
        if not page["results"] or page["next"] is None:
            break
        offset += LIMIT
    assert [entry["position"] for entry in entries] == list(range(len(entries)))
    assert page["count"] == len(entries)
    return entries


# --- the order as a sequence of acknowledged writes produces it -------------------------------
def replay_insert(order: list[str], position: int | None, entry_ids: list[str]) -> list[str]:
    at = len(order) if position is None or position > len(order) else position
    return order[:at] + entry_ids + order[at:]


def replay_reorder(order: list[str], start: int, length: int, before: int) -> list[str]:
    """Spotify's reorder: the `length` entries from `start` go before the entry that was at
    `before` (len: to the end); a `before` inside the range (or just past it) moves nothing."""
    if start <= before <= start + length:
        return list(order)
    moved = order[start:start + length]
    anchor = order[before] if before < len(order) else None
    rest = order[:start] + order[start + length:]
    at = rest.index(anchor) if anchor is not None else len(rest)
    return rest[:at] + moved + rest[at:]


def replay_remove(order: list[str], entry_ids: list[str]) -> list[str]:
    gone = set(entry_ids)
    assert gone <= set(order), "the replay removes entries that were not there"
    return [entry for entry in order if entry not in gone]


def replay(order: list[str], operations: list[tuple]) -> list[str]:
    for kind, *arguments in operations:
        order = {"insert": replay_insert, "reorder": replay_reorder, "remove": replay_remove}[kind](order, *arguments)
    return order


# --- the topology ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def topology(database):
    """A Redis of the module's own and two instances on it: (admin client, [url A, url B])."""
    server = PrivateRedis().start()
    one = Gunicorn(workers=WORKERS, database=database, REDIS_URL=server.url)
    two = Gunicorn(workers=WORKERS, database=database, REDIS_URL=server.url)
    try:
        with one, two:
            yield redis_py.Redis(port=server.port, socket_timeout=5, decode_responses=True), [one.url, two.url]
    finally:
        server.close()


@pytest.fixture
def urls(topology):
    return topology[1]


# --- 1. concurrent adds ------------------------------------------------------------------------
def test_twenty_clients_adding_at_once_lose_no_entry(urls, database):
    seeder = Client(urls, database.token)
    tracks = create_tracks(seeder, 10)
    playlist = create_playlist(seeder)
    start = threading.Barrier(20)
    acked: list[tuple[int, int | None, list[str], list[str]]] = []  # (version, position, entries, tracks)
    lock = threading.Lock()

    def adder(number: int):
        client = Client(urls, database.token, offset=number % 2)
        rng = random.Random(number)
        start.wait(timeout=30)
        for step in range(3):
            chosen = [rng.choice(tracks) for _ in range(1 + (number + step) % 3)]  # repeats allowed
            position = 0 if (number + step) % 4 == 0 else None  # at the start, else at the end
            answer = add(client, playlist["id"], chosen, position)
            assert answer.status_code == 201, answer.text
            body = answer.json()
            assert [entry["track"]["id"] for entry in body["entries"]] == chosen
            with lock:
                acked.append((body["version"], position, [entry["entry"] for entry in body["entries"]], chosen))

    run_threads([lambda n=n: adder(n) for n in range(20)], timeout=60)

    assert sorted(version for version, *_ in acked) == list(range(2, 2 + 60)), "two adds answered one version"
    final = get_playlist(seeder, playlist["id"])
    entries = read_entries(seeder, playlist["id"])
    added = [entry for _, _, entry_ids, _ in acked for entry in entry_ids]
    assert len(added) == len(set(added))
    assert {entry["entry"] for entry in entries} == set(added) and len(entries) == len(added)
    assert final["tracks"] == len(entries) and final["version"] == 1 + len(acked)
    # the order is the adds' in the order of the versions they answered, each add's entries
    # together and in the order sent
    expected = replay([], [("insert", position, entry_ids) for _, position, entry_ids, _ in sorted(acked)])
    assert [entry["entry"] for entry in entries] == expected
    track_of = {entry: track for _, _, entry_ids, chosen in acked for entry, track in zip(entry_ids, chosen)}
    assert all(entry["track"]["id"] == track_of[entry["entry"]] for entry in entries)
    for other in (Client(urls, database.token), Client(urls, database.token, offset=1)):  # both instances
        assert [entry["entry"] for entry in read_entries(other, playlist["id"])] == expected


# --- 2. reorders racing with inserts and removes, under If-Match --------------------------------
def test_racing_reorders_inserts_and_removes_equal_a_replay_of_what_was_acknowledged(urls, database):
    seeder = Client(urls, database.token)
    tracks = create_tracks(seeder, 8)
    playlist = create_playlist(seeder)
    path = f"/api/playlists/{playlist['id']}"
    seeded = add(seeder, playlist["id"], [tracks[i % len(tracks)] for i in range(30)], version=1)
    assert seeded.status_code == 201 and seeded.json()["version"] == 2, seeded.text
    initial = [entry["entry"] for entry in seeded.json()["entries"]]
    acked: list[tuple[int, tuple]] = []  # (the version the write produced, the operation)
    counts = {"412": 0, "writes": 0, "versions told": 0, "versions derived": 0}
    lock = threading.Lock()

    def operate(number: int):
        client = Client(urls, database.token, offset=number % 2)
        rng = random.Random(100 + number)
        for _ in range(12):
            for _attempt in range(200):
                # the version first, then the entries: a write conditioned on that version lands
                # only if nothing changed since, so then the entries read are those of it
                seen = get_playlist(client, playlist["id"])["version"]
                order = [entry["entry"] for entry in read_entries(client, playlist["id"])]
                n = len(order)
                roll = rng.random()
                if n >= 2 and roll < 0.5:
                    start = rng.randrange(n)
                    length = rng.randint(1, min(4, n - start))
                    before = rng.randint(0, n)
                    operation = ("reorder", start, length, before)
                    answer = client.write("POST", f"{path}/reorder/", headers={"If-Match": tag(seen)}, json={
                        "range_start": start, "range_length": length, "insert_before": before})
                elif n <= 10 or roll < 0.75:
                    chosen = [rng.choice(tracks) for _ in range(rng.randint(1, 3))]
                    position = rng.choice([None, 0, rng.randint(0, n), n + 5])
                    answer = add(client, playlist["id"], chosen, position, version=seen)
                    operation = None
                    if answer.status_code == 201:
                        operation = ("insert", position, [entry["entry"] for entry in answer.json()["entries"]])
                elif roll < 0.88:
                    entry = rng.choice(order)
                    operation = ("remove", [entry])
                    answer = client.write("DELETE", f"{path}/items/{entry}/", headers={"If-Match": tag(seen)})
                else:
                    chosen = rng.sample(order, 2)
                    operation = ("remove", chosen)
                    answer = client.write("POST", f"{path}/items/remove/", json={"entries": chosen},
                                          headers={"If-Match": tag(seen)})
                if answer.status_code == 412:
                    with lock:
                        counts["412"] += 1
                    continue
                assert 200 <= answer.status_code < 300, (operation, answer.status_code, answer.text)
                produced = told_version(answer)
                # If-Match held: the write applied to version `seen` and produced the next one
                with lock:
                    counts["versions told" if produced is not None else "versions derived"] += 1
                assert produced in (None, seen + 1), (operation, seen, produced)
                with lock:
                    acked.append((seen + 1, operation))
                    counts["writes"] += 1
                break
            else:
                raise AssertionError("a write never landed")

    run_threads([lambda n=n: operate(n) for n in range(6)], timeout=75)

    versions = sorted(version for version, _ in acked)
    assert versions == list(range(3, 3 + len(acked))), "an acknowledged write was lost or answered twice"
    final = get_playlist(seeder, playlist["id"])
    assert final["version"] == 2 + len(acked)
    expected = replay(initial, [operation for _, operation in sorted(acked, key=lambda pair: pair[0])])
    for client in (Client(urls, database.token), Client(urls, database.token, offset=1)):  # both instances
        assert [entry["entry"] for entry in read_entries(client, playlist["id"])] == expected
    assert final["tracks"] == len(expected)
    print(counts)
    assert counts["412"] > 0, "the clients never raced"


def told_version(answer: requests.Response) -> int | None:
    """The version a 2xx write answer says it produced (its body's, else its ETag: a 204 of
    an entry's removal carries it), or None."""
    if answer.status_code != 204 and answer.content:
        body = answer.json()
        if isinstance(body, dict) and isinstance(body.get("version"), int):
            return body["version"]
    etag = answer.headers.get("ETag")
    return int(etag.strip('W/"')) if etag else None


# --- 3. no stale read on the other instance, also while subscriptions are killed ----------------
def _subscribers(admin: redis_py.Redis) -> int:
    from quantumlive import keys

    channel = keys.invalidation_channel()
    return dict(admin.pubsub_numsub(channel)).get(channel, 0)


def test_no_stale_playlist_or_entry_page_on_the_other_instance_while_subscriptions_are_killed(topology, database):
    admin, urls = topology
    wait_until(lambda: _subscribers(admin) == 2 * WORKERS, timeout=30, what="every worker subscribed")
    seeder = Client(urls, database.token)
    tracks = create_tracks(seeder, 6, duration=200.0)
    playlists = []
    for number in range(2):
        playlist = create_playlist(seeder, f"live {number}")
        answer = add(seeder, playlist["id"], [tracks[i % len(tracks)] for i in range(12)])
        assert answer.status_code == 201, answer.text
        playlists.append((playlist["id"], answer.json()["version"], [e["entry"] for e in answer.json()["entries"]]))
    stop = threading.Event()
    counts = {"playlist writes": 0, "title writes": 0, "chased reads": 0, "killed": 0}
    lock = threading.Lock()

    def chase(chaser: Client, playlist_id: str, version: int, order: list[str], titles: dict[str, str]):
        """The reads the other instance serves the moment a write has answered: the playlist
        (and its ETag, against If-None-Match of the version before) and every entry."""
        answer = chaser.call("GET", f"/api/playlists/{playlist_id}/", headers={"If-None-Match": tag(version - 1)})
        assert answer.status_code == 200, f"{answer.status_code}: a 304 for the version before the write"
        assert answer.json()["version"] == version and answer.headers["ETag"] == tag(version)
        entries = read_entries(chaser, playlist_id)
        assert [entry["entry"] for entry in entries] == order, "a stale entry page"
        for entry in entries:
            assert entry["track"]["title"] == titles[entry["track"]["id"]], "a stale track in an entry"
        with lock:
            counts["chased reads"] += 1

    titles = {track_id: f"t{i}" for i, track_id in enumerate(tracks)}
    titles_lock = threading.Lock()  # a title writer and the playlist writers read `titles`

    def playlist_writer(number: int):
        playlist_id, version, order = playlists[number]
        writer = Client([urls[number % 2]], database.token)
        chaser = Client([urls[(number + 1) % 2]], database.token)
        rng = random.Random(number)
        path = f"/api/playlists/{playlist_id}"
        for step in range(40):
            if stop.is_set():
                return
            n = len(order)
            kind = step % 3
            if kind == 0 or n < 4:
                track_id = rng.choice(tracks)
                position = rng.randint(0, n)
                answer = add(writer, playlist_id, [track_id], position, version=version)
                assert answer.status_code == 201, answer.text
                order = replay_insert(order, position, [answer.json()["entries"][0]["entry"]])
                produced = answer.json()["version"]
            elif kind == 1:
                start = rng.randrange(n - 1)
                length = rng.randint(1, min(3, n - start))
                before = rng.choice([0, n] + list(range(n)))
                answer = writer.write("POST", f"{path}/reorder/", headers={"If-Match": tag(version)},
                                      json={"range_start": start, "range_length": length, "insert_before": before})
                assert answer.status_code == 200, answer.text
                order = replay_reorder(order, start, length, before)
                produced = answer.json()["version"]
            else:
                entry = rng.choice(order)
                answer = writer.write("DELETE", f"{path}/items/{entry}/", headers={"If-Match": tag(version)})
                assert answer.status_code == 204, answer.text
                order = replay_remove(order, [entry])
                produced = told_version(answer)  # its ETag
            assert produced == version + 1, (version, produced)
            version = produced
            with lock:
                counts["playlist writes"] += 1
            with titles_lock:
                chase(chaser, playlist_id, version, order, dict(titles))

    def title_writer():
        """PATCHes the title of a track both playlists hold, then reads the entry pages on the
        other instance: their tracks come from the per-process track cache."""
        for step in range(30):
            if stop.is_set():
                return
            writer = Client([urls[step % 2]], database.token)
            chaser = Client([urls[(step + 1) % 2]], database.token)
            track_id = tracks[step % len(tracks)]
            with titles_lock:
                title = f"renamed {step}"
                answer = writer.write("PATCH", f"/api/tracks/{track_id}/", json={"title": title})
                assert answer.status_code == 200, answer.text
                titles[track_id] = title
                with lock:
                    counts["title writes"] += 1
                for playlist_id, _, _ in playlists:
                    entries = read_entries(chaser, playlist_id)
                    shown = {entry["track"]["title"] for entry in entries if entry["track"]["id"] == track_id}
                    assert shown <= {title}, f"a stale title on the other instance: {shown}"
            time.sleep(0.05)

    def killer():
        while not stop.wait(0.25):
            with lock:
                counts["killed"] += admin.client_kill_filter(_type="pubsub")

    workers = [lambda n=n: playlist_writer(n) for n in range(2)] + [title_writer]
    done = threading.Event()

    def writers_then_stop():
        try:
            run_threads(workers, timeout=70)
        finally:
            stop.set()
            done.set()

    run_threads([writers_then_stop, killer], timeout=80)
    print(counts)
    assert counts["playlist writes"] == 80 and counts["title writes"] == 30
    assert counts["killed"] >= 2 * WORKERS, "the subscriptions were not killed"
    wait_until(lambda: _subscribers(admin) == 2 * WORKERS, timeout=30, what="subscribers back")


# --- 4. a library track deleted while it is being added ----------------------------------------
def test_deleting_a_library_track_racing_with_adds_of_it_leaves_no_entry_of_it(topology, database):
    admin, urls = topology
    seeder = Client(urls, database.token)
    victims = create_tracks(seeder, 24, title="victim")
    keepers = create_tracks(seeder, 3, title="keeper")
    playlists = [create_playlist(seeder, f"crate {i}")["id"] for i in range(3)]
    deleted: list[str] = []
    results = {"201": [], "400": []}  # (playlist, [(entry, track)]), (playlist, requested, text)
    lock = threading.Lock()
    stop = threading.Event()

    def adder(number: int):
        client = Client(urls, database.token, offset=number % 2)
        rng = random.Random(200 + number)
        for _ in range(400):
            if stop.is_set():
                return
            playlist_id = rng.choice(playlists)
            chosen = rng.sample(victims, rng.randint(1, 2)) + ([rng.choice(keepers)] if rng.random() < 0.5 else [])
            rng.shuffle(chosen)
            answer = add(client, playlist_id, chosen)
            with lock:
                if answer.status_code == 201:
                    entries = [(entry["entry"], entry["track"]["id"]) for entry in answer.json()["entries"]]
                    assert [track for _, track in entries] == chosen
                    results["201"].append((playlist_id, entries))
                else:
                    assert answer.status_code == 400, answer.text
                    results["400"].append((playlist_id, chosen, answer.text))

    def deleter():
        client = Client(urls, database.token)
        time.sleep(0.5)  # the adds are under way
        for track_id in victims:
            answer = client.write("DELETE", f"/api/tracks/{track_id}/")
            assert answer.status_code == 204, answer.text
            with lock:
                deleted.append(track_id)
            time.sleep(0.1)
        time.sleep(0.5)  # and adds of tracks that are all gone
        stop.set()

    # 8 adders on 3 playlists: they queue for the playlists' locks, which widens the window
    # between an add's check of its tracks and its insert, where a deletion can fall
    run_threads([lambda n=n: adder(n) for n in range(8)] + [deleter], timeout=60)
    assert sorted(deleted) == sorted(victims)

    # Redis itself first: the read path leaves out (and cleans up) entries of vanished tracks,
    # so pages alone would hide an entry the deletion missed.
    from quantumlive import keys

    gone = set(victims)
    for playlist_id in playlists:
        records = admin.hgetall(keys.playlist_entries(playlist_id))
        left = [entry for entry, value in records.items() if value.split(" ", 1)[0] in gone]
        assert not left, f"{len(left)} entries of deleted tracks left in playlist {playlist_id}"
        assert admin.zcard(keys.playlist_order(playlist_id)) == len(records)

    expected = {playlist_id: set() for playlist_id in playlists}
    for playlist_id, entries in results["201"]:
        expected[playlist_id] |= {entry for entry, track in entries if track not in gone}
    for playlist_id in playlists:
        for client in (Client(urls, database.token), Client(urls, database.token, offset=1)):
            entries = read_entries(client, playlist_id)
            assert {entry["track"]["id"] for entry in entries} <= set(keepers)
            # every 201's entries of surviving tracks are there; nothing else (a 400 added nothing)
            found = {entry["entry"] for entry in entries}
            assert not found - expected[playlist_id], (
                f"{len(found - expected[playlist_id])} entries that no 201 answered for (left by an add that "
                "answered 400?)")
            assert not expected[playlist_id] - found, f"{len(expected[playlist_id] - found)} acknowledged entries lost"
            assert get_playlist(client, playlist_id)["tracks"] == len(entries)
    for playlist_id, chosen, text in results["400"]:
        assert any(track_id in text for track_id in set(chosen) & gone), f"a 400 not naming a deleted track: {text}"
    raced = sum(1 for _, entries in results["201"] if any(track in gone for _, track in entries))
    print({"201": len(results["201"]), "201 with a deleted track": raced, "400": len(results["400"])})
    assert results["400"] and raced, "the adds did not race with the deletions"
