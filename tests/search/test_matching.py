"""Matches: the same recording across services, and only that."""

from search.matching import find_matches, normalize_artist, normalize_title


def item(service, title, artist, duration=None, url=None, isrc=None):
    return {"service": service, "id": title, "title": title, "artist": artist, "duration": duration,
            "url": url or f"https://{service}.example/{title.replace(' ', '-')}", "isrc": isrc}


def test_the_same_recording_on_three_services_is_one_match_with_a_link_each():
    matches = find_matches({
        "itunes": [item("itunes", "Midnight City", "M83", 243.0, "https://music.apple.com/1")],
        "soundcloud": [item("soundcloud", "Midnight City", "M83", 244.1, "https://soundcloud.com/m83/mc")],
        "youtube": [item("youtube", "M83 - Midnight City (Official Video)", "M83VEVO", None,
                         "https://www.youtube.com/watch?v=dX3k_QDnzHE")],
    })
    assert matches == [{"title": "Midnight City", "artist": "M83", "duration": 243.0, "links": {
        "itunes": "https://music.apple.com/1", "soundcloud": "https://soundcloud.com/m83/mc",
        "youtube": "https://www.youtube.com/watch?v=dX3k_QDnzHE"}}]


def test_feat_parts_accents_case_and_punctuation_are_ignored():
    matches = find_matches({
        "itunes": [item("itunes", "Don't Stop (feat. Sia)", "Beyoncé", 200.0)],
        "soundcloud": [item("soundcloud", "DONT STOP", "BEYONCE ft. Sia", 201.5)],
    })
    assert [(m["title"], m["artist"], sorted(m["links"])) for m in matches] == [
        ("Don't Stop (feat. Sia)", "Beyoncé", ["itunes", "soundcloud"])]


def test_a_topic_channel_is_the_artist():
    matches = find_matches({
        "soundcloud": [item("soundcloud", "Hidden Garden 7", "Marlow Vance", 388.0)],
        "youtube": [item("youtube", "Hidden Garden 7 [Official Audio]", "Marlow Vance - Topic")],
    })
    assert [sorted(m["links"]) for m in matches] == [["soundcloud", "youtube"]]


def test_durations_more_than_a_few_seconds_apart_are_different_recordings():
    matches = find_matches({
        "itunes": [item("itunes", "Strobe", "deadmau5", 634.0)],
        "soundcloud": [item("soundcloud", "Strobe", "deadmau5", 217.0)],
    })
    assert matches == []


def test_a_shared_isrc_matches_whatever_the_titles_say():
    matches = find_matches({
        "itunes": [item("itunes", "Song A", "X", 100.0, isrc="USRC17607839")],
        "soundcloud": [item("soundcloud", "totally different upload name", "label", 300.0, isrc="usrc17607839")],
    })
    assert [sorted(m["links"]) for m in matches] == [["itunes", "soundcloud"]]


def test_the_same_title_by_different_artists_does_not_match():
    assert find_matches({
        "itunes": [item("itunes", "Hello", "Adele", 295.0)],
        "youtube": [item("youtube", "Hello", "Lionel Richie")],
    }) == []


def test_items_of_one_service_alone_are_not_a_match():
    assert find_matches({"youtube": [item("youtube", "Hello", "Adele"), item("youtube", "Hello (Lyric Video)", "Adele")]}) == []


def test_each_service_links_its_best_ranked_item_and_the_match_shows_itunes_fields():
    matches = find_matches({
        "youtube": [item("youtube", "Adele - Hello", "AdeleVEVO", url="https://yt/1"),
                    item("youtube", "Adele - Hello (Live)", "AdeleVEVO", url="https://yt/2")],
        "itunes": [item("itunes", "Hello", "Adele", 295.5, url="https://it/1")],
    })
    assert matches == [{"title": "Hello", "artist": "Adele", "duration": 295.5,
                        "links": {"itunes": "https://it/1", "youtube": "https://yt/1"}}]


def test_normalizers():
    assert normalize_title("Titanium (feat. Sia) [Official Music Video]") == "titanium"
    assert normalize_title("Café del Mar - Remix") == "cafe del mar remix"
    assert normalize_artist("Simon & Garfunkel") == normalize_artist("Simon and Garfunkel") == "simon garfunkel"
    assert normalize_artist("David Guetta featuring Sia") == "david guetta"
