"""Both admin lists (tracks, YouTube links) page alike: `?p=` that is not a page number is
400 with a message, a page past the last is 404, the first page of an empty list is there."""

import pytest

from tests.admin.conftest import new_track
from tracks import youtube

pytestmark = pytest.mark.django_db

LIST = "/admin/tracks/track/"
YT = "/admin/tracks/youtubelink/"


@pytest.mark.parametrize("url", [LIST, YT])
@pytest.mark.parametrize("bad", ["0", "abc", "-1", "", "1.5", "²", "1" * 10])
def test_a_page_that_is_not_a_page_number_is_a_400_that_says_why(admin_client, url, bad):
    response = admin_client.get(f"{url}?p={bad}")
    assert response.status_code == 400
    assert "p: Enter a page number (1, 2, …)." in response.content.decode()


@pytest.mark.parametrize("url", [LIST, YT])
def test_an_empty_list_has_its_first_page_and_no_second(admin_client, url):
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(f"{url}?p=1").status_code == 200
    assert admin_client.get(f"{url}?p=2").status_code == 404


def test_the_youtube_list_pages_by_100_with_links_between_pages(admin_client):
    video_ids = [f"video{index:06d}" for index in range(101)]
    for video_id in video_ids:
        youtube.youtube_add(video_id=video_id)
    first = admin_client.get(YT).content.decode()
    assert video_ids[99] in first and video_ids[100] not in first
    assert 'rel="next"' in first and "page 1 of 2" in first
    second = admin_client.get(f"{YT}?p=2").content.decode()
    assert video_ids[100] in second and video_ids[99] not in second
    assert '<a href="?" rel="prev"' in second and "page 2 of 2" in second
    assert admin_client.get(f"{YT}?p=3").status_code == 404


def test_the_tracks_list_links_keep_the_filters(admin_client):
    for index in range(101):
        new_track(title=f"T{index:03d}", genres=["house"])
    first = admin_client.get(f"{LIST}?genre=house").content.decode()
    assert '<a href="?genre=house&amp;p=2" rel="next"' in first
    second = admin_client.get(f"{LIST}?genre=house&p=2").content.decode()
    assert '<a href="?genre=house" rel="prev"' in second
