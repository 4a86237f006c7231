"""The YouTube table of API.md."""

import threading
import time

import pytest

pytestmark = pytest.mark.django_db
URL = "/api/youtube/"
VIDEO = "dQw4w9WgXcQ"
CANONICAL = f"https://www.youtube.com/watch?v={VIDEO}"


@pytest.mark.parametrize("form", [
    f"https://www.youtube.com/watch?v={VIDEO}",
    f"http://youtube.com/watch?v={VIDEO}&t=42s",
    f"youtube.com/watch?v={VIDEO}",
    f"www.youtube.com/watch?feature=share&v={VIDEO}",
    f"https://m.youtube.com/watch?v={VIDEO}",
    f"https://music.youtube.com/watch?v={VIDEO}&list=RDAMVM",
    f"https://youtu.be/{VIDEO}",
    f"youtu.be/{VIDEO}?si=abc",
    f"https://www.youtube.com/shorts/{VIDEO}",
    f"https://www.youtube.com/embed/{VIDEO}",
    f"https://www.youtube-nocookie.com/embed/{VIDEO}",
    f"youtube-nocookie.com/embed/{VIDEO}",
    VIDEO,
    f"  {VIDEO}  ",
])
def test_every_accepted_form_adds_the_canonical_url(api, form):
    response = api.post(URL, {"url": form}, format="json")
    assert response.status_code == 201, response.content
    item = response.json()
    assert item["video_id"] == VIDEO and item["url"] == CANONICAL and item["added"].endswith("Z")


@pytest.mark.parametrize("form", [
    "https://vimeo.com/12345", "https://www.youtube.com/watch?v=short", "not a link", "",
    "https://www.youtube.com/", "https://evil.com/watch?v=dQw4w9WgXcQ",
    "ftp://youtube.com/watch?v=dQw4w9WgXcQ", "https://youtu.be/", "dQw4w9WgXcQx",
    "https://www.youtube.com/channel/dQw4w9WgXcQ",
])
def test_anything_else_is_400_and_adds_nothing(api, form):
    response = api.post(URL, {"url": form}, format="json")
    assert response.status_code == 400
    assert "url" in response.json()
    assert api.get(URL).json() == {"count": 0, "results": []}


@pytest.mark.parametrize("body", [{}, {"url": 5}, {"url": VIDEO, "x": 1}, {"url": None}])
def test_a_bad_body_is_400(api, body):
    assert api.post(URL, body, format="json").status_code == 400


def test_adding_a_listed_video_answers_200_with_the_existing_item(api):
    first = api.post(URL, {"url": VIDEO}, format="json").json()
    again = api.post(URL, {"url": f"https://youtu.be/{VIDEO}"}, format="json")
    assert again.status_code == 200 and again.json() == first
    assert api.get(URL).json()["count"] == 1


def test_twenty_concurrent_adds_give_exactly_one_created(api):
    """The store's add is atomic: 20 threads adding one video, each on its own connection."""
    from quantumlive.redis_conn import get_redis
    from tracks import youtube

    get_redis()  # the process's client exists before the threads share it
    created, barrier = [], threading.Barrier(20)

    def add():
        barrier.wait(timeout=10)
        created.append(youtube.youtube_add(video_id=VIDEO)[1])

    threads = [threading.Thread(target=add) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(created) == [False] * 19 + [True]
    assert api.get(URL).json()["count"] == 1


def test_list_is_in_the_order_added(api, anon):
    for video in ("aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc"):
        api.post(URL, {"url": video}, format="json")
    listing = anon.get(URL).json()
    assert listing["count"] == 3
    assert [item["video_id"] for item in listing["results"]] == ["aaaaaaaaaaa", "bbbbbbbbbbb", "ccccccccccc"]


def test_delete_removes_and_a_readd_gets_a_new_added_time(api):
    first = api.post(URL, {"url": VIDEO}, format="json").json()
    assert api.delete(f"{URL}{VIDEO}/").status_code == 204
    assert api.get(URL).json()["count"] == 0
    time.sleep(0.002)  # the scenario: a later time; `added` has millisecond resolution
    again = api.post(URL, {"url": VIDEO}, format="json")
    assert again.status_code == 201 and again.json()["added"] != first["added"]


@pytest.mark.parametrize("video_id", [VIDEO, "bad", "x" * 12])
def test_delete_of_an_absent_or_invalid_id_is_404(api, video_id):
    assert api.delete(f"{URL}{video_id}/").status_code == 404


def test_compact_removes_repeats_from_seed_imports_keeping_the_first(api):
    from tracks import youtube

    youtube.youtube_import(video_id="aaaaaaaaaaa", occurrences=2)
    youtube.youtube_import(video_id="bbbbbbbbbbb", occurrences=1)
    assert [i["video_id"] for i in api.get(URL).json()["results"]] == ["aaaaaaaaaaa", "aaaaaaaaaaa", "bbbbbbbbbbb"]
    response = api.post(f"{URL}compact/")
    assert response.status_code == 200
    assert [i["video_id"] for i in response.json()["results"]] == ["aaaaaaaaaaa", "bbbbbbbbbbb"]
    assert response.json()["count"] == 2


def test_writes_need_a_token(anon):
    assert anon.post(URL, {"url": VIDEO}, format="json").status_code == 401
    assert anon.delete(f"{URL}{VIDEO}/").status_code == 401
    assert anon.post(f"{URL}compact/").status_code == 401
