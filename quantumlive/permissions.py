from rest_framework.permissions import SAFE_METHODS, BasePermission


class ReadOnlyOrAuthenticated(BasePermission):
    """Anonymous clients may read; everything else needs a valid token or session."""

    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            return True
        return bool(request.user and request.user.is_authenticated)


class AuthenticatedOnly(BasePermission):
    """For views that cost upstream calls or CPU (search, analysis submit)."""

    def has_permission(self, request, view):
        return bool(request.user and request.user.is_authenticated)
