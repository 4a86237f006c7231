from django.urls import path

from playlists import views

urlpatterns = [
    path("playlists/", views.PlaylistListView.as_view(), name="playlist-list"),
    path("playlists/<str:playlist_id>/", views.PlaylistDetailView.as_view(), name="playlist-detail"),
    path("playlists/<str:playlist_id>/items/", views.PlaylistItemsView.as_view(), name="playlist-items"),
    path("playlists/<str:playlist_id>/items/remove/", views.PlaylistItemsRemoveView.as_view(),
         name="playlist-items-remove"),
    path("playlists/<str:playlist_id>/items/<str:entry_id>/", views.PlaylistItemDetailView.as_view(),
         name="playlist-item-detail"),
    path("playlists/<str:playlist_id>/reorder/", views.PlaylistReorderView.as_view(), name="playlist-reorder"),
]
