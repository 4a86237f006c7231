"""quantumlive/keys.py: the one place key names are spelled, usable before Django is set up."""

import os
import subprocess
import sys
from pathlib import Path

from quantumlive import keys

ROOT = Path(__file__).resolve().parents[2]


def test_the_names_settings_needs_are_spelled_without_django_settings():
    env = {name: value for name, value in os.environ.items() if name != "DJANGO_SETTINGS_MODULE"}
    code = ("from quantumlive.keys import analysis_queue_name, django_cache_prefix\n"
            "print(django_cache_prefix('p1'), analysis_queue_name('p1'))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert out.split() == ["{p1}:cache", "{p1}:analysis"]


def test_settings_take_the_cache_prefix_and_the_queue_name_from_keys(settings):
    assert settings.CACHES["default"]["KEY_PREFIX"] == keys.key("cache")
    assert list(settings.RQ_QUEUES) == [keys.analysis_queue_name()]


def test_every_key_of_this_deployment_is_under_its_prefix_and_a_new_prefix_is_seen(settings):
    assert keys.track("t1") == keys.key_under(settings.QL_REDIS_PREFIX, "track", "t1")
    settings.QL_REDIS_PREFIX = settings.QL_REDIS_PREFIX + "-other"
    assert keys.track("t1") == "{%s}:track:t1" % settings.QL_REDIS_PREFIX


def test_rq_names_are_rq_own():
    from rq import Queue
    from rq.job import Job

    from analysis.jobs import queue

    assert keys.rq_queue() == queue().key
    assert keys.rq_job("j1") == Job.key_for("j1")
    assert keys.rq_queue_registry() == Queue.redis_queues_keys
