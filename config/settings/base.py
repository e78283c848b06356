"""Settings shared by every environment. Values come from the environment (DESIGN §8)."""

import datetime as dt
import ipaddress
import logging
import re
import uuid
from pathlib import Path

from celery.schedules import crontab
from csp.constants import NONE, SELF, UNSAFE_INLINE
from django.core.exceptions import ImproperlyConfigured

from config.env import env_bool, env_db, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent.parent

SECRET_KEY = env_str("SECRET_KEY", default="dev-only-insecure-secret-key-change-me")
DEBUG = False
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", default=["localhost", "127.0.0.1"])

INSTALLED_APPS = [
    "config.apps.LimberAdminConfig",  # django.contrib.admin with Limber's site (config/admin.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "pgtrigger",
    "pghistory",
    "axes",
    "rest_framework",
    "knox",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "csp",
    "clinic",
    "patients",
    "prescriptions",
]

MIDDLEWARE = [
    # /healthz and /readyz for the load balancer: first, so no host check or HTTPS redirect applies to probes.
    "clinic.health.HealthCheckMiddleware",
    # Cache-Control: no-store on every /api/ answer (login and problems included), whichever layer made it.
    "clinic.api.no_store.NoStoreMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Content-Security-Policy on every answer (CONTENT_SECURITY_POLICY below; the portal's stricter one: clinic.csp).
    "csp.middleware.CSPMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Admin/session requests: the actor and URL of every tracked change (token API requests set it in the view).
    "pghistory.middleware.HistoryMiddleware",
    # Admin pages print times in the staff member's clinic's zone (and name it); the API stays UTC.
    "clinic.clinic_time.ClinicTimeMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    # Last, as axes asks: it turns an admin login refused for lockout into a 429.
    "axes.middleware.AxesMiddleware",
]
# A read changes nothing tracked (the access log is append-only, not a tracked model): no pghistory context for GET
# and HEAD, as the API's views (``clinic.api.views.Contextual``), so no statement of a read carries pghistory's
# set_config prefix, a second command a prepared statement cannot hold (``config.postgresql``: the portal's plans).
PGHISTORY_MIDDLEWARE_METHODS = ("POST", "PUT", "PATCH", "DELETE")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "config" / "templates"],  # the admin's header: which zone its times are in
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

DATABASES = {"default": env_db("DATABASE_URL", default="postgres://root@127.0.0.1:5432/limber")}
DATABASES["default"]["ENGINE"] = "config.postgresql"  # Django's, with a health check and prepared statements
DATABASES["default"]["ATOMIC_REQUESTS"] = False
DATABASES["default"]["CONN_MAX_AGE"] = env_int("DB_CONN_MAX_AGE", default=0, minimum=0)
# With persistent connections, a connection the database dropped (restart, failover) is replaced before use.
DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
# A database host that stops answering fails a connection attempt (and /readyz) after this, instead of never.
_CONNECT_TIMEOUT = env_int("DB_CONNECT_TIMEOUT", default=5, minimum=1)
DATABASES["default"].setdefault("OPTIONS", {}).setdefault("connect_timeout", _CONNECT_TIMEOUT)
# The portal's two hand-written hot statements are prepared on the server (``config.postgresql``); a pooler that cannot
# keep prepared statements (PgBouncer before 1.21 in transaction mode) needs DB_PREPARED_STATEMENTS=0 (docs/deploy.md).
if not env_bool("DB_PREPARED_STATEMENTS", default=True):
    DATABASES["default"]["OPTIONS"]["prepare_threshold"] = None
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# Argon2id first: new and re-hashed passwords use it; older hashes still verify and upgrade on next login.
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]

# Login lockout (django-axes) for the admin and the API token login: the axes backend refuses a
# username+IP pair after AXES_FAILURE_LIMIT failures until AXES_COOLOFF_TIME has passed since the last
# counted one. Retrying while locked out does not extend it; a successful login clears the count.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = 5
AXES_COOLOFF_TIME = dt.timedelta(minutes=15)
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_HTTP_RESPONSE_CODE = 429
AXES_VERBOSE = False  # no start-up banner; failure logs carry only the (masked) lockout parameters and the path
# Behind a load balancer every request comes from its address: with TRUSTED_PROXY_COUNT proxies (that append to
# X-Forwarded-For) in front of gunicorn and their networks in TRUSTED_PROXY_NETWORKS, the lockout and the login
# throttle both key on the client's own address (clinic.api.client_ip). The default, 0, ignores the header, which
# anyone can write.
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", default=0, minimum=0)
TRUSTED_PROXY_NETWORKS = env_list("TRUSTED_PROXY_NETWORKS", default=[])
try:
    for _network in TRUSTED_PROXY_NETWORKS:
        ipaddress.ip_network(_network)
except ValueError as _error:
    raise ImproperlyConfigured(f"Environment variable TRUSTED_PROXY_NETWORKS is invalid: {_error}") from None
if TRUSTED_PROXY_COUNT and not TRUSTED_PROXY_NETWORKS:
    raise ImproperlyConfigured(
        "Environment variable TRUSTED_PROXY_NETWORKS is required when TRUSTED_PROXY_COUNT is set: "
        "the load balancers' addresses or networks, e.g. 10.0.0.0/8."
    )
AXES_CLIENT_IP_CALLABLE = "clinic.api.client_ip.client_ip"

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

# Content Security Policy (django-csp 4), in every environment, so development, the tests and the browser tests'
# live server run what production runs. This site-wide policy is for the admin and Swagger UI (/api/docs/), both
# served from our own /static/: Swagger UI needs inline styles (React sets style attributes) and data: images (its
# CSS icons); its init script is served from 'self' by SpectacularSwaggerSplitView, so scripts stay strict. The
# portal's pages replace it with a stricter one, no inline style either (clinic.csp.portal_csp).
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF],
        "style-src": [SELF, UNSAFE_INLINE],
        "img-src": [SELF, "data:"],
        "object-src": [NONE],
        "base-uri": [SELF],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
    },
}

# Cache: login throttling counts and cached catalog rows, shared by every web process.
CACHES = {
    "default": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": env_str("CACHE_URL", default="redis://127.0.0.1:6379/1"),
        "OPTIONS": {"socket_connect_timeout": 2, "socket_timeout": 2},
    }
}

# --- REST API (DESIGN §6) -----------------------------------------------------------------------
# A request body larger than this is refused before it is parsed: 413 problem under /api/ (clinic/api/problems.py).
# The largest body the serializers allow (a plan: 50 items, 200 overrides and 200 acknowledgements with
# 2,000-character reasons) is about 1 MB.
DATA_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "clinic.api.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "clinic.api.pagination.Pagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_RENDERER_CLASSES": ["clinic.api.renderers.ORJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["clinic.api.parsers.BoundedJSONParser"],  # JSON nested at most 32 deep
    "DEFAULT_SCHEMA_CLASS": "clinic.api.schema.LimberAutoSchema",
    "EXCEPTION_HANDLER": "clinic.api.problems.exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "login": env_str("LOGIN_THROTTLE_RATE", default="10/min"),
        "program_pdf": env_str("PROGRAM_PDF_THROTTLE_RATE", default="30/min"),
    },
    "NUM_PROXIES": 0,  # DRF's own rule would believe X-Forwarded-For from anyone; see TRUSTED_PROXY_COUNT
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
REST_KNOX = {
    "TOKEN_TTL": dt.timedelta(hours=env_int("API_TOKEN_TTL_HOURS", default=12, minimum=1)),
    "AUTO_REFRESH": False,
    "TOKEN_LIMIT_PER_USER": 20,
}
# A browser session (the portal, the admin) lasts as long as an API token: one setting, API_TOKEN_TTL_HOURS.
SESSION_COOKIE_AGE = int(REST_KNOX["TOKEN_TTL"].total_seconds())
SPECTACULAR_SETTINGS = {
    "TITLE": "Limber API",
    "DESCRIPTION": "Stretch prescriptions checked against clearance, diagnoses and mobility.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "SECURITY": [{"knoxApiToken": []}, {"cookieAuth": []}],
    # Swagger UI assets served from the package, not a CDN (clinic networks are often closed).
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # One name per choice set, so clients get stable enum types.
    "ENUM_NAME_OVERRIDES": {
        "ClearanceStatusEnum": "patients.models.Clearance.Status",
        "PrescriptionStatusEnum": "prescriptions.models.Prescription.Status",
        "SessionStatusEnum": "prescriptions.models.Session.Status",
        "ReminderStatusEnum": "prescriptions.models.Reminder.Status",
        "FlagStatusEnum": "prescriptions.models.SafetyFlag.Status",
        "FlagKindEnum": "prescriptions.models.SafetyFlag.Kind",
        "FlagSeverityEnum": "prescriptions.models.SafetyFlag.Severity",
        "ContraindicationSeverityEnum": "clinic.models.Contraindication.Severity",
        "StretchKindEnum": "clinic.models.Stretch.Kind",
        "ProfessionEnum": "clinic.models.Profession",
        "FindingSeverityEnum": ["block", "warn"],
    },
}

# --- Celery (DESIGN §5) -------------------------------------------------------------------------
REDIS_URL = env_str("REDIS_URL", default="redis://127.0.0.1:6379/0")
# The broker: Redis by default; BROKER_URL=amqp://user:pass@host:5672/vhost switches it to RabbitMQ.
CELERY_BROKER_URL = env_str("BROKER_URL", default=REDIS_URL)
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", default=50, minimum=1)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", default=60, minimum=1)
CELERY_TIMEZONE = "UTC"
CELERY_ENABLE_UTC = True
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A dead broker must never hang a request: short socket timeouts and bounded publish retries.
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "socket_connect_timeout": 2,
    "socket_timeout": 5,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.5,
}
# Exactly one beat runs these (UTC). The database is the source of truth and per-minute tasks drain it, so
# whatever a broker outage dropped is caught up by the first run after the broker returns: sessions to
# materialize (sweep_materialize), re-checks recorded in the outbox with every gate-fact change (drain_rechecks;
# each run drains within its time budget, oldest first, so a backlog larger than one run continues in the next),
# reminders due (dispatch_reminders, which also re-runs the whole gate before each send).
CELERY_BEAT_SCHEDULE = {
    "drain-rechecks": {"task": "prescriptions.drain_rechecks", "schedule": 60.0},
    "escalate-conflict-flags": {"task": "prescriptions.escalate_conflict_flags", "schedule": 60.0},
    "materialize-sessions": {"task": "prescriptions.sweep_materialize", "schedule": 60.0},
    "dispatch-reminders": {"task": "prescriptions.dispatch_reminders", "schedule": 60.0},
    "mark-missed-sessions": {"task": "prescriptions.sweep_missed_sessions", "schedule": 300.0},
    "progress-doses": {"task": "prescriptions.progression_sweep", "schedule": 900.0},
    "schedule-measures": {"task": "prescriptions.measures_schedule_sweep", "schedule": 3600.0},
    "nightly-conflict-sweep": {"task": "prescriptions.sweep_conflicts", "schedule": crontab(minute=15, hour=3)},
    "purge-expired-tokens": {"task": "clinic.purge_expired_tokens", "schedule": crontab(minute=45, hour=3)},
}
# "Exactly one beat" is held by a Redis lock (celery-redbeat, docs/deploy.md): a beat takes the lock before its
# first tick and extends it on every tick (at most BEAT_MAX_LOOP_INTERVAL apart); a second beat blocks on it as a
# standby and takes over within BEAT_LOCK_TIMEOUT + BEAT_MAX_LOOP_INTERVAL of the holder dying. The schedule's
# state (each entry's last run) lives in Redis too, so the standby carries on where the dead one stopped. Its Redis
# is its own setting: the broker may be RabbitMQ. Deployments sharing one Redis need their own BEAT_KEY_PREFIX.
CELERY_BEAT_SCHEDULER = "redbeat.RedBeatScheduler"
CELERY_BEAT_MAX_LOOP_INTERVAL = env_int("BEAT_MAX_LOOP_INTERVAL", default=5, minimum=1)
CELERY_REDBEAT_REDIS_URL = env_str("BEAT_REDIS_URL", default=REDIS_URL)
CELERY_REDBEAT_REDIS_OPTIONS = {"socket_connect_timeout": 2, "socket_timeout": 5}
CELERY_REDBEAT_KEY_PREFIX = env_str("BEAT_KEY_PREFIX", default="limber:beat:")
CELERY_REDBEAT_LOCK_TIMEOUT = env_int("BEAT_LOCK_TIMEOUT", default=30, minimum=1)
if CELERY_REDBEAT_LOCK_TIMEOUT < 2 * CELERY_BEAT_MAX_LOOP_INTERVAL:
    raise ImproperlyConfigured(
        "Environment variable BEAT_LOCK_TIMEOUT must be at least twice BEAT_MAX_LOOP_INTERVAL, "
        f"got {CELERY_REDBEAT_LOCK_TIMEOUT} and {CELERY_BEAT_MAX_LOOP_INTERVAL}."
    )

# --- Reminders and scheduling (DESIGN §5, §8) ---------------------------------------------------
REMINDER_HORIZON_DAYS = env_int("REMINDER_HORIZON_DAYS", default=14, minimum=1)
REMINDER_LEAD_MINUTES = env_int("REMINDER_LEAD_MINUTES", default=15, minimum=0)
REMINDER_DAILY_CAP = env_int("REMINDER_DAILY_CAP", default=6, minimum=1)
SMS_BACKEND = env_str("SMS_BACKEND", default="prescriptions.channels.ConsoleSmsBackend")

# --- Email ---------------------------------------------------------------------------------------
EMAIL_BACKEND = env_str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env_str("EMAIL_HOST", default="localhost")
EMAIL_PORT = env_int("EMAIL_PORT", default=25, minimum=1)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", default="")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", default="")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", default="Limber <no-reply@limber.invalid>")
# The public origin of the portal, for links in emails sent outside a request (a password reset's link).
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", default="http://localhost:8000").rstrip("/")

# --- FHIR export (issue 19, docs/fhir.md) --------------------------------------------------------
# The identifier system of a clinic's MRNs in the export; ``{clinic}`` is the clinic's id.
FHIR_MRN_SYSTEM = env_str("FHIR_MRN_SYSTEM", default="urn:limber:clinic:{clinic}:mrn")
# The namespace of the export's resource ids (uuid5 of it and our ids): one per installation, never changed, so two
# installations never give the same id to different resources and one gives the same id on every export.
FHIR_ID_NAMESPACE = env_str("FHIR_ID_NAMESPACE", default="5b0c8f6e-4f1e-5a8e-9d1c-6c1e3f2a7b90")
try:
    uuid.UUID(FHIR_ID_NAMESPACE)
    FHIR_MRN_SYSTEM.format(clinic=1)
except (ValueError, KeyError, IndexError) as exc:
    raise ImproperlyConfigured(
        f"FHIR_ID_NAMESPACE must be a UUID and FHIR_MRN_SYSTEM may name only {{clinic}}: {exc}"
    ) from None
if "{clinic}" not in FHIR_MRN_SYSTEM or any(c.isspace() for c in FHIR_MRN_SYSTEM):
    raise ImproperlyConfigured("FHIR_MRN_SYSTEM is a URI naming {clinic}, e.g. urn:limber:clinic:{clinic}:mrn.")

_SECRET_KEY_NAMES = re.compile(r"password|passwd|token|secret|authorization", re.IGNORECASE)


def _redacted(value, depth=0):
    if depth > 4:
        return value
    if isinstance(value, dict):
        return {
            key: "********" if isinstance(key, str) and _SECRET_KEY_NAMES.search(key) else _redacted(item, depth + 1)
            for key, item in value.items()
        }
    if type(value) in (list, tuple):  # exactly: a named tuple is left as it is
        return type(value)(_redacted(item, depth + 1) for item in value)
    return value


class RedactSecrets(logging.Filter):
    """Mask the values of password/token/secret keys in any dict handed to a log call, before it is formatted."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.msg, dict):
            record.msg = _redacted(record.msg)
        if isinstance(record.args, dict | tuple):
            record.args = _redacted(record.args)
        return True


LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"redact_secrets": {"()": RedactSecrets}},
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {
        "console": {"class": "logging.StreamHandler", "formatter": "plain", "filters": ["redact_secrets"]},
    },
    "root": {"handlers": ["console"], "level": "INFO"},
    # WeasyPrint narrates every step of every PDF at INFO: its warnings (a CSS rule it skips) are enough.
    "loggers": {"django.db.backends": {"level": "WARNING"}, "weasyprint.progress": {"level": "WARNING"}},
}
