"""/api/schema/ and /api/docs/: drf-spectacular's views, made to answer while Redis is down
(API.md, Operations). Apart from quantumlive/openapi.py, which is the schema class that
drf-spectacular's views themselves import."""

import contextlib
import threading

from django.conf import settings
from django.utils import translation
from drf_spectacular.settings import spectacular_settings
from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response


def _languages() -> frozenset:
    return frozenset(code for code, _name in settings.LANGUAGES)


class SchemaView(SpectacularAPIView):
    """The document. It answers while Redis is down (API.md), so no throttle (their counters
    live in Redis) and no authentication (it is the same for everyone); it is generated once
    per process and language, which keeps it cheap. An error (an unknown `format`) is JSON."""

    authentication_classes = []
    throttle_classes = []
    http_method_names = ["get", "head"]
    _documents: dict = {}
    _lock = threading.Lock()

    @extend_schema(exclude=True)  # documented by quantumlive.openapi.postprocess_operations
    def get(self, request, *args, **kwargs):
        language = request.GET.get("lang")
        if language not in _languages():
            language = None  # unknown languages are ignored, as unknown parameters are
        with translation.override(language) if language else contextlib.nullcontext():
            document = self._document(request, language)
        filename = f"{spectacular_settings.TITLE or 'schema'}.{request.accepted_renderer.format}"
        return Response(document, headers={"Content-Disposition": f'inline; filename="{filename}"'})

    def _document(self, request, language):
        with self._lock:
            document = self._documents.get(language)
            if document is None:
                generator = self.generator_class(urlconf=self.urlconf, patterns=self.patterns)
                document = generator.get_schema(request=request, public=self.serve_public)
                self._documents[language] = document
        return document

    def handle_exception(self, exc):
        response = super().handle_exception(exc)
        # errors (an unknown ?format=, a method not allowed) in the API's shape, as JSON
        self.request.accepted_renderer, self.request.accepted_media_type = JSONRenderer(), JSONRenderer.media_type
        return response


class DocsView(SpectacularSwaggerView):
    """Swagger UI, its assets from drf-spectacular-sidecar under /static/; answers while
    Redis is down."""

    authentication_classes = []
    throttle_classes = []
    http_method_names = ["get", "head"]  # its HTML renderer has nothing to say to OPTIONS
