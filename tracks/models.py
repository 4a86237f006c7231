"""Stand-ins that give the admin its "Playlist" section. The tracks and the YouTube list live
in Redis (tracks/store.py, tracks/youtube.py): these models are unmanaged, no table is ever
created or queried, and their admin pages (tracks/admin.py) read and write through the store.
They exist for the admin's menu, URLs, permissions (view/add/change/delete) and action log."""

from django.db import models


class RedisStandIn(models.Model):
    """A model whose rows are in Redis: its table (`db_table`) is never created."""

    class Meta:
        abstract = True
        managed = False

    def __str__(self) -> str:
        return str(self.pk)


class Track(RedisStandIn):
    id = models.UUIDField(primary_key=True, editable=False)
    title = models.CharField(max_length=300)

    class Meta(RedisStandIn.Meta):
        db_table = "tracks_redis_track"
        verbose_name = "track"
        verbose_name_plural = "tracks"

    def __str__(self) -> str:
        return self.title or super().__str__()

    @classmethod
    def stand_in(cls, track: dict) -> "Track":
        """An unsaved instance for the admin's action log (never saved: no table)."""
        return cls(id=track["id"], title=f"{track['title']} — {track['artist']}")


class YouTubeLink(RedisStandIn):
    video_id = models.CharField(primary_key=True, max_length=11)

    class Meta(RedisStandIn.Meta):
        db_table = "tracks_redis_youtubelink"
        verbose_name = "YouTube link"
        verbose_name_plural = "YouTube links"
