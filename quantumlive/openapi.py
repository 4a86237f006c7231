"""The OpenAPI document (drf-spectacular): what views cannot say about themselves.

- `AutoSchema` adds to every operation the error answers API.md gives it (the DRF shapes
  `{"detail": "..."}` and `{"field": ["message", ...]}`), deduced from what the operation
  takes: a body (400, 413, 415), query parameters (400), a path parameter (404), If-Match
  (412), authentication (401), throttles (429) and Redis (503); and marks the reads that
  anonymous clients may make.
- Extensions: strict request bodies (`additionalProperties: false`, server-owned fields
  described as ignored), the number-list field of waveforms.
- `postprocess_operations` documents the plain Django views of API.md's Operations
  (/healthz, /readyz) and the schema and docs pages themselves.
"""

from drf_spectacular.extensions import OpenApiSerializerExtension, OpenApiSerializerFieldExtension
from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.plumbing import ResolvedComponent, get_doc
from rest_framework.authentication import SessionAuthentication
from rest_framework.permissions import SAFE_METHODS

from quantumlive.fields import StrictSerializer
from quantumlive.permissions import ReadOnlyOrAuthenticated

ERROR = "Error"
VALIDATION_ERROR = "ValidationError"

ERROR_SCHEMA = {
    "type": "object",
    "description": "DRF's error shape: one message.",
    "properties": {"detail": {"type": "string"}},
    "required": ["detail"],
}
# {"field": ["message", ...]}; nested bodies nest (cues: {"0": {"end": [...]}}), and a list
# of objects may carry one error object per item.
VALIDATION_ERROR_SCHEMA = {
    "type": "object",
    "description": "DRF's validation error shape: messages per field (`non_field_errors` for "
                   "the body as a whole); errors of nested objects and list items nest.",
    "additionalProperties": {
        "anyOf": [
            {"type": "array", "items": {"anyOf": [
                {"type": "string"}, {"$ref": f"#/components/schemas/{VALIDATION_ERROR}"}]}},
            {"$ref": f"#/components/schemas/{VALIDATION_ERROR}"},
        ],
    },
}

SUCCESS_DESCRIPTIONS = {
    "200": "OK.", "201": "Created.", "202": "Accepted: the job is queued or running.",
    "204": "Done; no body.", "304": "Not modified: the track is at the version `If-None-Match` names.",
}
RETRY_AFTER = {"description": "Seconds to wait before retrying.", "schema": {"type": "string"}}


def _ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict, example=None) -> dict:
    media = {"schema": schema}
    if example is not None:
        media["examples"] = {"error": {"value": example}}
    return {"application/json": media}


def error_response(status: int, description: str, example: dict, *, validation: bool = False,
                   headers: dict | None = None) -> dict:
    schema = {"anyOf": [_ref(ERROR), _ref(VALIDATION_ERROR)]} if validation else _ref(ERROR)
    response = {"description": description, "content": _json(schema, example)}
    if headers:
        response["headers"] = headers
    return response


# Answered by the HTTP server in front of Django (gunicorn's limit_request_line, nginx's
# buffers), in its own HTML.
URI_TOO_LONG = {
    "description": "The request line (path and query) is longer than the HTTP server takes "
                   "(gunicorn: 4,094 bytes). HTML from the HTTP server, not JSON.",
    "content": {"text/html": {"schema": {"type": "string"}}},
}


def _errors_for(operation: dict, method: str, path: str) -> dict:
    has_body = "requestBody" in operation
    parameters = operation.get("parameters", [])
    in_query = any(p["in"] == "query" for p in parameters)
    in_path = any(p["in"] == "path" for p in parameters)
    if_match = any(p["in"] == "header" and p["name"] == "If-Match" for p in parameters)
    errors = {}
    if has_body or in_query:
        errors[400] = error_response(
            400, "Invalid input: the body or a query parameter (messages per field), or a body "
            "that is not a JSON object.", {"title": ["This field is required."]}, validation=True)
    errors[401] = error_response(
        401, "No valid token: a write, a search or an analysis without one, or an invalid "
        "`Authorization` header on any call.", {"detail": "Invalid token."},
        headers={"WWW-Authenticate": {"schema": {"type": "string"}}})
    if method not in SAFE_METHODS:
        errors[403] = error_response(
            403, "A session-authenticated write without its CSRF token.",
            {"detail": "CSRF Failed: CSRF token missing."})
    if in_path or (has_body and path == "/api/analysis/"):
        errors[404] = error_response(404, "Not found (an unknown or malformed id).",
                                     {"detail": "Not found."})
    if if_match:
        errors[412] = error_response(
            412, "`If-Match` names no valid tag or not the current version; nothing changed.",
            {"detail": "The track has changed: its current version is 4."})
    if has_body:
        errors[413] = error_response(413, "The body is larger than `QL_MAX_BODY_MB` "
                                     "(an upload: `QL_MAX_UPLOAD_MB`).",
                                     {"detail": "Request body larger than 16 MB."})
        errors[415] = error_response(415, "A body of a media type the operation does not take.",
                                     {"detail": 'Unsupported media type "text/plain" in request.'})
    if in_query or in_path:
        errors[414] = URI_TOO_LONG
    errors[429] = error_response(
        429, "Throttled (anonymous clients on every call; authenticated ones on writes, search "
        "and analysis).", {"detail": "Request was throttled. Expected available in 3 seconds."},
        headers={"Retry-After": RETRY_AFTER})
    errors[503] = error_response(
        503, "Redis cannot be reached, or (writes) the track stayed locked by other writers; "
        "nothing changed.", {"detail": "Service temporarily unavailable: the data store (Redis) "
                             "cannot be reached."},
        headers={"Retry-After": RETRY_AFTER})
    return errors


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None or not path.startswith("/api/"):
            return operation
        for name, schema in ((ERROR, ERROR_SCHEMA), (VALIDATION_ERROR, VALIDATION_ERROR_SCHEMA)):
            registry.register_on_missing(ResolvedComponent(
                name=name, type=ResolvedComponent.SCHEMA, object=name, schema=schema))
        responses = operation["responses"]
        for status, response in responses.items():
            if not response.get("description"):
                response["description"] = SUCCESS_DESCRIPTIONS.get(status, "")
        errors = _errors_for(operation, self.method, path)
        authenticators = self.view.get_authenticators()
        if not authenticators:  # (the login): no credentials read, none refused
            errors.pop(401, None)
        if not any(isinstance(a, SessionAuthentication) for a in authenticators):
            errors.pop(403, None)  # no session, no CSRF check
        for status, response in errors.items():
            responses.setdefault(str(status), response)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def get_auth(self):
        auths = super().get_auth()
        allows_reads = any(isinstance(p, ReadOnlyOrAuthenticated) for p in self.view.get_permissions())
        if auths and allows_reads and self.method in SAFE_METHODS and {} not in auths:
            auths.append({})  # anonymous clients may read
        return auths


class StrictSerializerExtension(OpenApiSerializerExtension):
    """A StrictSerializer refuses fields it does not declare (400): say so in requests, and
    list the server-owned fields it ignores."""

    target_class = "quantumlive.fields.StrictSerializer"
    match_subclasses = True

    def map_serializer(self, auto_schema, direction):
        schema = auto_schema._map_basic_serializer(self.target, direction)
        if schema.get("description") == get_doc(StrictSerializer):
            del schema["description"]  # inherited, not the serializer's own
        if direction == "request":
            ignored = getattr(getattr(self.target, "Meta", None), "ignored", ())
            for name in ignored:
                schema["properties"].setdefault(
                    name, {"description": "Server-owned: accepted and ignored."})
            schema["additionalProperties"] = False
        return schema


class NumberListFieldExtension(OpenApiSerializerFieldExtension):
    target_class = "quantumlive.fields.NumberListField"

    def map_serializer_field(self, auto_schema, direction):
        return {"type": "array", "items": {"type": "number"}, "maxItems": self.target.max_length}


# --- the paths drf-spectacular does not see -------------------------------------------------
def _plain(schema: dict, description: str, example) -> dict:
    return {"description": description,
            "content": {"application/json": {"schema": schema, "examples": {"ok": {"value": example}}}}}


def _operation(operation_id: str, tag: str, summary: str, responses: dict, **extra) -> dict:
    return {"operationId": operation_id, "tags": [tag], "summary": summary, "security": [{}],
            "responses": responses, **extra}


def postprocess_operations(result, generator, request, public):
    """Adds /healthz, /readyz, /api/schema/ and /api/docs/ (plain Django or spectacular's own
    views) to the document."""
    up_down = {"type": "string", "enum": ["ok", "down"]}
    count = {"type": ["integer", "null"], "minimum": 0}
    readiness = {"type": "object", "properties": {
        "redis": {"type": "string", "enum": ["ok", "full", "down"]}, "database": up_down,
        "analysis_workers": {**count, "description": "Live RQ workers on the analysis queue (null: "
                                                     "Redis cannot be read). 0 does not make the "
                                                     "service unready."},
        "queue": {**count, "description": "Analysis jobs waiting for a worker (null: Redis cannot be read)."},
    }, "required": ["redis", "database", "analysis_workers", "queue"]}
    paths = {
        "/healthz": {"get": _operation(
            "healthz", "operations", "Liveness: 200 while the process serves, Redis or not.",
            {"200": _plain({"type": "object", "properties": {"status": {"type": "string", "enum": ["ok"]}},
                            "required": ["status"]}, "The process serves.", {"status": "ok"})},
        )},
        "/readyz": {"get": _operation(
            "readyz", "operations", "Readiness: Redis and the database both answer.",
            {"200": _plain(readiness, "Ready.", {"redis": "ok", "database": "ok", "analysis_workers": 2,
                                                 "queue": 0}),
             "503": {**_plain(readiness, "Redis or the database is down (or Redis is full).",
                              {"redis": "down", "database": "ok", "analysis_workers": None, "queue": None}),
                     "headers": {"Retry-After": RETRY_AFTER}}},
        )},
        "/api/schema/": {"get": _operation(
            "schema", "operations", "This document: OpenAPI 3 as YAML, or JSON with `?format=json`.",
            {"200": {"description": "The OpenAPI document.", "content": {
                "application/vnd.oai.openapi": {"schema": {"type": "string"}},
                "application/yaml": {"schema": {"type": "string"}},
                "application/vnd.oai.openapi+json": {"schema": {"type": "object"}},
                "application/json": {"schema": {"type": "object"}},
            }}, "404": {"description": "An unknown `format`.",
                        "content": _json(_ref(ERROR), {"detail": "Not found."})},
               "414": URI_TOO_LONG,
               "406": {"description": "An `Accept` header that names none of the forms.",
                       "content": _json(_ref(ERROR), {"detail": "Could not satisfy the request Accept header."})}},
            parameters=[
                {"name": "format", "in": "query", "required": False,
                 "schema": {"type": "string", "enum": ["yaml", "json"]},
                 "description": "`json` for the JSON form (default: YAML)."},
                {"name": "lang", "in": "query", "required": False, "schema": {"type": "string"},
                 "description": "A language code of Django's LANGUAGES for the descriptions (as far "
                                "as translated); others are ignored."},
            ],
        )},
        "/api/docs/": {"get": _operation(
            "docs", "operations", "Swagger UI over this document, its assets served locally.",
            {"200": {"description": "The Swagger UI page.", "content": {"text/html": {"schema": {"type": "string"}}}}},
        )},
        # issue 17 (quantumlive/metrics.py)
        "/metrics": {"get": _operation(
            "metrics", "operations", "Prometheus metrics of this instance (every gunicorn worker), in the "
            "text format; only for the peer addresses in QL_METRICS_ALLOW, never through a proxy.",
            {"200": {"description": "The metrics (text format 0.0.4).",
                     "content": {"text/plain": {"schema": {"type": "string"}}}},
             "403": {"description": "The peer address is not in QL_METRICS_ALLOW, or the request came "
                                    "through a proxy (X-Forwarded-For).",
                     "content": _json(_ref(ERROR), {"detail": "Metrics are served only to the addresses in "
                                                              "QL_METRICS_ALLOW, directly (not through a proxy)."})}},
        )},
    }
    result["paths"] = {**paths, **result.get("paths", {})}
    _add_links(result["paths"])
    return result


# What a client (or a fuzzer's stateful phase) does next with what an answer names.
LINKS = {
    ("tracks_create", "201"): {
        name: {"operationId": target, "parameters": {"track_id": "$response.body#/id"}}
        for name, target in (("GetTrack", "tracks_retrieve"), ("PatchTrack", "tracks_partial_update"),
                             ("DeleteTrack", "tracks_destroy"), ("MoveTrack", "tracks_move"),
                             ("ApplyAnalysisToTrack", "tracks_apply_analysis"))
    },
    **{("youtube_create", status): {"DeleteVideo": {
        "operationId": "youtube_destroy", "parameters": {"video_id": "$response.body#/video_id"}}}
       for status in ("200", "201")},
    **{("analysis_create", status): {"GetJob": {
        "operationId": "analysis_retrieve", "parameters": {"job_id": "$response.body#/id"}}}
       for status in ("200", "202")},
}


def _add_links(paths: dict) -> None:
    for operations in paths.values():
        for operation in operations.values():
            for status, response in operation.get("responses", {}).items():
                links = LINKS.get((operation.get("operationId"), status))
                if links:
                    response["links"] = links
