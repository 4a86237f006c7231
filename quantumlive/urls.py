from django.contrib import admin
from django.urls import include, path

from quantumlive import metrics, ops
from quantumlive.docs_views import DocsView, SchemaView

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="docs"),
    path("api/", include("tracks.urls")),
    path("api/", include("search.urls")),
    path("api/", include("analysis.urls")),
    path("api/", include("playlists.urls")),
    path("admin/", admin.site.urls),
]
