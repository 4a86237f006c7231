"""Every key of one playlist hashes to one Redis Cluster slot (its own tag), so one script may
change them all; two playlists, and a playlist and the library, need not share a slot."""

from redis.crc import key_slot

from quantumlive import keys


def slot(name: str) -> int:
    return key_slot(name.encode())


def test_every_key_of_a_playlist_shares_its_own_slot():
    playlist_id = "6f1c2b9e-0d4a-4c71-9f3e-2b5d8a7c1e00"
    names = keys.playlist_keys(playlist_id).values()
    assert len({slot(name) for name in names}) == 1
    assert all(name.startswith("{%s:pl:%s}:" % (keys.settings.QL_REDIS_PREFIX, playlist_id)) for name in names)


def test_playlists_spread_over_slots_apart_from_the_library():
    slots = {slot(keys.playlist_meta("%08x-0000-4000-8000-000000000000" % index)) for index in range(200)}
    assert len(slots) > 150
    assert slot(keys.track("x")) == slot(keys.playlists_all()) == slot(keys.track_in_playlists("x"))
    # the scripts that touch the library's side (REGISTER) name only library keys
    from playlists import lua

    assert lua._REGISTER.key_names == ("track_keys*",)
