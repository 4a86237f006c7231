"""Development only (DJANGO_DEBUG on): makes sure user `admin` (password `admin`) and its
API token exist, and prints the token."""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = "Create the development admin user and print its API token (DEBUG only)."

    def handle(self, *args, **options):
        if not settings.DEBUG:
            self.stdout.write("DJANGO_DEBUG is off: no development user is created.")
            return
        User = get_user_model()
        user, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True}
        )
        if created:
            user.set_password("admin")
            user.save()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(f"development user: admin / admin (created: {created})")
        self.stdout.write(f"API token: {token.key}   (Authorization: Token {token.key})")
