"""What the library tells the apps built on it, sent by tracks/store.py after the write has
landed and before it answers (a receiver's work is part of the write's guarantee); and what it
asks them (`playlist_scope`, sent by tracks/views.py), without importing them."""

from django.dispatch import Signal

#: `track_ids`: tracks that have left the library.
tracks_removed = Signal()

#: `track_ids`: tracks whose duration may have changed.
track_durations_changed = Signal()

#: `request`, `playlist_id`: a track's suggestions asked within a playlist. A receiver (the
#: playlists app) answers `among(track_ids) -> set` of those the playlist holds, or raises
#: NotFound when there is no such playlist the caller may see.
playlist_scope = Signal()
