from config.env import env_bool, env_int, env_list, env_str

from .base import *  # noqa: F403

DEBUG = False
SECRET_KEY = env_str("SECRET_KEY")  # required: no default in production
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
# The origin in a password reset email's link: set it, or it is the first allowed host over HTTPS (never a dev URL).
PORTAL_BASE_URL = env_str("PORTAL_BASE_URL", default=f"https://{ALLOWED_HOSTS[0]}" if ALLOWED_HOSTS else "").rstrip("/")
# Origins allowed to POST admin forms when the load balancer does not pass the public Host through
# (e.g. "https://limber.example.org"); empty: Django compares Origin with the request's own host.
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
SESSION_COOKIE_SECURE = True
CSRF_COOKIE_SECURE = True
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", default=31536000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = True  # the admin and Swagger UI take the CSRF token from the page, never from the cookie
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"

# Content Security Policy: base.py's, as in every environment (the portal's pages: clinic.csp.portal_csp).

# Static files (the admin's, Swagger UI's, the portal's) are served by WhiteNoise from STATIC_ROOT, which
# `collectstatic` fills at build time (docs/deploy.md). It sits right after SecurityMiddleware: the HTTPS redirect and
# HSTS still apply, and the middleware after it does not run for a file. collectstatic also writes compressed copies
# (gzip; Brotli where installed). Names are not hashed, so a template rendered before collectstatic ran still works.
MIDDLEWARE = [*MIDDLEWARE]  # noqa: F405
MIDDLEWARE.insert(
    MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1, "whitenoise.middleware.WhiteNoiseMiddleware"
)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
