from django.urls import path

from exchange import views

urlpatterns = [
    path("tracks/export/", views.LibraryExportView.as_view(), name="tracks-export"),
    path("playlists/<str:playlist_id>/export/", views.PlaylistExportView.as_view(), name="playlist-export"),
    path("imports/", views.ImportView.as_view(), name="import-list"),
    path("imports/<str:job_id>/", views.ImportDetailView.as_view(), name="import-detail"),
]
