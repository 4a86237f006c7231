from django.contrib import admin
from django.urls import include, path
from django_rq.urls import get_admin_urlpatterns

from quantumlive import ops
from quantumlive.auth_views import LoginView, LogoutView
from quantumlive.docs_views import DocsView, SchemaView

urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="docs"),
    path("api/", include("tracks.urls")),
    path("api/", include("search.urls")),
    path("api/", include("analysis.urls")),
    path("api/", include("playlists.urls")),
    # --- issue 17: login and logout; the RQ dashboard for staff (the admin's login) ---
    path("api/auth/token/", LoginView.as_view(), name="auth-token"),
    path("api/auth/logout/", LogoutView.as_view(), name="auth-logout"),
    path("admin/rq/", include((get_admin_urlpatterns(view_wrapper=admin.site.admin_view), "django_rq"))),
    # --- end of issue 17 ---
    path("admin/", admin.site.urls),
]
