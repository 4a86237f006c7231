"""Login and logout (API.md, "Browser clients and observability"): POST /api/auth/token/
gives the user's token; bad bodies are 400s; wrong credentials one 400 whoever the user; brute
force is throttled per username (failures) and per address (every attempt) in Redis before
any password is checked; POST /api/auth/logout/ deletes the token, and every process forgets
it within a second (the revocation on the track caches' invalidation channel), also when its
subscriber was disconnected meanwhile."""

import hashlib
import threading
import time

import pytest
from rest_framework.authtoken.models import Token

from quantumlive import auth, keys
from quantumlive.redis_conn import get_redis
from tests.system.servers import wait_until

pytestmark = pytest.mark.django_db

LOGIN = "/api/auth/token/"
LOGOUT = "/api/auth/logout/"
PASSWORD = "pw-dj-123456"  # the `user` fixture's


def login(client, username="dj", password=PASSWORD, **extra):
    return client.post(LOGIN, {"username": username, "password": password}, format="json", **extra)


def with_token(key):
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


def create_track(client) -> str:
    response = client.post("/api/tracks/", {"title": "a", "artist": "b"}, format="json")
    assert response.status_code == 201, response.content
    return f"/api/tracks/{response.json()['id']}/"


# --- login ----------------------------------------------------------------------------------------
def test_login_gives_the_users_token_and_the_same_one_again(anon, user):
    first = login(anon)
    assert first.status_code == 200 and set(first.json()) == {"token"}
    key = first.json()["token"]
    assert Token.objects.get(user=user).key == key
    assert login(anon).json() == {"token": key}
    assert create_track(with_token(key))


def test_an_existing_token_is_the_one_given(anon, token):
    assert login(anon).json() == {"token": token}


@pytest.mark.parametrize("body, field", [
    ({"username": "dj"}, "password"),
    ({"password": PASSWORD}, "username"),
    ({"username": "dj", "password": PASSWORD, "remember": True}, "remember"),
    ({"username": 42, "password": PASSWORD}, "username"),
    ({"username": "dj", "password": ["pw"]}, "password"),
    ({"username": "dj", "password": None}, "password"),
    ({"username": "", "password": PASSWORD}, "username"),
    ({"username": "d" * 151, "password": PASSWORD}, "username"),
    ({"username": "dj", "password": "p" * 1025}, "password"),
])
def test_a_malformed_login_is_a_400_naming_the_field(anon, user, body, field):
    response = anon.post(LOGIN, body, format="json")
    assert response.status_code == 400 and field in response.json(), response.content
    assert not Token.objects.exists()


def test_a_login_body_that_is_not_a_json_object_is_a_400(anon, user):
    for body in ("[]", '"dj"', "{", '{"username": "dj", "password": NaN}'):
        response = anon.generic("POST", LOGIN, body, content_type="application/json")
        assert response.status_code == 400, body


def test_wrong_credentials_get_one_answer_whether_or_not_the_user_exists(anon, user, django_user_model):
    django_user_model.objects.create_user("retired", password=PASSWORD, is_active=False)
    answers = [login(anon, password="wrong"), login(anon, username="nobody"), login(anon, username="retired"),
               login(anon, username="DJ")]
    assert {a.status_code for a in answers} == {400}
    assert len({a.content for a in answers}) == 1
    assert answers[0].json() == {"non_field_errors": ["Unable to log in with the given username and password."]}
    assert not Token.objects.exists()


def test_login_ignores_a_bad_token_and_a_session(anon, user):
    anon.credentials(HTTP_AUTHORIZATION="Token not-a-token")
    assert login(anon).status_code == 200
    from rest_framework.test import APIClient

    session = APIClient(enforce_csrf_checks=True)
    session.force_login(user)
    assert login(session).status_code == 200  # no CSRF 403: the login reads no session


# --- brute force ------------------------------------------------------------------------------------
def test_failed_attempts_on_one_username_are_throttled_before_the_password_is_checked(anon, user, settings):
    settings.QL_THROTTLE_LOGIN_USER = "3/min"
    settings.QL_THROTTLE_LOGIN_ADDRESS = "off"
    assert [login(anon, password=f"guess{n}").status_code for n in range(3)] == [400, 400, 400]
    refused = login(anon)  # the right password, too late
    assert refused.status_code == 429 and 1 <= int(refused["Retry-After"]) <= 60
    assert "detail" in refused.json()
    assert login(anon, username="DJ").status_code == 429  # the same name, however spelt
    assert login(anon, username="someone-else").status_code == 400  # other names are not held up


def test_successful_logins_do_not_count_against_the_username(anon, user, settings):
    settings.QL_THROTTLE_LOGIN_USER = "2/min"
    settings.QL_THROTTLE_LOGIN_ADDRESS = "off"
    assert {login(anon).status_code for _ in range(6)} == {200}
    assert [login(anon, password="x").status_code for _ in range(3)] == [400, 400, 429]


def test_every_attempt_counts_per_address_and_addresses_are_apart(anon, user, settings):
    settings.QL_THROTTLE_LOGIN_USER = "off"
    settings.QL_THROTTLE_LOGIN_ADDRESS = "3/min"
    statuses = [login(anon, username=name).status_code for name in ("dj", "a", "b", "c")]
    assert statuses == [200, 400, 400, 429]
    assert login(anon, REMOTE_ADDR="10.9.8.7").status_code == 200
    # X-Forwarded-For is not trusted without proxies in front (QL_NUM_PROXIES=0)
    assert login(anon, HTTP_X_FORWARDED_FOR="10.1.1.1").status_code == 429


def test_parallel_guesses_do_not_pass_the_limit(user, settings):
    from rest_framework.test import APIClient

    settings.QL_THROTTLE_LOGIN_USER = "4/min"
    settings.QL_THROTTLE_LOGIN_ADDRESS = "off"
    from quantumlive.throttles import LoginAttempt
    from rest_framework.exceptions import Throttled
    from rest_framework.test import APIRequestFactory

    request = APIRequestFactory().post(LOGIN)
    outcomes = []

    def guess():
        try:
            LoginAttempt.begin(request, "dj")
            outcomes.append("counted")
        except Throttled:
            outcomes.append("throttled")

    threads = [threading.Thread(target=guess) for _ in range(12)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(10)
    assert sorted(outcomes) == ["counted"] * 4 + ["throttled"] * 8
    assert login(APIClient()).status_code == 429


def test_the_throttle_keys_name_neither_the_username_nor_the_address(anon, user, settings):
    settings.QL_THROTTLE_LOGIN_USER = "5/min"
    settings.QL_THROTTLE_LOGIN_ADDRESS = "20/min"
    login(anon, username="zoe-the-guesser", password="x", REMOTE_ADDR="10.77.66.55")
    names = keys.keys_of_prefix(get_redis(), settings.QL_REDIS_PREFIX)
    login_keys = [name for name in names if ":login:" in name]
    assert len(login_keys) == 2
    assert not any("zoe" in name for name in names)
    assert not any("10.77" in name for name in login_keys)  # (the anonymous throttle's key has it)
    assert all(0 < get_redis().pttl(name) <= 60_000 for name in login_keys)


# --- logout -------------------------------------------------------------------------------------------
def test_logout_deletes_the_callers_token(anon, user):
    key = login(anon).json()["token"]
    client = with_token(key)
    url = create_track(client)
    assert client.get(url).status_code == 200
    response = client.post(LOGOUT)
    assert response.status_code == 204 and response.content == b""
    assert not Token.objects.filter(key=key).exists()
    assert client.get(url).status_code == 401  # at once in this process, the hot read too
    assert client.post(LOGOUT).status_code == 401
    new_key = login(anon).json()["token"]
    assert new_key != key and with_token(new_key).get(url).status_code == 200


def test_logout_needs_a_token(anon, user):
    assert anon.post(LOGOUT).status_code == 401
    from rest_framework.test import APIClient

    session = APIClient()
    session.force_login(user)
    assert session.post(LOGOUT).status_code == 401  # a session has no token to delete
    assert with_token("0" * 40).post(LOGOUT).status_code == 401


def test_logout_refuses_a_body_with_fields(api, token):
    assert api.post(LOGOUT, {"everywhere": True}, format="json").status_code == 400
    assert Token.objects.filter(key=token).exists()


def remembered_after_a_read(api, url, token):
    """Reads until this process remembers the token (on a loaded machine the subscriber may
    not vouch at the first read: the token is then read from the database again)."""
    wait_until(lambda: api.get(url).status_code == 200 and auth.remembered(token) is not None,
               timeout=5, what="the token remembered")


def wait_subscribed():
    from tracks.cache import process_cache

    cache = process_cache()
    wait_until(lambda: cache.subscriber.vouch is not None, timeout=5, what="the subscriber vouches")
    return cache


def test_the_revocation_names_the_token_by_its_hash_only(api, token):
    pubsub = get_redis().pubsub()
    pubsub.subscribe(keys.invalidation_channel())
    wait_until(lambda: pubsub.get_message(timeout=0.1), timeout=5, what="subscribed")
    assert api.post(LOGOUT).status_code == 204
    message = wait_until(lambda: pubsub.get_message(timeout=0.1), timeout=5, what="the revocation")
    pubsub.close()
    assert token not in message["data"]
    assert f" token:{hashlib.sha256(token.encode()).hexdigest()} " in message["data"]


def test_a_revocation_published_by_another_instance_is_applied_within_a_second(api, token):
    """What another instance's logout (or admin, or manage.py) publishes: this process's
    subscriber hears it on the channel and forgets the token."""
    from tracks.store import cache_invalidate

    url = create_track(api)
    wait_subscribed()
    remembered_after_a_read(api, url, token)  # the next read is the hot one, from memory
    Token.objects.filter(key=token).delete()  # (in the test's transaction: nothing published)
    started = time.monotonic()
    cache_invalidate(groups=[auth.REVOKED_PREFIX + hashlib.sha256(token.encode()).hexdigest()])
    wait_until(lambda: auth.remembered(token) is None, timeout=1, interval=0.005, what="the token forgotten")
    print(f"forgotten after {1000 * (time.monotonic() - started):.1f} ms")
    assert api.get(url).status_code == 401


def test_a_token_deleted_through_the_orm_is_published_once_committed(api, token, django_capture_on_commit_callbacks):
    """The admin, manage.py or a user's deletion: the post_delete signal publishes the
    revocation after the commit (before it, another process could read the token again)."""
    url = create_track(api)
    assert api.get(url).status_code == 200
    pubsub = get_redis().pubsub()
    pubsub.subscribe(keys.invalidation_channel())
    wait_until(lambda: pubsub.get_message(timeout=0.1), timeout=5, what="subscribed")
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        user = Token.objects.get(key=token).user
        user.delete()  # its token goes with it
    assert pubsub.get_message(timeout=0.2) is None  # nothing before the commit
    for callback in callbacks:
        callback()
    message = wait_until(lambda: pubsub.get_message(timeout=0.1), timeout=5, what="the revocation")
    pubsub.close()
    assert f" token:{hashlib.sha256(token.encode()).hexdigest()} " in message["data"]
    assert auth.remembered(token) is None and api.get(url).status_code == 401


def test_a_token_is_not_trusted_while_the_subscriber_cannot_vouch(api, token):
    """Its connection killed: a revocation published meanwhile would be lost. Deleting the
    token without a publication stands for that: once the subscriber knows it is cut off, the
    token is read from the database again (401), well within a second."""
    url = create_track(api)
    cache = wait_subscribed()
    remembered_after_a_read(api, url, token)
    redis = get_redis()
    [connection] = [c for c in redis.client_list() if c["name"] == cache.name]
    redis.client_kill_filter(_id=connection["id"])
    Token.objects.filter(key=token).delete()  # in the test's transaction: nothing published
    started = time.monotonic()
    wait_until(lambda: auth.remembered(token) is None, timeout=1, interval=0.01, what="the token untrusted")
    print(f"untrusted after {1000 * (time.monotonic() - started):.1f} ms")
    assert api.get(url).status_code == 401


def test_a_subscriber_that_stops_applying_messages_stops_vouching(api, token):
    url = create_track(api)
    cache = wait_subscribed()
    remembered_after_a_read(api, url, token)
    with cache.subscriber.drain_lock:  # its loop is stuck (nothing is applied)
        time.sleep(auth.VOUCH_SECONDS + 0.05)
        assert auth.remembered(token) is None
    wait_until(lambda: auth.remembered(token) is not None, timeout=5, what="trusted again")


def test_a_verification_that_overlaps_a_revocation_is_not_remembered(api, token, monkeypatch):
    from rest_framework.authentication import TokenAuthentication

    url = create_track(api)
    wait_subscribed()
    real = TokenAuthentication.authenticate_credentials

    def revoked_meanwhile(self, key):
        found = real(self, key)  # read before the deletion...
        auth._revoked(hashlib.sha256(key.encode()).hexdigest())  # ...whose revocation is applied now
        return found

    monkeypatch.setattr(TokenAuthentication, "authenticate_credentials", revoked_meanwhile)
    auth.forget_all()
    assert api.get(url).status_code == 200
    assert auth.remembered(token) is None


def test_deactivating_a_user_revokes_their_tokens_everywhere(api, token, user, django_capture_on_commit_callbacks):
    url = create_track(api)
    remembered_after_a_read(api, url, token)
    pubsub = get_redis().pubsub()
    pubsub.subscribe(keys.invalidation_channel())
    wait_until(lambda: pubsub.get_message(timeout=0.1), timeout=5, what="subscribed")
    with django_capture_on_commit_callbacks(execute=True):
        user.is_active = False
        user.save()
    message = wait_until(lambda: pubsub.get_message(timeout=0.1), timeout=5, what="the revocation")
    pubsub.close()
    assert f" token:{hashlib.sha256(token.encode()).hexdigest()} " in message["data"]
    assert auth.remembered(token) is None and api.get(url).status_code == 401
    assert Token.objects.filter(key=token).exists()  # kept: reactivated, the user may use it again
