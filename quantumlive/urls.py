from django.contrib import admin
from django.urls import URLPattern, include, path
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns

from quantumlive import metrics, ops
from quantumlive.auth_views import LoginView, LogoutView
from quantumlive.docs_views import DocsView, SchemaView


def rq_dashboard_urls():
    """django-rq's dashboard, every view behind the admin's staff login: its JSON stats and
    metrics too (their RQ_API_TOKEN alternative is never reached)."""
    return [URLPattern(p.pattern, admin.site.admin_view(p.callback), p.default_args, p.name)
            for p in get_api_urlpatterns() + get_admin_urlpatterns()]


urlpatterns = [
    path("healthz", ops.healthz, name="healthz"),
    path("readyz", ops.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    path("api/schema/", SchemaView.as_view(), name="schema"),
    path("api/docs/", DocsView.as_view(url_name="schema"), name="docs"),
    path("api/", include("exchange.urls")),  # first: tracks/export/ is not a track id
    path("api/", include("tracks.urls")),
    path("api/", include("search.urls")),
    path("api/", include("analysis.urls")),
    path("api/", include("playlists.urls")),
    # --- issue 17: login and logout; the RQ dashboard for staff (the admin's login) ---
    path("api/auth/token/", LoginView.as_view(), name="auth-token"),
    path("api/auth/logout/", LogoutView.as_view(), name="auth-logout"),
    path("admin/rq/", include((rq_dashboard_urls(), "django_rq"))),
    # --- end of issue 17 ---
    path("admin/", admin.site.urls),
]
