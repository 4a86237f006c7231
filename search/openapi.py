"""Examples of the search API for the OpenAPI document (its shapes: search/serializers.py)."""

from drf_spectacular.utils import OpenApiExample

ANSWER = OpenApiExample("An answer", response_only=True, status_codes=["200"], value={
    "query": "afrohouse",
    "services": {
        "itunes": {"status": "ok", "cached": False, "elapsed_ms": 212, "results": [{
            "service": "itunes", "id": "1440833098", "title": "Afro House Anthem", "artist": "Quantum Crew",
            "url": "https://music.apple.com/us/album/1440833098?i=1440833099", "duration": 301.2,
            "artwork_url": "https://is1-ssl.mzstatic.com/image/thumb/100x100bb.jpg",
            "preview_url": "https://audio-ssl.itunes.apple.com/preview.m4a", "genre": "Dance"}]},
        "soundcloud": {"status": "not_configured", "cached": False, "elapsed_ms": 0,
                       "error": "not configured", "results": []},
        "youtube": {"status": "unavailable", "cached": False, "elapsed_ms": 0, "error": "quota exceeded",
                    "results": []},
    },
    "matches": [],
})
BODY = OpenApiExample("A search", request_only=True,
                      value={"query": "afrohouse", "services": ["itunes", "youtube"], "limit": 10})
