import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.dev")

app = Celery("limber")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@app.on_after_configure.connect
def expose_redbeat_settings(sender, source, **kwargs) -> None:
    """Give celery-redbeat its ``CELERY_REDBEAT_*`` settings under the names it looks for (``redbeat_*``).

    redbeat tells a set option from a defaulted one by its un-namespaced name among the configuration's keys,
    which the ``CELERY`` namespace hides: without this it warns that it falls back to the broker's URL and
    options, and drops ``CELERY_REDBEAT_REDIS_OPTIONS`` (the client's socket timeouts).
    """
    prefix = "CELERY_REDBEAT_"
    source.update({key.removeprefix("CELERY_").lower(): source[key] for key in source if key.startswith(prefix)})
