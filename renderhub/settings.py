"""RenderHub settings, driven by the environment (django-environ).

With no environment at all RenderHub runs on its embedded default: SQLite in var/ and a
filesystem broker in var/broker/ (no server; apps/core/broker.py). Set DATABASE_URL (PostgreSQL) and
CELERY_BROKER_URL (Redis) to run on real services with any number of workers.
With DEBUG off, SECRET_KEY and ALLOWED_HOSTS have no defaults: a missing one stops start-up.
"""

from pathlib import Path

import environ
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("RENDERHUB_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env.bool("DEBUG", default=True)

if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="embedded-default-only-not-for-production")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
else:
    SECRET_KEY = env.str("SECRET_KEY")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS")

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "apps.core",
    "apps.accounts",
    "apps.engines",
    "apps.catalog",
    "apps.verification",
    "apps.policy",
    "apps.renders",
    "apps.moderation",
    "apps.metrics",
    "apps.harness",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.HtmxLoginRedirectMiddleware",
]

ROOT_URLCONF = "renderhub.urls"
WSGI_APPLICATION = "renderhub.wsgi.application"

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
                "apps.accounts.context_processors.roles",
                "apps.metrics.context_processors.worker_alert",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'renderhub.sqlite3'}"),
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL + IMMEDIATE transactions let the web process and the workers write concurrently
    # without "database is locked" errors on the embedded default.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
else:
    # Persistent connections: a new PostgreSQL connection costs ~10 ms of server CPU
    # (research/performance.md F1, F5).
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=600)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "renders:job-new"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"

# Images are private: stored outside any public URL, served only by views that check the user.
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    },
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Security -------------------------------------------------------------------------
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "style-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
if not DEBUG:
    SESSION_COOKIE_SECURE = env.bool("SESSION_COOKIE_SECURE", default=True)
    CSRF_COOKIE_SECURE = env.bool("CSRF_COOKIE_SECURE", default=True)
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
    SECURE_HSTS_PRELOAD = env.bool("SECURE_HSTS_PRELOAD", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Celery ---------------------------------------------------------------------------
# Engine I/O and CPU-bound verification run on separate queues (and separate pools).
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
CELERY_BROKER_TRANSPORT_OPTIONS: dict[str, object] = {}
if CELERY_BROKER_URL.startswith("filesystem://"):
    # kombu's filesystem transport lets a reader take a half-written message and crash the
    # worker (JSONDecodeError); ours publishes by atomic rename and quarantines unreadable
    # files (apps/core/broker.py). RENDERHUB_FILESYSTEM_TRANSPORT=filesystem selects kombu's own.
    CELERY_BROKER_TRANSPORT = env.str("RENDERHUB_FILESYSTEM_TRANSPORT", default="apps.core.broker:Transport")
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "claimed", "quarantine", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "claim_folder": str(_broker_dir / "claimed"),
        "quarantine_folder": str(_broker_dir / "quarantine"),
        # Exchange tables (broadcasts: remote control, events) — kombu's default is ./control,
        # relative to wherever the process was started.
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
        # The filesystem transport polls; its 1 s default would add up to a second per hop.
        "polling_interval": 0.05,
    }
elif CELERY_BROKER_URL.startswith("redis"):
    # Redeliver an unacked task only well after the hard time limit (research/reliability.md §1).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 900,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
    }
# Publishing gives up quickly when the broker is down; the job row is already committed and
# the sweeper enqueues it again (research/reliability.md §1).
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.5}
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = 180
CELERY_TASK_TIME_LIMIT = 240
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# Celery closes Django's DB connection after every task unless this is set (performance.md F1).
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

RENDERHUB_QUEUES = {
    "preview": env.str("QUEUE_PREVIEW", default="render.preview"),
    "final": env.str("QUEUE_FINAL", default="render.final"),
    "verify": env.str("QUEUE_VERIFY", default="verify"),
}

# --- RenderHub ------------------------------------------------------------------------
RENDERHUB_MAX_PIXELS = env.int("RENDERHUB_MAX_PIXELS", default=4096 * 4096)
RENDERHUB_MAX_SIDE = env.int("RENDERHUB_MAX_SIDE", default=2048)
# How long POST /v1/images/generations waits for its images before answering 504 "render_pending"
# (which the OpenAI SDK retries, waiting on the same jobs): under gunicorn's 30 s worker timeout.
RENDERHUB_OPENAI_WAIT_S = env.float("RENDERHUB_OPENAI_WAIT_S", default=25.0)
# The built-in engine's simulated latency can be scaled (0 = no waiting) for quick local runs.
RENDERHUB_BUILTIN_LATENCY_SCALE = env.float("RENDERHUB_BUILTIN_LATENCY_SCALE", default=1.0)
# Hosts an engine's base URL may point at; "*" allows any public host.
RENDERHUB_ENGINE_HOST_ALLOWLIST = env.list(
    "RENDERHUB_ENGINE_HOST_ALLOWLIST",
    default=[
        "api.openai.com",
        "generativelanguage.googleapis.com",
        "aiplatform.googleapis.com",
        "*.aiplatform.googleapis.com",
        "*-aiplatform.googleapis.com",
        "api.stability.ai",
        "api.ideogram.ai",
    ],
)
RENDERHUB_OCR_BACKEND = env.str("RENDERHUB_OCR_BACKEND", default="rapidocr")
# Worker heartbeats (apps/core/heartbeats.py): how often each worker process writes its row, and
# after how long without one it counts as gone (the banner on every page says so).
RENDERHUB_HEARTBEAT_SECONDS = env.float("RENDERHUB_HEARTBEAT_SECONDS", default=2.0)
RENDERHUB_HEARTBEAT_DEAD_SECONDS = env.float("RENDERHUB_HEARTBEAT_DEAD_SECONDS", default=10.0)

# --- Prometheus (/metrics) -------------------------------------------------------------
# A scraper is let in with `Authorization: Bearer <METRICS_TOKEN>` or from an allowlisted
# address (IPs or networks, e.g. "10.0.0.0/8"). With neither set /metrics answers 403, except
# that the embedded default (DEBUG) lets loopback in.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
METRICS_ALLOWED_IPS = env.list("METRICS_ALLOWED_IPS", default=["127.0.0.1", "::1"] if DEBUG else [])

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"httpx": {"level": "WARNING"}},
}
