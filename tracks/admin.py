"""The admin's "Playlist" section: tracks and the YouTube list, both held in Redis.

The models are unmanaged stand-ins (tracks/models.py, no table); each ModelAdmin routes its
admin URLs to views in tracks/admin_views.py that work on the track store, so admin writes go
through the same locks, versions and invalidation as the API. Staff only (the admin site's
own login), with Django's per-model view/add/change/delete permissions.
"""

from functools import update_wrapper

from django.contrib import admin
from django.http import Http404
from django.urls import path
from django.views.generic import RedirectView

from tracks import admin_views, store
from tracks.models import Track, YouTubeLink


class _StoreAdmin(admin.ModelAdmin):
    """Common ground: nothing here may touch the (non-existent) table."""

    actions = None

    def get_queryset(self, request):
        return self.model.objects.none()  # never evaluated against the database

    def _view(self, view):
        """A view of admin_views, bound to this ModelAdmin, behind the admin's login (staff
        only) and CSRF protection."""

        def wrapper(request, *args, **kwargs):
            return view(self, request, *args, **kwargs)

        return self.admin_site.admin_view(update_wrapper(wrapper, view))


@admin.register(Track)
class TrackAdmin(_StoreAdmin):
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("", self._view(admin_views.track_changelist), name="%s_%s_changelist" % info),
            path("add/", self._view(admin_views.track_add), name="%s_%s_add" % info),
            path("<str:object_id>/change/", self._view(admin_views.track_change), name="%s_%s_change" % info),
            path("<str:object_id>/delete/", self._view(admin_views.track_delete), name="%s_%s_delete" % info),
            path("<str:object_id>/move/", self._view(admin_views.track_move), name="%s_%s_move" % info),
            path("<str:object_id>/history/", self.admin_site.admin_view(self.history_view),
                 name="%s_%s_history" % info),
            path("<str:object_id>/", self.admin_site.admin_view(
                RedirectView.as_view(pattern_name="%s:%s_%s_change" % ((self.admin_site.name,) + info)))),
        ]

    def get_object(self, request, object_id, from_field=None):
        """The track as an unsaved stand-in (for the history page), or None."""
        try:
            track_id = admin_views.track_id_or_404(object_id)
        except Http404:
            return None
        track = store.track_get(track_id=track_id)
        return Track.stand_in(track) if track is not None else None


@admin.register(YouTubeLink)
class YouTubeLinkAdmin(_StoreAdmin):
    def get_urls(self):
        info = self.opts.app_label, self.opts.model_name
        return [
            path("", self._view(admin_views.youtube_changelist), name="%s_%s_changelist" % info),
            path("add/", self._view(admin_views.youtube_add), name="%s_%s_add" % info),
            path("compact/", self._view(admin_views.youtube_compact), name="%s_%s_compact" % info),
            path("<str:video_id>/delete/", self._view(admin_views.youtube_delete), name="%s_%s_delete" % info),
        ]
