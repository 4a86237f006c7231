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

        signals.tracks_removed.connect(removed, weak=False, dispatch_uid="playlists.track_removed")
        signals.track_durations_changed.connect(durations, weak=False, dispatch_uid="playlists.durations")
