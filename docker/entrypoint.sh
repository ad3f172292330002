#!/bin/sh
# LoRA Studio container entry point.
#   web     wait for the database, migrate, load presets, run gunicorn
#   worker  wait for the database, run a celery worker: `worker calls` (provider calls and
#           the default queue), `worker media` (ingest, exports), `worker webhooks`, or
#           `worker` alone for all queues in one
#   beat    run celery beat (schedule file in /tmp)
#   other   exec the given command as-is (e.g. `python manage.py createsuperuser`)
# Extra arguments after web/worker/beat are passed on to gunicorn/celery.
set -eu

cd /app

wait_for_db() {
    python - <<'PY'
import os
import sys
import time

url = os.environ.get("DATABASE_URL", "")
scheme, sep, rest = url.partition("://")
if not sep or scheme not in ("postgres", "postgresql", "pgsql", "postgis"):
    print("entrypoint: DATABASE_URL is not PostgreSQL, not waiting for it", flush=True)
    sys.exit(0)

import psycopg

url = "postgresql://" + rest
retries = int(os.environ.get("DB_WAIT_RETRIES", "30"))
delay = float(os.environ.get("DB_WAIT_DELAY", "2"))
for attempt in range(1, retries + 1):
    try:
        psycopg.connect(url, connect_timeout=3).close()
    except psycopg.OperationalError as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"entrypoint: database not ready ({attempt}/{retries}): {reason}", flush=True)
        time.sleep(delay)
    else:
        print("entrypoint: database is ready", flush=True)
        sys.exit(0)
sys.exit("entrypoint: giving up, database unreachable")
PY
}

case "${1:-}" in
    web)
        shift
        wait_for_db
        python manage.py migrate --noinput
        python manage.py load_presets
        python manage.py load_taxonomy
        exec gunicorn lorastudio.wsgi:application \
            --bind 0.0.0.0:8000 \
            --workers "${WEB_CONCURRENCY:-3}" \
            --access-logfile - \
            "$@"
        ;;
    worker)
        # worker [calls|media|webhooks|all]: one worker per queue group, so a busy queue
        # (300 uploads) never starves another (provider calls). Queue names as in settings.
        shift
        group=all
        case "${1:-}" in
            calls|media|webhooks|all) group="$1"; shift ;;
        esac
        q="${CELERY_QUEUE:-lorastudio}"
        case "$group" in
            calls) queues="$q,$q.calls"; concurrency="${CELERY_CONCURRENCY:-4}" ;;
            media) queues="$q.media,$q.likeness"; concurrency="${CELERY_MEDIA_CONCURRENCY:-2}" ;;
            webhooks) queues="$q.webhooks"; concurrency="${CELERY_WEBHOOK_CONCURRENCY:-2}" ;;
            *) queues="$q,$q.calls,$q.media,$q.webhooks,$q.likeness"; concurrency="${CELERY_CONCURRENCY:-4}" ;;
        esac
        wait_for_db
        exec celery -A lorastudio worker -l info -n "$group@%h" -Q "$queues" \
            --concurrency "$concurrency" "$@"
        ;;
    beat)
        shift
        exec celery -A lorastudio beat -l info --schedule /tmp/celerybeat-schedule "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
