"""The stand-in that gives the admin its "Playlists" section. Playlists live in Redis
(playlists/store.py): this model is unmanaged, no table is ever created or queried, and its
admin pages (playlists/admin.py) read and write through the store. It exists for the admin's
menu, URLs, permissions (view/add/change/delete) and action log."""

from django.db import models

from tracks.models import RedisStandIn


class Playlist(RedisStandIn):
    id = models.UUIDField(primary_key=True, editable=False)
    name = models.CharField(max_length=200)

    class Meta(RedisStandIn.Meta):
        db_table = "playlists_redis_playlist"
        verbose_name = "playlist"
        verbose_name_plural = "playlists"

    def __str__(self) -> str:
        return self.name or super().__str__()

    @classmethod
    def stand_in(cls, playlist: dict) -> "Playlist":
        """An unsaved instance for the admin's action log (never saved: no table)."""
        return cls(id=playlist["id"], name=f"{playlist['name']} ({playlist['owner']})")
