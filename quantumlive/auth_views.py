"""Login and logout for API clients (API.md, "Browser clients and observability").

POST /api/auth/token/ {"username", "password"} -> {"token"}: the user's token (DRF's
authtoken; made on first login, the same one afterwards). Throttled before the password is
checked (quantumlive/throttles.py LoginAttempt): per address every attempt, per username the
failures. A wrong password, an unknown username and an inactive user get the same 400.

POST /api/auth/logout/ with `Authorization: Token <key>`: deletes that token (204); it stops
working on every worker and instance within a second (quantumlive/auth.py).
"""

from django.contrib.auth import authenticate
from drf_spectacular.utils import OpenApiExample, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import ValidationError
from rest_framework.permissions import AllowAny, IsAuthenticated
from rest_framework.response import Response
from rest_framework.views import APIView

from quantumlive.auth import CachedTokenAuthentication, token_revoke_publish
from quantumlive.fields import StrictSerializer, StringField
from quantumlive.throttles import LoginAttempt

# Django's username field holds 150 characters; a password longer than this is no password
# anyone types (and hashing cost must not grow with what a client sends).
MAX_USERNAME = 150
MAX_PASSWORD = 1024
BAD_CREDENTIALS = "Unable to log in with the given username and password."


class LoginSerializer(StrictSerializer):
    username = StringField(max_length=MAX_USERNAME)
    password = StringField(max_length=MAX_PASSWORD, trim_whitespace=False)


class LogoutSerializer(StrictSerializer):
    """No fields: an empty body (or none)."""


TOKEN_ANSWER = inline_serializer("AuthToken", {"token": serializers.CharField(
    help_text="Send it as `Authorization: Token <token>`.")})


class LoginView(APIView):
    authentication_classes = ()  # a stale token or a session must not stand in the way
    permission_classes = (AllowAny,)

    @extend_schema(
        operation_id="auth_token", tags=["auth"], request=LoginSerializer, responses={200: TOKEN_ANSWER},
        summary="Log in: the user's API token.",
        description="The user's token (made on first login, the same one until logout). "
                    "Throttled against guessing (429 with `Retry-After`): every attempt per client "
                    "address (`QL_THROTTLE_LOGIN_ADDRESS`), failed attempts per username "
                    "(`QL_THROTTLE_LOGIN_USER`). A wrong password, an unknown username and an "
                    "inactive user get the same 400.",
        examples=[OpenApiExample("login", request_only=True,
                                 value={"username": "dj", "password": "correct horse battery staple"}),
                  OpenApiExample("token", response_only=True, status_codes=["200"],
                                 value={"token": "9944b09199c62bcf9418ad846dd0e4bbdfc6ee4b"})],
    )
    def post(self, request):
        serializer = LoginSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        username, password = serializer.validated_data["username"], serializer.validated_data["password"]
        attempt = LoginAttempt.begin(request, username)  # 429 before any password is hashed
        user = authenticate(request._request, username=username, password=password)
        if user is None:
            raise ValidationError({"non_field_errors": [BAD_CREDENTIALS]})
        attempt.succeeded()
        token, _ = Token.objects.get_or_create(user=user)
        return Response({"token": token.key})


class LogoutView(APIView):
    authentication_classes = (CachedTokenAuthentication,)
    permission_classes = (IsAuthenticated,)

    @extend_schema(
        operation_id="auth_logout", tags=["auth"], request=LogoutSerializer, responses={204: None},
        summary="Log out: delete the token this call is made with.",
        description="The token stops working on every worker and instance within a second. "
                    "Made with a token (`Authorization: Token <key>`); a session has no token to "
                    "delete (401).",
    )
    def post(self, request):
        LogoutSerializer(data=request.data).is_valid(raise_exception=True)
        key = request.auth.key
        # Published first: while Redis cannot be reached this is a 503 and nothing is deleted
        # (the client tries again). The deletion publishes again once committed (auth.py), for
        # a process that read the token in between.
        token_revoke_publish(key)
        Token.objects.filter(key=key).delete()
        return Response(status=204)
