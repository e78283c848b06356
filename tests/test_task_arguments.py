"""No patient data in the broker: every task of ours takes ids only (DESIGN §5, issue 6)."""

import inspect

import pytest

from config.celery import app

app.loader.import_default_modules()
OUR_TASKS = sorted(name for name in app.tasks if name.startswith("prescriptions."))


def test_there_are_tasks_to_check():
    assert len(OUR_TASKS) >= 6


@pytest.mark.parametrize("name", OUR_TASKS)
def test_task_arguments_are_ids(name):
    signature = inspect.signature(app.tasks[name].run)
    for parameter in signature.parameters.values():
        assert parameter.annotation in (int, "int"), f"{name}({parameter.name}: {parameter.annotation})"


@pytest.mark.parametrize("name", OUR_TASKS)
def test_tasks_keep_no_results(name):
    task = app.tasks[name]
    assert task.ignore_result is True
    assert task.acks_late is True
