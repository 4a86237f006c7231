"""Stand-ins that give the admin its "Playlist" section. The tracks and the YouTube list live
in Redis (tracks/store.py, tracks/youtube.py): these models are unmanaged, no table is ever
created or queried, and their admin pages (tracks/admin.py) read and write through the store.
They exist for the admin's menu, URLs, permissions (view/add/change/delete) and action log."""

from django.db import models


class Track(models.Model):
    id = models.UUIDField(primary_key=True, editable=False)
    title = models.CharField(max_length=300)

    class Meta:
        managed = False
        db_table = "tracks_redis_track"  # never created: the tracks are in Redis
        verbose_name = "track"
        verbose_name_plural = "tracks"

    def __str__(self) -> str:
        return self.title or str(self.pk)


class YouTubeLink(models.Model):
    video_id = models.CharField(primary_key=True, max_length=11)

    class Meta:
        managed = False
        db_table = "tracks_redis_youtubelink"  # never created: the list is in Redis
        verbose_name = "YouTube link"
        verbose_name_plural = "YouTube links"

    def __str__(self) -> str:
        return self.video_id
