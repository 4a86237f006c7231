from django.apps import AppConfig


class PlaylistsConfig(AppConfig):
    name = "playlists"
    verbose_name = "Playlists"

    def ready(self):
        from playlists import store
        from tracks import signals

        def removed(sender, track_ids, **kwargs):
            store.track_removed(track_ids)

        def durations(sender, track_ids, **kwargs):
            store.track_durations_changed(track_ids)

        def scope(sender, request, playlist_id, **kwargs):
            from playlists.views import seen_playlist_id

            seen = seen_playlist_id(request, playlist_id)  # 404 as the playlist API answers it
            return lambda track_ids: store.playlist_tracks_among(playlist_id=seen, track_ids=track_ids)

        signals.tracks_removed.connect(removed, weak=False, dispatch_uid="playlists.track_removed")
        signals.playlist_scope.connect(scope, weak=False, dispatch_uid="playlists.scope")
        signals.track_durations_changed.connect(durations, weak=False, dispatch_uid="playlists.durations")
