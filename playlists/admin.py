"""The admin's "Playlists" section: every user's playlists, held in Redis.

The model is an unmanaged stand-in (playlists/models.py, no table); its ModelAdmin routes the
admin URLs to views in playlists/admin_views.py that work on the playlist store, so admin
writes go through the same locks, fenced scripts and versions as the API. Staff only (the
admin site's own login), with Django's per-model view/add/change/delete permissions.
"""

from django.contrib import admin
from django.http import Http404
from django.urls import path
from django.views.generic import RedirectView

from playlists import admin_views, store
from playlists.models import Playlist
from tracks.admin import _StoreAdmin


@admin.register(Playlist)
class PlaylistAdmin(_StoreAdmin):
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("", self._view(admin_views.playlist_changelist), name="%s_%s_changelist" % info),
            path("add/", self._view(admin_views.playlist_add), name="%s_%s_add" % info),
            path("<str:object_id>/change/", self._view(admin_views.playlist_change), name="%s_%s_change" % info),
            path("<str:object_id>/delete/", self._view(admin_views.playlist_delete), name="%s_%s_delete" % info),
            path("<str:object_id>/entries/remove/", self._view(admin_views.entry_remove),
                 name="%s_%s_remove" % info),
            path("<str:object_id>/entries/move/", self._view(admin_views.entry_move), name="%s_%s_move" % info),
            path("<str:object_id>/entries/add/", self._view(admin_views.entry_add), name="%s_%s_addtracks" % info),
            path("<str:object_id>/history/", self.admin_site.admin_view(self.history_view),
                 name="%s_%s_history" % info),
            path("<str:object_id>/", self.admin_site.admin_view(
                RedirectView.as_view(pattern_name="%s:%s_%s_change" % ((self.admin_site.name,) + info)))),
        ]

    def get_object(self, request, object_id, from_field=None):
        """The playlist as an unsaved stand-in (for the history page), or None."""
        try:
            playlist_id = admin_views.playlist_id_or_404(object_id)
        except Http404:
            return None
        playlist = store.playlist_get(playlist_id=playlist_id)
        return Playlist.stand_in(playlist) if playlist is not None else None
