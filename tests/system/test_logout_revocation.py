"""Logout across instances: two gunicorn instances (2 workers each) on one Redis and one
database. A token got by logging in on A is used on B until every worker of B remembers it
(QL_TOKEN_CACHE_SECONDS is 30 s); the logout on A makes it fail on B within 1 s, every
worker. (The revocation goes on the track caches' invalidation channel: quantumlive/auth.py.)"""

import subprocess
import sys
import time

import pytest
import requests

from tests.system.servers import ROOT, Gunicorn, base_env

PASSWORD = "leaver-Pw-30517"


def make_user(database, username: str) -> None:
    script = ("from django.contrib.auth import get_user_model;"
              f"get_user_model().objects.create_user({username!r}, password={PASSWORD!r})")
    subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT,
                   env=base_env(DATABASE_URL=database.url), check=True, timeout=60, capture_output=True)


@pytest.fixture(scope="module")
def instances(database):
    a = Gunicorn(workers=2, database=database, QL_TOKEN_CACHE_SECONDS=30)
    b = Gunicorn(workers=2, database=database, QL_TOKEN_CACHE_SECONDS=30)
    with a, b:
        yield a, b


def test_a_logout_on_one_instance_stops_the_token_on_the_other_within_a_second(instances, database):
    a, b = instances
    make_user(database, "leaver")
    login = requests.post(f"{a.url}/api/auth/token/", json={"username": "leaver", "password": PASSWORD}, timeout=5)
    assert login.status_code == 200, login.text
    auth = {"Authorization": f"Token {login.json()['token']}"}
    created = requests.post(f"{b.url}/api/tracks/", json={"title": "Last Call", "artist": "Leaver"},
                            headers=auth, timeout=5)
    assert created.status_code == 201, created.text
    track = f"{b.url}/api/tracks/{created.json()['id']}/"
    # every worker of B verifies the token and remembers it (new connections: any worker)
    for _ in range(40):
        assert requests.get(track, headers=auth, timeout=5).status_code == 200

    logout = requests.post(f"{a.url}/api/auth/logout/", headers=auth, timeout=5)
    assert logout.status_code == 204
    done = time.monotonic()
    seen = []  # (seconds after the logout answered, status) of reads on B
    while time.monotonic() - done < 2.0:
        started = time.monotonic() - done
        seen.append((started, requests.get(track, headers=auth, timeout=5).status_code))
        time.sleep(0.005)
    last_ok = max((t for t, status in seen if status == 200), default=None)
    print(f"{len(seen)} reads on B in 2 s after the logout; the last 200 began "
          f"{'never' if last_ok is None else f'{1000 * last_ok:.0f} ms'} after it")
    assert {status for _, status in seen} <= {200, 401}
    late = [status for t, status in seen if t >= 1.0]
    assert len(late) > 20 and set(late) == {401}
    # the other instance's writes refuse it too, and A's
    assert requests.post(f"{b.url}/api/tracks/", json={"title": "x", "artist": "y"}, headers=auth,
                         timeout=5).status_code == 401
    assert requests.get(track.replace(b.url, a.url), headers=auth, timeout=5).status_code == 401
    # a new login gives a new token that works everywhere
    again = requests.post(f"{b.url}/api/auth/token/", json={"username": "leaver", "password": PASSWORD}, timeout=5)
    assert again.status_code == 200 and again.json()["token"] != auth["Authorization"][6:]
    fresh = {"Authorization": f"Token {again.json()['token']}"}
    assert requests.get(track.replace(b.url, a.url), headers=fresh, timeout=5).status_code == 200
    output = a.output() + b.output()
    assert auth["Authorization"][6:] not in output and PASSWORD not in output


def test_a_token_deleted_with_manage_py_is_revoked_on_the_running_instances(instances, database):
    """An operator deletes a token in `manage.py shell`, a process that loads neither the
    URLconf nor the system checks: its revocation reaches the running instances too."""
    a, b = instances
    make_user(database, "operator")
    login = requests.post(f"{a.url}/api/auth/token/", json={"username": "operator", "password": PASSWORD},
                          timeout=5)
    auth = {"Authorization": f"Token {login.json()['token']}"}
    created = requests.post(f"{b.url}/api/tracks/", json={"title": "Ops", "artist": "CLI"}, headers=auth, timeout=5)
    assert created.status_code == 201
    track = f"{b.url}/api/tracks/{created.json()['id']}/"
    for _ in range(40):  # every worker of B remembers the token
        assert requests.get(track, headers=auth, timeout=5).status_code == 200
    script = ("from rest_framework.authtoken.models import Token;"
              "Token.objects.filter(user__username='operator').delete()")
    subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT,
                   env=base_env(DATABASE_URL=database.url), check=True, timeout=60, capture_output=True)
    done = time.monotonic()
    seen = []
    while time.monotonic() - done < 1.5:
        seen.append((time.monotonic() - done, requests.get(track, headers=auth, timeout=5).status_code))
        time.sleep(0.005)
    late = [status for t, status in seen if t >= 1.0]
    assert late and set(late) == {401}, seen[-5:]
