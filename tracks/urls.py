from django.urls import path

from tracks import views, youtube_views

urlpatterns = [
    path("tracks/", views.TrackListView.as_view(), name="track-list"),
    path("tracks/<str:track_id>/", views.track_detail, name="track-detail"),
    path("tracks/<str:track_id>/suggestions/", views.TrackSuggestionsView.as_view(), name="track-suggestions"),
    path("tracks/<str:track_id>/waveform.json", views.TrackWaveformView.as_view(), name="track-waveform"),
    path("tracks/<str:track_id>/move/", views.TrackMoveView.as_view(), name="track-move"),
    path("tracks/<str:track_id>/apply-analysis/", views.TrackApplyAnalysisView.as_view(),
         name="track-apply-analysis"),
    path("youtube/", youtube_views.YouTubeListView.as_view(), name="youtube-list"),
    path("youtube/compact/", youtube_views.YouTubeCompactView.as_view(), name="youtube-compact"),
    path("youtube/<str:video_id>/", youtube_views.YouTubeDetailView.as_view(), name="youtube-detail"),
]
