# QuantumLive web (gunicorn) and analysis worker image. docker-compose.yml runs it as the two
# web instances, the analysis worker and the one-shot `migrate` service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # librosa's numba kernels cache their compiled code here (site-packages is read-only).
    NUMBA_CACHE_DIR=/tmp/numba-cache

WORKDIR /app

# Dependencies first: this layer is rebuilt only when requirements.txt changes. gunicorn_h1c
# (gunicorn's C HTTP parser) comes as source: gcc is installed to build it and removed again.
COPY requirements.txt .
RUN apt-get update && apt-get install -y --no-install-recommends gcc libc6-dev \
    && pip install -r requirements.txt \
    && apt-get purge -y --auto-remove gcc libc6-dev && rm -rf /var/lib/apt/lists/*

COPY . .

# Static files (admin, Swagger UI) collected and compressed at build time; whitenoise serves them.
# A random throw-away key: production settings refuse a short or placeholder one.
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY="$(python -c 'import secrets; print(secrets.token_urlsafe(50))')" \
    DJANGO_ALLOWED_HOSTS=localhost python manage.py collectstatic --noinput -v 0

# librosa's numba kernels compiled once at build time into NUMBA_CACHE_DIR (a cold compile
# takes a minute or two; a worker that finds them cached warms up in seconds).
RUN python -c "from analysis.audio import warm_up; warm_up()"

# Run as an unprivileged user; it may write only to media/ (uploads for analysis) and the
# numba cache.
RUN useradd --system --uid 10001 --home-dir /app --no-create-home --shell /usr/sbin/nologin quantumlive \
    && mkdir -p /app/media/audio /app/media/uploads \
    && chown -R quantumlive:quantumlive /app/media /tmp/numba-cache
USER quantumlive

ENV DJANGO_DEBUG=0 \
    PORT=8000 \
    GUNICORN_BIND=0.0.0.0:8000
EXPOSE 8000

CMD ["gunicorn", "-c", "gunicorn.conf.py", "quantumlive.wsgi:application"]
