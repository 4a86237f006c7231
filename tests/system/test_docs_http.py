"""Swagger UI served by a production-mode gunicorn (DJANGO_DEBUG=0) after collectstatic:
the page names only local assets (hashed by the manifest storage) and whitenoise serves
them, with no static finders and no internet."""

import re
import secrets
import shutil
import subprocess
import sys
import tempfile

import requests

from tests.system.servers import ROOT, Gunicorn, base_env
from tests.test_schema import local_references


def production(static_root: str) -> dict:
    return {
        "DJANGO_SETTINGS_MODULE": "tests.system.static_root_settings",
        "QL_TEST_STATIC_ROOT": static_root,
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "127.0.0.1",
        "DJANGO_SECURE_SSL_REDIRECT": "0",  # plain HTTP on 127.0.0.1, as behind the proxy
    }


def test_the_docs_work_offline_in_production_after_collectstatic(database):
    static_root = tempfile.mkdtemp(prefix="ql-static-")
    try:
        env = production(static_root)
        subprocess.run([sys.executable, "manage.py", "collectstatic", "--noinput", "-v", "0"], cwd=ROOT,
                       env=base_env(**env), check=True, timeout=300)
        with Gunicorn(workers=1, database=database, **env) as server:
            page = requests.get(server.url + "/api/docs/", timeout=10)
            assert page.status_code == 200, page.text[:500]
            urls = local_references(page.text)
            assets = [url for url in urls if url.startswith("/static/")]
            assert len(assets) == 4
            for url in assets:
                assert re.search(r"\.[0-9a-f]{12}\.(css|js|png)$", url), url  # the manifest's names
                answer = requests.get(server.url + url, timeout=10)
                assert answer.status_code == 200 and len(answer.content) > 500, url
                assert "max-age" in answer.headers.get("Cache-Control", ""), url
            schema = requests.get(server.url + "/api/schema/?format=json", timeout=10)
            assert schema.status_code == 200 and schema.json()["openapi"] == "3.1.0"
    finally:
        shutil.rmtree(static_root, ignore_errors=True)
