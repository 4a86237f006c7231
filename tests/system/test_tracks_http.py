"""A real gunicorn with 3 workers driven over HTTP: create, read, patch, move, delete."""

import requests

from tests.system.servers import Gunicorn


def test_tracks_round_trip_through_gunicorn(database):
    with Gunicorn(workers=3, database=database) as server:
        http = requests.Session()
        http.headers["Authorization"] = f"Token {database.token}"
        url = server.url + "/api/tracks/"

        created = [http.post(url, json={"title": f"t{i}", "artist": "a"}, timeout=5) for i in range(3)]
        assert [r.status_code for r in created] == [201, 201, 201]
        ids = [r.json()["id"] for r in created]

        for _ in range(6):  # several reads: they land on different workers
            response = requests.get(f"{url}{ids[0]}/", timeout=5)
            assert response.status_code == 200 and response.headers["ETag"] == '"1"'

        patched = http.patch(f"{url}{ids[0]}/", json={"bpm": 126}, headers={"If-Match": '"1"'}, timeout=5)
        assert patched.status_code == 200 and patched.json()["version"] == 2
        for _ in range(6):
            assert requests.get(f"{url}{ids[0]}/", timeout=5).json()["bpm"] == 126

        moved = http.post(f"{url}{ids[2]}/move/", json={"position": 0}, timeout=5)
        assert moved.status_code == 200 and moved.json()["position"] == 0
        for _ in range(6):
            listing = requests.get(url, timeout=5).json()
            assert [t["id"] for t in listing["results"]] == [ids[2], ids[0], ids[1]]

        assert requests.post(url, json={"title": "x", "artist": "y"}, timeout=5).status_code == 401
        assert http.delete(f"{url}{ids[1]}/", timeout=5).status_code == 204
        for _ in range(6):
            assert requests.get(f"{url}{ids[1]}/", timeout=5).status_code == 404
