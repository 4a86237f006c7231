"""QuantumLive settings: everything comes from the environment (see README, Configuration)."""

import os
import re
from pathlib import Path

import dj_database_url

from quantumlive.env import envbool, envfloat, envint, envlist, envpercent, envrate, envstr
from quantumlive.keys import analysis_queue_name, django_cache_prefix

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = envbool("DJANGO_DEBUG", True)
_DEV_KEY = "dev-only-insecure-key-do-not-use-in-production-0123456789abcdef"
SECRET_KEY = envstr("DJANGO_SECRET_KEY", _DEV_KEY if DEBUG else "")
if not SECRET_KEY:
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DJANGO_DEBUG is off")
# --- inputs (issue 12): no placeholder secret in production ----------------------------------
# A key copied from .env.example ("replace-me-..."), one saying to change it, or one too short
# to be random is refused at start (the message never repeats the key).
QL_MIN_SECRET_KEY_LENGTH = 50
_PLACEHOLDER_WORDS = ("replace-me", "change")
if not DEBUG and (
    len(SECRET_KEY) < QL_MIN_SECRET_KEY_LENGTH
    or any(word in SECRET_KEY.lower() for word in _PLACEHOLDER_WORDS)
):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured(
        f"DJANGO_SECRET_KEY looks like a placeholder: with DJANGO_DEBUG=0 it must be at least "
        f"{QL_MIN_SECRET_KEY_LENGTH} characters and contain neither 'replace-me' nor 'change' "
        "(generate one: python -c 'import secrets; print(secrets.token_urlsafe(50))')"
    )
ALLOWED_HOSTS = envlist("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,[::1],testserver" if DEBUG else "")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "corsheaders",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_rq",
    "quantumlive",
    "tracks",
    "playlists",
    "exchange",
    "search",
    "analysis",
]

MIDDLEWARE = [
    "quantumlive.request_id.RequestIdMiddleware",
    "quantumlive.cors.CorsMiddleware",  # django-cors-headers, before any early answer (CORS block)
    "quantumlive.middleware.RedisUnavailableMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "tracks.middleware.TrackReadMiddleware",  # token reads of a track answered here (its docstring)
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "quantumlive.urls"
WSGI_APPLICATION = "quantumlive.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.parse(
        envstr("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
WHITENOISE_USE_FINDERS = DEBUG

# --- Redis -----------------------------------------------------------------------------------
REDIS_URL = envstr("REDIS_URL", "redis://127.0.0.1:6379/0")
QL_REDIS_PREFIX = envstr("QL_REDIS_PREFIX", "ql")
if not re.fullmatch(r"[A-Za-z0-9_.:-]{1,64}", QL_REDIS_PREFIX):
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("QL_REDIS_PREFIX must be 1-64 chars of A-Z a-z 0-9 _ . : -")
# Socket timeouts keep every call bounded while Redis is unreachable (API: 503 within 2 s).
QL_REDIS_CONNECT_TIMEOUT = envfloat("QL_REDIS_CONNECT_TIMEOUT", 0.5, minimum=0.05)
QL_REDIS_SOCKET_TIMEOUT = envfloat("QL_REDIS_SOCKET_TIMEOUT", 1.0, minimum=0.05)

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": django_cache_prefix(QL_REDIS_PREFIX),
        "OPTIONS": {
            "SOCKET_CONNECT_TIMEOUT": QL_REDIS_CONNECT_TIMEOUT,
            "SOCKET_TIMEOUT": QL_REDIS_SOCKET_TIMEOUT,
        },
    }
}

# The analysis queue (its name carries the prefix), for django-rq's admin dashboard. The app
# itself talks to RQ through analysis/jobs.py.
RQ_QUEUES = {
    analysis_queue_name(QL_REDIS_PREFIX): {"URL": REDIS_URL, "DEFAULT_TIMEOUT": 900},
}
# Its dashboard is mounted for staff at /admin/rq/ (quantumlive/urls.py), and only there: not
# also under /admin/django_rq/, whose stats.json and metrics views answer RQ_API_TOKEN holders.
RQ_SHOW_ADMIN_LINK = False

# --- QuantumLive -----------------------------------------------------------------------------
QL_TRACK_CACHE = envbool("QL_TRACK_CACHE", True)
QL_TRACK_CACHE_MB = envint("QL_TRACK_CACHE_MB", 256, minimum=1)
# Seconds a cache's read lease lasts (tracks/cache/); 0: no leases, every cached read checks
# the generation with one round trip instead.
QL_TRACK_LEASE = envfloat("QL_TRACK_LEASE", 2.0, minimum=0.0)
QL_THROTTLE_ANON = envstr("QL_THROTTLE_ANON", "600/min")
QL_THROTTLE_WRITES = envstr("QL_THROTTLE_WRITES", "1200/min")
QL_THROTTLE_SEARCH = envstr("QL_THROTTLE_SEARCH", "120/min")
QL_THROTTLE_ANALYSIS = envstr("QL_THROTTLE_ANALYSIS", "60/min")
# Login attempts (POST /api/auth/token/), counted in Redis before the password is checked:
# failed ones per username, every one per client address (quantumlive/throttles.py).
QL_THROTTLE_LOGIN_USER = envstr("QL_THROTTLE_LOGIN_USER", "5/min")
QL_THROTTLE_LOGIN_ADDRESS = envstr("QL_THROTTLE_LOGIN_ADDRESS", "20/min")
envrate("QL_THROTTLE_LOGIN_USER", "5/min"), envrate("QL_THROTTLE_LOGIN_ADDRESS", "20/min")  # refused at start if malformed
QL_TOKEN_CACHE_SECONDS = envfloat("QL_TOKEN_CACHE_SECONDS", 30.0, minimum=0.0)
QL_LOCK_TTL = envfloat("QL_LOCK_TTL", 5.0, minimum=0.1)
QL_LOCK_WAIT = envfloat("QL_LOCK_WAIT", 1.5, minimum=0.0)
# The most entries one playlist holds (an insert past it is 400).
QL_PLAYLIST_MAX_ENTRIES = envint("QL_PLAYLIST_MAX_ENTRIES", 20_000, minimum=1)
QL_MAX_BODY_MB = envint("QL_MAX_BODY_MB", 16, minimum=1)
QL_MAX_UPLOAD_MB = envint("QL_MAX_UPLOAD_MB", 200, minimum=1)
QL_MAX_AUDIO_SECONDS = envint("QL_MAX_AUDIO_SECONDS", 1800, minimum=1)
# --- issue 12, workstream "decode": bounds of one analysis result ------------------------------
# Waveform numbers in one result (overview + every cue's waveform). The minimum, 67,536, is
# the overview's 2,000 points and 512 cues of 128 (analysis.audio.MIN_RESULT_POINTS): the
# smallest options always fit.
QL_MAX_RESULT_POINTS = envint("QL_MAX_RESULT_POINTS", 262_144, minimum=67_536)
# The largest stored result (its compact JSON), in MB (2^20 bytes): analysis.audio.result_json.
QL_MAX_RESULT_MB = envint("QL_MAX_RESULT_MB", 4, minimum=1)
# --- end of workstream "decode" ----------------------------------------------------------------
QL_AUDIO_ROOT = Path(envstr("QL_AUDIO_ROOT", str(BASE_DIR / "media" / "audio")))
QL_ANALYSIS_TTL = envint("QL_ANALYSIS_TTL", 30 * 24 * 3600, minimum=60)
QL_ANALYSIS_JOB_TIMEOUT = envint("QL_ANALYSIS_JOB_TIMEOUT", 900, minimum=10)
QL_ANALYSIS_HEARTBEAT = envint("QL_ANALYSIS_HEARTBEAT", 2, minimum=1)
# The analysis workers' RQ registration (issue 17): an idle worker beats every TTL - 15 s and
# RQ forgets one TTL + 60 s after its last beat (/readyz "analysis_workers"); the compose health
# check (manage.py analysis_worker_health) wants a beat within TTL + 30 s.
QL_ANALYSIS_WORKER_TTL = envint("QL_ANALYSIS_WORKER_TTL", 60, minimum=30)
# --- issue 16, workstream "worker": how the analysis worker runs jobs ----------------------
# Each analysis worker runs its jobs in one pre-forked child (the runner), not in a process
# forked per job. The runner is replaced after this many jobs (0: never for that reason) or
# after a job that leaves it with more than this many MB resident (0: no limit); one that dies
# fails only its job, one past QL_ANALYSIS_JOB_TIMEOUT is killed.
QL_ANALYSIS_CHILD_MAX_JOBS = envint("QL_ANALYSIS_CHILD_MAX_JOBS", 200, minimum=0)
QL_ANALYSIS_CHILD_MAX_RSS_MB = envint("QL_ANALYSIS_CHILD_MAX_RSS_MB", 1024, minimum=0)
# The address space (MB) a runner may add to what it had when forked (RLIMIT_AS): a job that
# needs more fails with "too large" instead of waking the OOM killer. 0: no limit.
QL_ANALYSIS_CHILD_MAX_MEMORY_MB = envint("QL_ANALYSIS_CHILD_MAX_MEMORY_MB", 4096, minimum=0)
# --- end of workstream "worker" -----------------------------------------------------------
QL_UPLOAD_DIR = Path(envstr("QL_UPLOAD_DIR", str(BASE_DIR / "media" / "uploads")))
# --- issue 12, workstream "jobs": orphaned uploads, waiters ---------------------------------
# An upload in QL_UPLOAD_DIR older than this (seconds) that no queued or running job needs is
# deleted by the analysis workers' sweep, which runs at start and every
# QL_UPLOAD_SWEEP_INTERVAL seconds (between jobs).
QL_UPLOAD_SWEEP_AGE = envint("QL_UPLOAD_SWEEP_AGE", 3600, minimum=1)
QL_UPLOAD_SWEEP_INTERVAL = envint("QL_UPLOAD_SWEEP_INTERVAL", 600, minimum=1)
# At most this many submissions of one instance (its gunicorn workers together) wait for
# their job at once (`wait`); past it they answer 202 at once. Default: half the web workers
# gunicorn.conf.py starts (WEB_WORKERS, default 2 x cores + 1), at least 1; 0: never wait.
QL_MAX_WAITERS = envint("QL_MAX_WAITERS", max(1, envint("WEB_WORKERS", 2 * (os.cpu_count() or 1) + 1,
                                                        minimum=1) // 2), minimum=0)
QL_SEARCH_DEADLINE = envfloat("QL_SEARCH_DEADLINE", 3.0, minimum=0.1)
QL_SEARCH_CACHE_TTL = envint("QL_SEARCH_CACHE_TTL", 600, minimum=1)
ITUNES_API_URL = envstr("ITUNES_API_URL", "https://itunes.apple.com")
SOUNDCLOUD_API_URL = envstr("SOUNDCLOUD_API_URL", "https://api-v2.soundcloud.com")
SOUNDCLOUD_CLIENT_ID = envstr("SOUNDCLOUD_CLIENT_ID", "")
YOUTUBE_API_URL = envstr("YOUTUBE_API_URL", "https://www.googleapis.com/youtube/v3")
YOUTUBE_API_KEY = envstr("YOUTUBE_API_KEY", "")
# --- Search quotas (issue 12, workstream "quotas") -------------------------------------------
# The day's YouTube units (Google's default quota), and the most of them one user may spend
# (percent); iTunes calls shared by every worker: (calls, seconds), or None for "off".
QL_YOUTUBE_DAILY_UNITS = envint("QL_YOUTUBE_DAILY_UNITS", 10_000, minimum=1)
QL_YOUTUBE_USER_SHARE = envpercent("QL_YOUTUBE_USER_SHARE", 20.0)
if QL_YOUTUBE_DAILY_UNITS * QL_YOUTUBE_USER_SHARE / 100 < 100:  # one search.list call
    from django.core.exceptions import ImproperlyConfigured

    raise ImproperlyConfigured("QL_YOUTUBE_USER_SHARE of QL_YOUTUBE_DAILY_UNITS must allow at least "
                               "one YouTube search (100 units)")
QL_ITUNES_RATE = envrate("QL_ITUNES_RATE", "20/min")

# --- export and import of DJ files (exchange/) ---
# An import of a file with more tracks than this runs as a job on the analysis worker (202).
QL_IMPORT_SYNC_MAX_TRACKS = envint("QL_IMPORT_SYNC_MAX_TRACKS", 500, minimum=0)
# A DJ file larger than this (bytes) is not read in the web request at all: the job reads it.
QL_IMPORT_SYNC_MAX_BYTES = envint("QL_IMPORT_SYNC_MAX_BYTES", 4 * 2**20, minimum=0)
# A file with more tracks than this is refused (400): what an import holds in memory is bounded.
QL_IMPORT_MAX_TRACKS = envint("QL_IMPORT_MAX_TRACKS", 50_000, minimum=1)
QL_IMPORT_JOB_TIMEOUT = envint("QL_IMPORT_JOB_TIMEOUT", 3600, minimum=10)
QL_IMPORT_JOB_TTL = envint("QL_IMPORT_JOB_TTL", 24 * 3600, minimum=60)

DATA_UPLOAD_MAX_MEMORY_SIZE = QL_MAX_BODY_MB * 2**20
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 2**20
FILE_UPLOAD_TEMP_DIR = None

# --- REST framework --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "quantumlive.auth.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["quantumlive.permissions.ReadOnlyOrAuthenticated"],
    "DEFAULT_PARSER_CLASSES": ["quantumlive.parsers.StrictJSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "quantumlive.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "quantumlive.errors.exception_handler",
    # How many proxies in front add to X-Forwarded-For (1 behind the compose nginx): throttles
    # identify an anonymous client by the address that proxy saw, not by what it claims.
    "NUM_PROXIES": envint("QL_NUM_PROXIES", 0, minimum=0),
    "DEFAULT_THROTTLE_CLASSES": [
        "quantumlive.throttles.AnonThrottle",
        "quantumlive.throttles.WriteThrottle",
        "quantumlive.throttles.SearchThrottle",
        "quantumlive.throttles.AnalysisThrottle",
    ],
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "DATETIME_FORMAT": "%Y-%m-%dT%H:%M:%SZ",
}
if DEBUG:
    REST_FRAMEWORK["DEFAULT_RENDERER_CLASSES"].append("rest_framework.renderers.BrowsableAPIRenderer")

SPECTACULAR_SETTINGS = {
    "TITLE": "QuantumLive API",
    "DESCRIPTION": (
        "Playlist, multi-service search and audio analysis for DJs.\n\n"
        "Authentication: `Authorization: Token <key>` (or a session). Anonymous clients may read "
        "tracks, the YouTube list and analysis jobs; everything else answers 401 without a token.\n\n"
        "Errors use DRF's shapes, `{\"detail\": \"...\"}` or `{\"field\": [\"message\", ...]}`. "
        "JSON bodies refuse unknown fields and non-finite numbers (400); a method an operation "
        "does not list is 405 with `Allow`; while Redis is unreachable every /api/ call but this "
        "document and its Swagger UI answers 503 with `Retry-After`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "OAS_VERSION": "3.1.0",  # schemas are JSON Schema: `type: [x, "null"]`, not `nullable`
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "quantumlive.openapi.postprocess_operations",  # /healthz, /readyz, schema, docs
    ],
    "TAGS": [
        {"name": "tracks", "description": "The library: every track of the deployment, in its own order."},
        {"name": "playlists", "description": "Users' ordered lists of library tracks."},
        {"name": "youtube", "description": "The YouTube link list."},
        {"name": "search", "description": "iTunes, SoundCloud and YouTube at once."},
        {"name": "analysis", "description": "Tempo, key, beats and cues of audio."},
        {"name": "operations", "description": "Health, readiness and this documentation."},
        {"name": "auth", "description": "Log in (a token for `Authorization: Token <key>`) and out."},
    ],
}

# --- CORS (issue 17): browser clients on other origins --------------------------------------
# Origins allowed to call the API (comma-separated "scheme://host[:port]"; empty: none). The
# middleware comes right after the request id and before every middleware that answers early
# (Redis down, the hot track read, WhiteNoise), so every answer carries the headers; a preflight
# is answered by it alone (no Redis, no database). No credentials: browsers send a token.
# (quantumlive/cors.py: django-cors-headers' middleware with these settings read once.)
CORS_ALLOWED_ORIGINS = envlist("DJANGO_CORS_ALLOWED_ORIGINS", "")
CORS_ALLOW_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST")
CORS_ALLOW_HEADERS = ("authorization", "content-type", "if-match", "if-none-match", "x-request-id")
CORS_EXPOSE_HEADERS = ("ETag", "Location", "Retry-After", "X-Request-ID")
CORS_ALLOW_CREDENTIALS = False
CORS_PREFLIGHT_MAX_AGE = 3600
# --- end of CORS ---------------------------------------------------------------------------------

# --- Production hardening (DJANGO_DEBUG=0) ---------------------------------------------------
if not DEBUG:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = envbool("DJANGO_SECURE_SSL_REDIRECT", True)
    SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^readyz$"]
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_HSTS_SECONDS = envint("DJANGO_HSTS_SECONDS", 31536000, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SECURE_CONTENT_TYPE_NOSNIFF = True
CSRF_TRUSTED_ORIGINS = envlist("DJANGO_CSRF_TRUSTED_ORIGINS", "")

# One JSON object per line with the request id; upstream credentials scrubbed from every line
# (quantumlive/logging.py). gunicorn's access and error logs, in its workers, go the same way.
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "quantumlive.logging.RequestIdFilter"},
        "scrub_secrets": {"()": "quantumlive.logging.ScrubSecretsFilter"},
    },
    "formatters": {"json": {"()": "quantumlive.logging.JsonFormatter"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "json",
                    "filters": ["request_id", "scrub_secrets"]},
    },
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.request": {"level": "ERROR"},
        "gunicorn.access": {"handlers": ["console"], "level": "INFO", "propagate": False},
        "gunicorn.error": {"handlers": ["console"], "level": "INFO", "propagate": False},
    },
}

# --- Metrics (issue 17): GET /metrics, quantumlive/metrics.py ---------------------------------
from quantumlive.env import envnetworks  # noqa: E402

# QL_METRICS=0 turns the counting and /metrics off (the benchmark's side by side).
QL_METRICS = envbool("QL_METRICS", True)
# Peer addresses (REMOTE_ADDR: the scraper's own, never X-Forwarded-For) and CIDR networks
# that may read /metrics, comma-separated; others get 403.
QL_METRICS_ALLOW = envnetworks("QL_METRICS_ALLOW", "127.0.0.1,::1")
if QL_METRICS:
    # Right after the request id's: every answer is counted, those given early included.
    MIDDLEWARE.insert(MIDDLEWARE.index("quantumlive.request_id.RequestIdMiddleware") + 1,
                      "quantumlive.metrics.MetricsMiddleware")
