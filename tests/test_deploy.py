"""Production settings and the deployment files.

- `manage.py check --deploy --fail-level WARNING` with DJANGO_DEBUG=0, a real-looking key and
  hosts (in a subprocess: settings are read once per process).
- docker-compose.yml validated against the Compose Specification's JSON schema (vendored in
  deploy/compose-spec.json, see deploy/COMPOSE-SPEC-SOURCE.md) and its topology checked:
  Docker cannot run here.
- Dockerfile, nginx.conf and .env.example checked for what the deployment relies on.
"""

import hashlib
import json
import re
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
SCHEMA = ROOT / "deploy" / "compose-spec.json"
SCHEMA_SHA256 = "0dc04bd346dcfee1b1419628fff79937bbf076925f298f272a2b490e2b112bac"
# API.md, "Configuration (environment)": every variable of the table.
CONFIGURATION = (
    "REDIS_URL", "QL_REDIS_PREFIX", "DATABASE_URL", "DJANGO_SECRET_KEY", "DJANGO_DEBUG",
    "DJANGO_ALLOWED_HOSTS", "PORT", "WEB_WORKERS", "ANALYSIS_WORKERS", "ITUNES_API_URL",
    "SOUNDCLOUD_API_URL", "SOUNDCLOUD_CLIENT_ID", "YOUTUBE_API_URL", "YOUTUBE_API_KEY",
    "QL_SEARCH_DEADLINE", "QL_SEARCH_CACHE_TTL", "QL_AUDIO_ROOT", "QL_MAX_UPLOAD_MB",
    "QL_MAX_AUDIO_SECONDS", "QL_MAX_BODY_MB",
)


# --- production settings -----------------------------------------------------------------
# The tests that start a Django process of their own (a second or more each) are marked slow.
def production_env(**extra) -> dict:
    import os

    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "QL_"))}
    env.update({
        "DJANGO_SETTINGS_MODULE": "quantumlive.settings",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),  # 67 random characters
        "DJANGO_ALLOWED_HOSTS": "quantumlive.example.com,localhost",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://quantumlive.example.com",
    })
    env.update(extra)
    return env


def run_check(*args: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", *args],
        cwd=ROOT, env=production_env(**env), capture_output=True, text=True, timeout=120,
    )


@pytest.mark.slow
def test_check_deploy_passes_djangos_security_checks_in_production():
    result = run_check("--tag", "security")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


@pytest.mark.slow
def test_check_deploy_passes_with_every_check_at_warning_level():
    """Django's checks, DRF's and drf-spectacular's (schema warnings count too)."""
    result = run_check()
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.slow
def test_production_refuses_to_start_without_a_secret_key():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=production_env(DJANGO_SECRET_KEY=""),
    )
    assert result.returncode != 0 and "DJANGO_SECRET_KEY must be set" in result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("key", [
    "replace-me-with-50-random-characters",  # .env.example's
    "replace-me-" + "x" * 60,
    "please-CHANGE-this-" + "x" * 60,
    pytest.param(secrets.token_urlsafe(30)[:49], id="random-49-characters"),  # random, but shorter than 50
])
def test_production_refuses_to_start_with_a_placeholder_secret_key(key):
    result = subprocess.run(
        [sys.executable, "-c", "import django;django.setup()"], cwd=ROOT, capture_output=True,
        text=True, timeout=120, env=production_env(DJANGO_SECRET_KEY=key),
    )
    assert result.returncode != 0
    assert "ImproperlyConfigured: DJANGO_SECRET_KEY looks like a placeholder" in result.stderr
    assert "at least 50 characters" in result.stderr and key not in result.stderr


@pytest.mark.slow
def test_a_placeholder_secret_key_is_accepted_in_debug_mode():
    """Development (DJANGO_DEBUG=1) keeps its fixed key and takes any other."""
    result = subprocess.run(
        [sys.executable, "-c", "import django;django.setup();from django.conf import settings as s;"
         "print(len(s.SECRET_KEY))"],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
        env=production_env(DJANGO_DEBUG="1", DJANGO_SECRET_KEY="change-me"),
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["9"]


def test_the_docker_build_does_not_use_a_fixed_secret_key():
    text = (ROOT / "Dockerfile").read_text()
    assert "DJANGO_SECRET_KEY=\"$(python -c 'import secrets; print(secrets.token_urlsafe(50))')\"" in text


@pytest.mark.slow
def test_production_has_no_debug_and_no_default_hosts():
    script = (
        "from django.conf import settings as s;import json;"
        "print(json.dumps([s.DEBUG, s.ALLOWED_HOSTS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_HSTS_SECONDS, 'rest_framework.renderers.BrowsableAPIRenderer' in"
        " s.REST_FRAMEWORK['DEFAULT_RENDERER_CLASSES'], s.MIDDLEWARE[0]]))"
    )
    result = subprocess.run([sys.executable, "manage.py", "shell", "-c", script], cwd=ROOT,
                            env=production_env(), capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    debug, hosts, session_secure, csrf_secure, hsts, browsable, first = json.loads(result.stdout.splitlines()[-1])
    assert (debug, hosts, session_secure, csrf_secure, browsable) == (
        False, ["quantumlive.example.com", "localhost"], True, True, False)
    assert hsts >= 31536000 and first == "quantumlive.request_id.RequestIdMiddleware"


# --- docker-compose.yml ------------------------------------------------------------------
@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def test_the_vendored_compose_schema_is_the_official_file():
    assert hashlib.sha256(SCHEMA.read_bytes()).hexdigest() == SCHEMA_SHA256
    schema = json.loads(SCHEMA.read_text())
    assert schema["title"] == "Compose Specification"


def test_the_compose_file_is_valid_against_the_compose_specification(compose):
    import jsonschema

    schema = json.loads(SCHEMA.read_text())
    assert schema["$schema"].rstrip("#").endswith("json-schema.org/draft/2019-09/schema")
    jsonschema.Draft201909Validator.check_schema(schema)
    errors = sorted(jsonschema.Draft201909Validator(schema).iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{list(e.path)}: {e.message}" for e in errors)


def test_the_schema_validation_does_catch_mistakes(compose):
    import copy

    import jsonschema

    validator = jsonschema.Draft201909Validator(json.loads(SCHEMA.read_text()))
    for mutate in (
        lambda c: c["services"]["redis"].update(helthcheck={}),                          # typo
        lambda c: c["services"]["web1"].update(depends_on={"redis": {"condition": "up"}}),
        lambda c: c["services"]["nginx"].update(ports="8000:8000"),                       # not a list
        lambda c: c.update(servicez={}),
    ):
        broken = copy.deepcopy(compose)
        mutate(broken)
        assert list(validator.iter_errors(broken)), "the schema accepted a broken file"


def test_the_topology(compose):
    services = compose["services"]
    assert {"redis", "postgres", "migrate", "web1", "web2", "worker", "nginx"} <= set(services)
    webs = [name for name, s in services.items() if "gunicorn" in " ".join(s.get("command", []))]
    assert sorted(webs) == ["web1", "web2"]
    for name in ("web1", "web2", "worker", "migrate"):
        service = services[name]
        assert service["build"] == "." and service["env_file"] == ".env"
        assert service["environment"]["REDIS_URL"] == "redis://redis:6379/0"
        assert service["environment"]["DATABASE_URL"].startswith("postgres://")
        assert service["depends_on"]["redis"]["condition"] == "service_healthy"
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web1", "web2", "worker"):
        assert services[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
        assert "media:/app/media" in services[name]["volumes"]  # uploads reach the worker
    assert services["migrate"]["command"] == ["python", "manage.py", "migrate", "--noinput"]
    assert services["migrate"]["restart"] == "no"
    assert services["worker"]["command"] == ["python", "manage.py", "analysis_worker"]
    for name in ("web1", "web2"):
        assert "/healthz" in " ".join(services[name]["healthcheck"]["test"])


def test_nginx_is_the_only_entry_on_port_8000_and_balances_both_web_instances(compose):
    services = compose["services"]
    published = {name: s["ports"] for name, s in services.items() if "ports" in s and "profiles" not in s}
    assert published == {"nginx": ["8000:8000"]}
    optional = [port for s in services.values() if "profiles" in s for port in s.get("ports", [])]
    assert all(port.startswith("127.0.0.1:") for port in optional)  # e.g. Prometheus: the host only
    assert "./deploy/nginx.conf:/etc/nginx/nginx.conf:ro" in services["nginx"]["volumes"]
    assert {name for name, d in services["nginx"]["depends_on"].items()
            if d["condition"] == "service_healthy"} == {"web1", "web2"}
    conf = (ROOT / "deploy" / "nginx.conf").read_text()
    upstream = re.search(r"upstream quantumlive \{(.*?)\}", conf, re.S).group(1)
    assert re.findall(r"server (\S+?)[ ;]", upstream) == ["web1:8000", "web2:8000"]
    assert re.search(r"^\s*listen 8000;", conf, re.M)
    assert "proxy_pass http://quantumlive;" in conf
    assert "proxy_set_header X-Request-ID $ql_request_id;" in conf
    assert "proxy_set_header Host $http_host;" in conf
    log_format = re.search(r"log_format ql (.*?);", conf, re.S).group(1)
    assert "$request " not in log_format and "$args" not in log_format and "$uri" in log_format


def test_redis_persists_with_aof_never_evicts_and_has_a_health_check(compose):
    redis = compose["services"]["redis"]
    command = redis["command"]
    options = dict(zip(command[1::2], command[2::2]))
    assert command[0] == "redis-server"
    assert options["--appendonly"] == "yes"
    assert options["--appendfsync"] in ("everysec", "always")
    assert options["--maxmemory-policy"] == "noeviction"
    assert redis["healthcheck"]["test"] == ["CMD", "redis-cli", "ping"]
    assert any(v.endswith(":/data") for v in redis["volumes"])


def test_postgres_has_a_health_check_and_a_volume(compose):
    postgres = compose["services"]["postgres"]
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    assert any(v.endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert postgres["environment"]["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD")


# --- Dockerfile, .env.example ------------------------------------------------------------
def test_the_dockerfile():
    text = (ROOT / "Dockerfile").read_text()
    instructions = [line.split(None, 1) for line in text.splitlines() if line and not line.startswith(("#", " "))]
    keywords = [i[0] for i in instructions]
    assert instructions[0] == ["FROM", "python:3.11-slim"]
    assert "pip install -r requirements.txt" in text
    assert "apt-get purge -y --auto-remove gcc" in text  # the build tools leave the image again
    assert "manage.py collectstatic --noinput" in text
    user = [i[1] for i in instructions if i[0] == "USER"]
    assert user and user[-1] not in ("root", "0")
    assert keywords.index("USER") > max(i for i, k in enumerate(keywords) if k == "RUN")  # nothing runs as root after
    cmd = json.loads(next(i[1] for i in instructions if i[0] == "CMD"))
    assert cmd == ["gunicorn", "-c", "gunicorn.conf.py", "quantumlive.wsgi:application"]
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert {".env", ".git", ".venv", "db.sqlite3"} <= set(ignored)


def test_env_example_lists_every_configuration_variable_without_real_secrets():
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    missing = [name for name in CONFIGURATION if name not in values]
    assert not missing, f"missing from .env.example: {missing}"
    assert values["DJANGO_DEBUG"] == "0"
    assert values["YOUTUBE_API_KEY"] == "" and values["SOUNDCLOUD_CLIENT_ID"] == ""
    assert "replace-me" in values["DJANGO_SECRET_KEY"] and "replace-me" in values["POSTGRES_PASSWORD"]
    assert values["POSTGRES_PASSWORD"] in values["DATABASE_URL"]


@pytest.mark.slow
def test_env_example_values_are_accepted_by_the_settings():
    """The example file, as the containers get it, loads (with a key filled in)."""
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    values["DJANGO_SECRET_KEY"] = secrets.token_urlsafe(50)
    values["QL_AUDIO_ROOT"] = str(ROOT / "media" / "audio")
    env = production_env(**values)
    result = subprocess.run(
        [sys.executable, "-c", "import django;django.setup();from django.conf import settings as s;"
         "print(s.QL_MAX_BODY_MB, s.DEBUG, s.SECURE_SSL_REDIRECT)"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["16", "False", "False"]


def test_gunicorn_parses_requests_with_its_c_parser():
    """gunicorn.conf.py asks for gunicorn's C parser (gunicorn_h1c): HTTP parsing is a fixed
    cost of every request; with http_parser="fast" a server without it fails at start instead
    of quietly running the slower Python parser."""
    import runpy

    from gunicorn.config import Config
    from gunicorn.http.message import _check_fast_parser

    conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert conf["http_parser"] == "fast"
    cfg = Config()
    cfg.set("http_parser", conf["http_parser"])
    assert _check_fast_parser(cfg) is True


# --- issue 12: Redis's memory limit, proxies, nginx's handling of slow clients -----------------
def env_example() -> dict:
    values = {}
    for line in (ROOT / ".env.example").read_text().splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def nginx_conf() -> str:
    return (ROOT / "deploy" / "nginx.conf").read_text()


def directive(conf: str, name: str) -> list[str]:
    """The values of every `name ...;` line of nginx.conf (comments dropped)."""
    lines = [line.split("#", 1)[0] for line in conf.splitlines()]
    return [m.group(1).strip() for line in lines if (m := re.match(rf"\s*{name}\s+([^;]+);", line))]


def test_redis_has_a_memory_limit_set_from_the_env_file(compose):
    command = compose["services"]["redis"]["command"]
    options = dict(zip(command[1::2], command[2::2]))
    assert options["--maxmemory"] == "${REDIS_MAXMEMORY:-1gb}"
    assert options["--maxmemory-policy"] == "noeviction" and options["--appendonly"] == "yes"
    assert re.fullmatch(r"\d+(b|kb|mb|gb)", env_example()["REDIS_MAXMEMORY"])
    text = (ROOT / ".env.example").read_text()
    assert "bench/RESULTS.md" in text and "per analysed" in text  # sizing documented


def test_the_number_of_proxies_comes_from_the_env_file(compose):
    """Not hard-coded under environment: (which overrides env_file): .env decides, 1 by default."""
    for name in ("web1", "web2"):
        assert compose["services"][name]["environment"]["QL_NUM_PROXIES"] == "${QL_NUM_PROXIES:-1}"
    assert env_example()["QL_NUM_PROXIES"] == "1"
    text = (ROOT / ".env.example").read_text()
    documented = text[text.index("# --- Proxies"):text.index("QL_NUM_PROXIES=")]
    assert "1: clients reach nginx directly" in documented and "2: a TLS terminator" in documented


def test_nginx_sets_x_forwarded_proto_from_its_own_listener_only():
    conf = nginx_conf()
    assert directive(conf, "proxy_set_header X-Forwarded-Proto") == ["$ql_forwarded_proto"]
    mapping = re.search(r'map "\$ql_from_terminator:\$http_x_forwarded_proto" \$ql_forwarded_proto \{(.*?)\}',
                        conf, re.S).group(1)
    entries = [line.split("#", 1)[0].split() for line in mapping.splitlines()]
    entries = [e for e in entries if e]
    assert ["default", "$scheme;"] in entries
    # the client's value is kept only when it comes from a listed terminator ("1:")
    assert all(e[0] == "default" or e[0].startswith('"1:') for e in entries)
    geo = re.search(r"geo \$ql_from_terminator \{(.*?)\}", conf, re.S).group(1)
    active = [line.split("#", 1)[0].split() for line in geo.splitlines()]
    assert [e for e in active if e] == [["default", "0;"]]  # nobody trusted as shipped


def test_nginx_keeps_slow_clients_away_from_gunicorn_workers():
    """What the deployment relies on against slow clients (tests/system/test_faults.py runs it):
    bodies read whole before gunicorn sees the request, answers taken whole from gunicorn, and
    timeouts on clients that stall."""
    conf = nginx_conf()
    assert directive(conf, "proxy_request_buffering") == ["on"]
    assert directive(conf, "proxy_buffering") == ["on"]
    assert directive(conf, "reset_timedout_connection") == ["on"]
    for name, most in (("client_header_timeout", 60), ("client_body_timeout", 60), ("send_timeout", 60)):
        (value,) = directive(conf, name)
        assert re.fullmatch(r"\d+s", value) and 0 < int(value[:-1]) <= most, (name, value)
    (temp_file,) = directive(conf, "proxy_max_temp_file_size")
    assert temp_file != "0" and temp_file.endswith("m") and int(temp_file[:-1]) >= 64  # answers fit


class _HeaderEcho:
    """A stand-in for the app behind nginx: answers 200 and keeps the headers it received."""

    def __init__(self):
        import http.server
        import threading

        seen = self.seen = []

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                seen.append(dict(self.headers))
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def header_echo():
    from tests.system.servers import nginx_binary

    if nginx_binary() is None:
        pytest.skip("nginx is not installed: `make test` installs it as root (scripts/ensure_nginx.py)")
    echo = _HeaderEcho()
    yield echo
    echo.close()


def test_a_client_sent_x_forwarded_proto_does_not_reach_the_app(header_echo):
    """A real nginx with deploy/nginx.conf: the app sees the scheme of nginx's listener (http),
    whatever the client claims; a listed TLS terminator's https is kept."""
    import requests

    from tests.system.servers import Nginx

    with Nginx(header_echo.port) as nginx:
        for claimed in ("https", "http", None):
            headers = {"X-Forwarded-Proto": claimed} if claimed else {}
            assert requests.get(nginx.url + "/healthz", headers=headers, timeout=5).status_code == 200
        assert [seen["X-Forwarded-Proto"] for seen in header_echo.seen] == ["http", "http", "http"]
        assert header_echo.seen[0]["X-Forwarded-For"] == "127.0.0.1"
    header_echo.seen.clear()
    with Nginx(header_echo.port, trusted_terminator="127.0.0.1") as nginx:  # topology 2
        for claimed in ("https", "http", None):
            headers = {"X-Forwarded-Proto": claimed} if claimed else {}
            assert requests.get(nginx.url + "/healthz", headers=headers, timeout=5).status_code == 200
        assert [seen["X-Forwarded-Proto"] for seen in header_echo.seen] == ["https", "http", "http"]


# --- issue 17: metrics ---------------------------------------------------------------------------
def test_prometheus_is_off_by_default_behind_the_metrics_profile(compose):
    services = compose["services"]
    prometheus = services["prometheus"]
    assert prometheus["profiles"] == ["metrics"]
    assert prometheus["image"].startswith("prom/prometheus:v3")
    assert [name for name, s in services.items() if "profiles" in s] == ["prometheus"]  # the rest start always
    assert "./deploy/prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prometheus["volumes"]
    assert "--config.file=/etc/prometheus/prometheus.yml" in prometheus["command"]
    assert any(v.endswith(":/prometheus") for v in prometheus["volumes"])
    assert prometheus["ports"] == ["127.0.0.1:9090:9090"]
    assert "prometheus-data" in compose["volumes"]


def test_prometheus_scrapes_every_web_instance_directly():
    config = yaml.safe_load((ROOT / "deploy" / "prometheus.yml").read_text())
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    webs = sorted(name for name, s in compose["services"].items() if "gunicorn" in " ".join(s.get("command", [])))
    (job,) = config["scrape_configs"]
    assert job.get("metrics_path", "/metrics") == "/metrics"
    targets = [target for group in job["static_configs"] for target in group["targets"]]
    assert targets == [f"{name}:8000" for name in webs] == ["web1:8000", "web2:8000"]
    assert "nginx" not in " ".join(targets)


def test_the_web_instances_let_the_compose_network_read_metrics(compose, monkeypatch):
    """Prometheus's address on the compose network is a private one; QL_METRICS_ALLOW comes
    from .env, with a default that the settings accept and that covers Docker's networks."""
    import ipaddress

    from quantumlive.env import envnetworks

    for name in ("web1", "web2"):
        value = compose["services"][name]["environment"]["QL_METRICS_ALLOW"]
        assert value.startswith("${QL_METRICS_ALLOW:-") and value.endswith("}")
    default = compose["services"]["web1"]["environment"]["QL_METRICS_ALLOW"][len("${QL_METRICS_ALLOW:-"):-1]
    assert default == env_example()["QL_METRICS_ALLOW"]
    monkeypatch.setenv("QL_METRICS_ALLOW", default)
    networks = [ipaddress.ip_network(n) for n in envnetworks("QL_METRICS_ALLOW", "")]
    for address in ("172.18.0.5", "192.168.16.3", "10.0.1.9", "127.0.0.1"):
        assert any(ipaddress.ip_address(address) in network for network in networks), address
    assert not any(ipaddress.ip_address("203.0.113.9") in network for network in networks)


def test_nginx_does_not_pass_metrics_on():
    conf = nginx_conf()
    block = re.search(r"location = /metrics \{(.*?)\}", conf, re.S)
    assert block and [line.split("#", 1)[0].strip() for line in block.group(1).splitlines()
                      if line.split("#", 1)[0].strip()] == ["deny all;"]


@pytest.mark.parametrize("path", ["/metrics", "/metrics?format=text", "//metrics", "/%6Detrics", "/./metrics"])
def test_a_real_nginx_refuses_metrics_and_never_asks_the_app(header_echo, path):
    import socket

    from tests.system.servers import Nginx

    with Nginx(header_echo.port) as nginx:
        with socket.create_connection(("127.0.0.1", nginx.port), timeout=5) as sock:  # the path as written
            sock.sendall(f"GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
        assert answer.split(b"\r\n", 1)[0] == b"HTTP/1.1 403 Forbidden", answer[:200]
        assert header_echo.seen == []
        import requests

        assert requests.get(nginx.url + "/healthz", timeout=5).status_code == 200
        assert len(header_echo.seen) == 1
