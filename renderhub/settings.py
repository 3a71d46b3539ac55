"""RenderHub settings, driven by the environment (django-environ).

With no environment at all RenderHub runs on its embedded default: SQLite in var/ and a
filesystem broker in var/broker/ (no server; apps/core/broker.py). Set DATABASE_URL (PostgreSQL) and
CELERY_BROKER_URL (Redis) to run on real services with any number of workers.
With DEBUG off, SECRET_KEY and ALLOWED_HOSTS have no defaults: a missing one stops the web server,
the workers and every management command that runs Django's checks (apps/core/checks.py); offline
tools that sign nothing and serve no one (`manage.py verify`, `verifier_eval`) run without them.
"""

import os
from datetime import timedelta
from pathlib import Path

import environ
from django.utils.csp import CSP

BASE_DIR = Path(__file__).resolve().parent.parent
env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

VAR_DIR = Path(env.str("RENDERHUB_VAR_DIR", default=str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

# Off unless turned on explicitly: a production machine with DEBUG unset must not show
# tracebacks or run on a known secret. `make run` and `make test` set DEBUG=true themselves.
DEBUG = env.bool("DEBUG", default=False)


def _local_secret_key() -> str:
    """DEBUG only: a random key made once and kept in var/ (readable by this user alone), so
    even a local run never signs sessions with a key that is published in the source."""
    import secrets

    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(50))
    return path.read_text().strip()


if DEBUG:
    SECRET_KEY = env.str("SECRET_KEY", default="") or _local_secret_key()
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]", "testserver"])
else:
    # Empty here, refused where it matters: apps.core.checks stops serving processes without them.
    SECRET_KEY = env.str("SECRET_KEY", default="")
    ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[])

CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "axes",
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
    "apps.training",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Serves collected static files in production (gunicorn has no static server).
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "apps.core.middleware.HtmxLoginRedirectMiddleware",
    "apps.core.middleware.DatabaseBusyMiddleware",
    # Last, as django-axes asks: turns a locked-out login into its lockout page.
    "axes.middleware.AxesMiddleware",
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
# Login throttling (django-axes) for the site login and the Django admin's: after
# AXES_FAILURE_LIMIT wrong passwords for one username from one address, that pair is locked
# out for AXES_COOLOFF_TIME, the right password included; a successful login resets the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.float("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked.html"
AXES_HTTP_RESPONSE_CODE = 429
# No start-up banner: management commands (engine_server, verify --json) print only their own output.
AXES_VERBOSE = False
# The address is REMOTE_ADDR: behind a reverse proxy every client shares the proxy's, so the
# lock then works per username (still a lock; one user's typos can lock that user only).

LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "renders:job-new"
LOGOUT_REDIRECT_URL = "accounts:login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env.str("TIME_ZONE", default="UTC")
USE_I18N = False
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "staticfiles"  # filled by collectstatic, served by WhiteNoise
STATIC_ROOT.mkdir(exist_ok=True)

# Images are private: stored outside any public URL, served only by views that check the user.
MEDIA_ROOT = VAR_DIR / "media"
STORAGES = {
    "default": {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(MEDIA_ROOT), "base_url": None},
    },
    # Compressed copies (gzip, and brotli when installed) made by collectstatic; served by
    # WhiteNoise. Not the manifest variant: pages must render even where collectstatic has not
    # run (tests, a fresh checkout), which the manifest storage refuses.
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
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
    # health_check_interval pings a connection idle that long before using it, so a socket
    # left over from before a Redis restart is replaced instead of failing the consumer;
    # keepalive notices a peer that vanished without closing.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": 900,
        "socket_connect_timeout": 2,
        "socket_timeout": 5,
        "socket_keepalive": True,
        "retry_on_timeout": True,
        "health_check_interval": 10,
    }
    # kombu's Redis transport with a fix that keeps workers alive across a Redis restart.
    CELERY_BROKER_TRANSPORT = "renderhub.broker:Transport"
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
# Time limits: soft (SoftTimeLimitExceeded inside the task) then hard (the process is killed),
# per task type below. Only the prefork pool enforces them; a thread pool cannot stop a
# thread, so the render queues (threads) are bounded by the engine transport's own overall
# deadline per call (Engine.deadline_s, default 120 s, a watchdog cuts the socket), which sits
# below the render task's limits, and the sweeper recovers anything that still overruns.
CELERY_TASK_SOFT_TIME_LIMIT = env.int("CELERY_TASK_SOFT_TIME_LIMIT", default=180)
CELERY_TASK_TIME_LIMIT = env.int("CELERY_TASK_TIME_LIMIT", default=240)
RENDERHUB_TASK_TIME_LIMITS = {  # task name: (soft, hard) seconds
    # One engine call (deadline_s) plus storing the image.
    "renders.run_attempt": (CELERY_TASK_SOFT_TIME_LIMIT, CELERY_TASK_TIME_LIMIT),
    # OCR of one image takes 0.1–3 s here (apps/verification/README.md); a minute means a stuck model.
    "renders.verify_attempt": (env.int("VERIFY_SOFT_TIME_LIMIT", default=60), env.int("VERIFY_TIME_LIMIT", default=90)),
    # Periodic (the sweeper every RENDERHUB_SWEEP_INTERVAL_S): a run that overruns its period
    # overlaps the next harmlessly (conditional updates), and is cut short here.
    "renders.sweep_stuck": (20, 25),
    "renders.release_deferred": (20, 25),
    # Only decides and enqueues.
    "renders.hedge_preview": (20, 25),
}
CELERY_TASK_ANNOTATIONS = {
    name: {"soft_time_limit": soft, "time_limit": hard} for name, (soft, hard) in RENDERHUB_TASK_TIME_LIMITS.items()
}
CELERY_TASK_DEFAULT_QUEUE = "default"
# A worker never gives up on the broker: it retries the connection forever, at start-up
# and after losing it, instead of exiting (a Redis restart must not need a hand).
CELERY_BROKER_CONNECTION_RETRY = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_CONNECTION_MAX_RETRIES = None
CELERY_BROKER_CONNECTION_TIMEOUT = 4
CELERY_WORKER_CANCEL_LONG_RUNNING_TASKS_ON_CONNECTION_LOSS = True
# A prefork child loads and runs the OCR models before it says it is up (apps.renders.tasks.warm_ocr:
# 1.7–3.9 s measured on this 2-core machine at load averages of 5–17, 6.9 s once). Celery kills a replacement child
# (after a crash or a time limit) that is not up within 4 s by default, and would kill the next one
# too while the machine stays that busy.
CELERY_WORKER_PROC_ALIVE_TIMEOUT = env.float("CELERY_WORKER_PROC_ALIVE_TIMEOUT", default=60.0)
# Celery closes Django's DB connection after every task unless this is set (performance.md F1).
# Reused connections are health-checked before every task instead (renderhub/celery.py:
# close_old_connections + CONN_HEALTH_CHECKS), so one that a PostgreSQL restart broke is
# replaced rather than failing every later task.
CELERY_DB_REUSE_MAX = env.int("CELERY_DB_REUSE_MAX", default=1000)
# Periodic recovery (renderhub/celery.py's beat schedule): how often the sweeper runs, and how
# long an attempt may wait in the queue before it is sent again.
RENDERHUB_SWEEP_INTERVAL_S = env.float("RENDERHUB_SWEEP_INTERVAL_S", default=5.0)
RENDERHUB_REQUEUE_AFTER_S = env.int("RENDERHUB_REQUEUE_AFTER_S", default=120)
# A RUNNING attempt's lease: the worker renews it every third of this while the engine call
# runs; once it runs out the sweeper retries the attempt on the same stage's engine.
RENDERHUB_LEASE_S = env.float("RENDERHUB_LEASE_S", default=15.0)
# Verification processes in the deployment (the Procfile's VERIFY_CONCURRENCY, by default one
# per core, `nproc`): admission turns the measured OCR seconds per image into images per second with it.
RENDERHUB_VERIFY_CONCURRENCY = env.int(
    "RENDERHUB_VERIFY_CONCURRENCY", default=env.int("VERIFY_CONCURRENCY", default=len(os.sched_getaffinity(0)))
)
# The same for the preview verification worker (the Procfile's VERIFY_PREVIEW_CONCURRENCY).
RENDERHUB_VERIFY_PREVIEW_CONCURRENCY = env.int(
    "RENDERHUB_VERIFY_PREVIEW_CONCURRENCY", default=env.int("VERIFY_PREVIEW_CONCURRENCY", default=1)
)
# How many times one job's attempts are retried after their worker was lost, before the job fails.
RENDERHUB_LOST_RETRIES = env.int("RENDERHUB_LOST_RETRIES", default=3)
CELERY_TASK_ALWAYS_EAGER = env.bool("CELERY_TASK_ALWAYS_EAGER", default=False)

RENDERHUB_QUEUES = {
    "preview": env.str("QUEUE_PREVIEW", default="render.preview"),
    "final": env.str("QUEUE_FINAL", default="render.final"),
    "verify": env.str("QUEUE_VERIFY", default="verify"),
    # Verification of the previews a job rests at (the preview tier's deliverable), on its own
    # worker at a higher CPU priority than the finals' (apps/renders/pipeline/enqueue.py).
    "verify_preview": env.str("QUEUE_VERIFY_PREVIEW", default="verify.preview"),
}

# --- RenderHub ------------------------------------------------------------------------
RENDERHUB_MAX_PIXELS = env.int("RENDERHUB_MAX_PIXELS", default=4096 * 4096)
RENDERHUB_MAX_SIDE = env.int("RENDERHUB_MAX_SIDE", default=2048)
# The rights note each exported training image carries (apps/training): who may use vendor
# output for training is the vendor's terms and the organisation's call, so it is configuration.
RENDERHUB_TRAINING_RIGHTS_NOTE = env.str(
    "RENDERHUB_TRAINING_RIGHTS_NOTE",
    default="Made for internal editorial use; the engine vendor's terms of use apply to its output, "
    "check them before training on it. Texts were typed by staff.",
)
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
