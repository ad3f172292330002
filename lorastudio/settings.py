"""LoRA Studio settings: one module, every value from the environment (django-environ).

Defaults suit a developer machine (local Postgres and Redis, local files, the offline
`local` provider). Production safety comes from the environment: with DEBUG=false and
real values, `manage.py check --deploy` reports nothing.
"""

from datetime import timedelta
from pathlib import Path

import environ
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from kombu import Queue

from lorastudio.queues import queue_names

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEBUG = env.bool("DEBUG", default=False)
# A development key only where DEBUG says this is a developer machine: anything else that
# starts without a key of its own would sign sessions and media links with a public one.
SECRET_KEY = env("SECRET_KEY", default="")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured(
            "SECRET_KEY is not set and DEBUG is false: set SECRET_KEY in the environment "
            "(a long random string, e.g. from `python -c 'import secrets; "
            "print(secrets.token_urlsafe(50))'`), or DEBUG=true on a developer machine."
        )
    SECRET_KEY = "django-insecure-dev-only-never-use-in-production"
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.postgres",  # ArrayField: likeness vectors
    "django_htmx",
    "ninja",
    "axes",
    "lorastudio",
    "characters",
    "generation",
    "datasets",
    "training",
]

MIDDLEWARE = [
    # First: a body too large for its endpoint is refused before anything reads it.
    "lorastudio.request_limits.RequestSizeLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "lorastudio.nul_bytes.RefuseNulBytesMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.auth.middleware.LoginRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "lorastudio.refusals.RefusalMiddleware",
    "lorastudio.audit.AuditAddressMiddleware",
    "lorastudio.access.PermissionMiddleware",
    # Last, as django-axes asks: it turns a lockout into its answer (lorastudio.throttling).
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "lorastudio.urls"
WSGI_APPLICATION = "lorastudio.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "lorastudio.context_processors.studio",
                "generation.context_processors.provider_badge",
                "training.context_processors.notifications",
            ],
            "builtins": ["lorastudio.templatetags.labels"],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/lorastudio"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = env("REDIS_URL", default="redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": env("CACHE_KEY_PREFIX", default="lorastudio"),
    }
}

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# The axes backend first: it refuses a locked-out login before the password is checked.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "lorastudio.permission_backend.RolePermissionBackend",
]
# Login throttling (django-axes, lorastudio.throttling): AXES_FAILURE_LIMIT wrong passwords in
# a row lock that username out from that address for AXES_COOLOFF_MINUTES; wrong API tokens
# count per address. Behind a reverse proxy, set AXES_PROXY_COUNT so the client's address
# comes from X-Forwarded-For (otherwise every client looks like the proxy).
AXES_ENABLED = env.bool("AXES_ENABLED", default=True)
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
# Failed logins stay on record (axes' AccessFailureLog) after a good login resets the count:
# the audit trail's record of them (lorastudio.audit).
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False  # no start-up banner on every manage.py command
AXES_LOCKOUT_CALLABLE = "lorastudio.throttling.lockout_response"
AXES_IPWARE_PROXY_COUNT = int(env("AXES_PROXY_COUNT", default="") or 0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR") if AXES_IPWARE_PROXY_COUNT else ("REMOTE_ADDR",)
)
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "characters:list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", default="UTC")
USE_I18N = True
USE_TZ = True

# --- Files -------------------------------------------------------------------------------
# Media is never public. Both backends hand out short-lived signed links to our own
# media view (lorastudio.media), which reads the file through the storage backend.
STORAGE = env("STORAGE", default="local")
MEDIA_ROOT = env.path("MEDIA_ROOT", default=BASE_DIR / "media")
MEDIA_URL_TTL = env.int("MEDIA_URL_TTL", default=3600)
# Where the bytes of a checked media link come from (lorastudio.media): with S3, a redirect to
# a presigned URL valid this long (signed for S3_PUBLIC_ENDPOINT_URL when the browser reaches
# the store there, e.g. MinIO through the compose nginx); with local storage behind nginx,
# `X-Accel-Redirect` to this internal location (compose: /_protected_media/); else Django.
MEDIA_PRESIGN_TTL = env.int("MEDIA_PRESIGN_TTL", default=300)
S3_PUBLIC_ENDPOINT_URL = env("S3_PUBLIC_ENDPOINT_URL", default="")
MEDIA_ACCEL_REDIRECT = env("MEDIA_ACCEL_REDIRECT", default="")
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production images collect static files with hashed names (STATIC_MANIFEST=true); a checkout
# serves them straight from static/.
STATIC_MANIFEST = env.bool("STATIC_MANIFEST", default=False)
STATIC_ROOT = BASE_DIR / "staticfiles" if STATIC_MANIFEST else None
WHITENOISE_USE_FINDERS = not STATIC_MANIFEST
WHITENOISE_AUTOREFRESH = DEBUG

if STORAGE == "s3":
    _default_storage = {
        "BACKEND": "lorastudio.storage.PrivateS3Storage",
        "OPTIONS": {
            "bucket_name": env("S3_BUCKET"),
            "endpoint_url": env("S3_ENDPOINT_URL", default=None),
            "access_key": env("S3_ACCESS_KEY_ID", default=None),
            "secret_key": env("S3_SECRET_ACCESS_KEY", default=None),
            "region_name": env("S3_REGION", default="us-east-1"),
        },
    }
elif STORAGE == "local":
    _default_storage = {
        "BACKEND": "lorastudio.storage.PrivateFileSystemStorage",
        "OPTIONS": {"location": MEDIA_ROOT},
    }
else:
    raise environ.ImproperlyConfigured(f"STORAGE must be 'local' or 's3', not {STORAGE!r}")

STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if STATIC_MANIFEST
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024

# --- Security ----------------------------------------------------------------------------
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF, CSP.NONCE],
    "style-src": [CSP.SELF, CSP.NONCE],
    "img-src": [CSP.SELF, "data:"],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}

# --- Celery ------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env("CELERY_QUEUE", default="lorastudio")
# One queue per kind of work (lorastudio.queues): provider calls, ingest and exports,
# webhooks, likeness measuring (a second or so of CPU an image, so a batch of uploads never
# delays provider calls), and the default queue for the rest. The Procfile and compose start
# a worker per group (calls with the default queue, likeness with media); a worker started
# without -Q consumes them all.
CELERY_QUEUES = queue_names(CELERY_TASK_DEFAULT_QUEUE)
CELERY_TASK_QUEUES = [
    Queue(name, routing_key=name) for name in (CELERY_TASK_DEFAULT_QUEUE, *CELERY_QUEUES.values())
]
CELERY_TASK_ROUTES = ("lorastudio.queues.route",)
# A message whose worker died is delivered again after this many seconds (acks_late). Longer
# than our longest task (a submit waits up to 75 s; a 1 GiB weights download at 4 MB/s takes
# ~4 min) so a running task is not handed to a second worker, short enough that a killed
# worker's task runs again within minutes (tests/faults/test_redelivery.py).
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT", 300)}
# Workers look for such messages every 10 s (kombu's interval), not every 100 s (its default
# throttle of 10 scans): redelivery comes at most 10 s after the visibility timeout.
CELERY_BROKER_TRANSPORT_OPTIONS["unacked_restore_throttle"] = 1
CELERY_RESULT_EXPIRES = 3600
# Celery's Django fix-up would close the database connections around every task; the
# worker keeps them as long as Django's CONN_MAX_AGE says instead (lorastudio.celery).
CELERY_DB_REUSE_MAX = 1_000_000_000
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = TIME_ZONE
# How often the periodic pass submits queued calls, polls due ones and retries downloads.
CALL_TICK_SECONDS = env.float("CALL_TICK_SECONDS", default=1.0)
# A call claimed for submitting but not taken up by a worker within this time was never sent:
# it is queued again.
CALL_CLAIM_LEASE_SECONDS = env.float("CALL_CLAIM_LEASE_SECONDS", default=60.0)
# A call sent this long ago (counted from `sending_at`) whose answer was never saved has an
# unknown outcome. It outlasts the adapters' submit timeouts (15 s connect + 60 s read), so a
# slow submit that succeeds is never swept to `unknown` while its answer is on the way.
CALL_SUBMIT_LEASE_SECONDS = env.float("CALL_SUBMIT_LEASE_SECONDS", default=180.0)
# How long a worker keeps trying to save a provider id it was given while the database is
# away, before giving up (the id is in the error log from the first failed try).
CALL_SAVE_ID_RETRY_SECONDS = env.float("CALL_SAVE_ID_RETRY_SECONDS", default=600.0)
CELERY_BEAT_SCHEDULE = {
    # Every 10 s, so a page can say "worker not running" 30 s after the last one was seen.
    "heartbeat": {"task": "lorastudio.tasks.beat_heartbeat", "schedule": 10.0},
    "provider-calls": {
        "task": "generation.tasks.tick",
        "schedule": CALL_TICK_SECONDS,
        "options": {"expires": 10},
    },
    "prune-expired-api-tokens": {
        "task": "lorastudio.tasks.prune_expired_api_tokens",
        "schedule": crontab(minute=17, hour=3),
    },
    "prune-idempotency-keys": {
        "task": "lorastudio.tasks.prune_idempotency_keys",
        "schedule": crontab(minute=27, hour=3),
    },
}

# --- Providers ---------------------------------------------------------------------------
PROVIDER = env("PROVIDER", default="local")
FAL_KEY = env("FAL_KEY", default="")
REPLICATE_API_TOKEN = env("REPLICATE_API_TOKEN", default="")
PUBLIC_BASE_URL = env("PUBLIC_BASE_URL", default="").rstrip("/")
LOCAL_PROVIDER_DELAY = env.float("LOCAL_PROVIDER_DELAY", default=2.0)
# Webhook verification: Replicate's signing secret (asked of Replicate when empty) and the
# JWKS where fal publishes its webhook keys.
REPLICATE_WEBHOOK_SECRET = env("REPLICATE_WEBHOOK_SECRET", default="")
# The Replicate user or organisation that owns the models trained LoRAs are pushed to.
REPLICATE_OWNER = env("REPLICATE_OWNER", default="")
FAL_JWKS_URL = env("FAL_JWKS_URL", default="https://rest.alpha.fal.ai/.well-known/jwks.json")
# Calls in flight at once per provider, e.g. "fal=16,replicate=8" (defaults in the catalog).
PROVIDER_CONCURRENCY = env.dict("PROVIDER_CONCURRENCY", default={})
# Provider results are downloaded only from these hosts (and their subdomains).
FAL_DOWNLOAD_HOSTS = env.list("FAL_DOWNLOAD_HOSTS", default=["fal.media", "fal.run", "fal.ai"])
REPLICATE_DOWNLOAD_HOSTS = env.list(
    "REPLICATE_DOWNLOAD_HOSTS", default=["replicate.delivery", "replicate.com"]
)
MAX_DOWNLOAD_BYTES = env.int("MAX_DOWNLOAD_BYTES", default=50 * 1024 * 1024)
MAX_WEIGHTS_BYTES = env.int("MAX_WEIGHTS_BYTES", default=1024 * 1024 * 1024)

# --- JSON API ----------------------------------------------------------------------------
NINJA_PAGINATION_CLASS = "lorastudio.pagination.LimitOffset"
NINJA_PAGINATION_MAX_LIMIT = 200  # lorastudio.pagination.MAX_PAGE_SIZE

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env("LOG_LEVEL", default="INFO")},
}

# Uploads: files bigger than this are refused before decoding; pictures over this many pixels
# are refused as decompression bombs (Pillow's own check, made an error).
MAX_UPLOAD_BYTES = env.int("MAX_UPLOAD_BYTES", default=40 * 1024 * 1024)
MAX_UPLOAD_PIXELS = env.int("MAX_UPLOAD_PIXELS", default=60_000_000)
# Request bodies (lorastudio.request_limits): forms and JSON, provider webhooks, photo uploads
# (a request may carry this many photos at the largest size; send more in several requests).
MAX_REQUEST_BYTES = env.int("MAX_REQUEST_BYTES", default=1024 * 1024)
MAX_WEBHOOK_BODY_BYTES = env.int("MAX_WEBHOOK_BODY_BYTES", default=10 * 1024 * 1024)
MAX_UPLOAD_REQUEST_BYTES = env.int(
    "MAX_UPLOAD_REQUEST_BYTES", default=10 * MAX_UPLOAD_BYTES + MAX_REQUEST_BYTES
)
# Per-user quotas (lorastudio.quotas): (how many, per how many seconds). Photos uploaded, and
# exports started (a reused export of an unchanged dataset is free).
QUOTAS = {
    "upload": (env.int("UPLOAD_QUOTA", default=300), env.int("UPLOAD_QUOTA_SECONDS", default=600)),
    "export": (env.int("EXPORT_QUOTA", default=10), env.int("EXPORT_QUOTA_SECONDS", default=600)),
}
# Uploads above this are streamed to a temporary file, never held whole in the web process.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2_621_440

# --- Mail and outgoing webhooks ----------------------------------------------------------
# Mail (training notifications) goes out by SMTP: EMAIL_HOST (default localhost), EMAIL_PORT,
# EMAIL_USERNAME, EMAIL_PASSWORD, EMAIL_USE_TLS. With DEBUG and no EMAIL_HOST it is printed to
# the console instead.
_email_host = env("EMAIL_HOST", default="")
if DEBUG and not _email_host:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
else:
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _email_host or "localhost",
                "port": env.int("EMAIL_PORT", default=587 if _email_host else 25),
                "username": env("EMAIL_USERNAME", default=""),
                "password": env("EMAIL_PASSWORD", default=""),
                "use_tls": env.bool("EMAIL_USE_TLS", default=bool(_email_host)),
                "timeout": 15,
            },
        }
    }
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", default="LoRA Studio <studio@localhost>")
# Outgoing webhooks refuse private, loopback and link-local targets unless this is set
# (local development, tests).
WEBHOOKS_ALLOW_PRIVATE_TARGETS = env.bool("WEBHOOKS_ALLOW_PRIVATE_TARGETS", default=False)
# One delivery, from connecting to the last byte read, takes at most this long.
WEBHOOK_DEADLINE_SECONDS = env.float("WEBHOOK_DEADLINE_SECONDS", default=15.0)
WEBHOOK_ENDPOINTS_PER_USER = env.int("WEBHOOK_ENDPOINTS_PER_USER", default=20)
CELERY_BEAT_SCHEDULE |= {
    "training-jobs": {
        "task": "training.tasks.sync_training_jobs",
        "schedule": CALL_TICK_SECONDS,
        "options": {"expires": 10},
    },
    # Uploads, exports, webhook deliveries, packs, likeness: whatever waits for a worker and
    # lost its message is queued again (lorastudio/queueing.py).
    "lost-work": {
        "task": "lorastudio.tasks.sweep_lost_work",
        "schedule": 30.0,
        "options": {"expires": 25},
    },
}
