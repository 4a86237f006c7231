"""quantumlive/scripts.py: scripts called by name, every key in KEYS, loaded once per Redis."""

import uuid

import pytest

from quantumlive.keys import key
from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script

# Sets a key to an argument and answers with what it held before; the source is new to this
# Redis on each run (a random comment), so the first call finds no loaded script.
def _swap() -> Script:
    return Script(
        keys=("target",), args=("value",),
        source="-- %s\nlocal old = redis.call('GET', KEYS[1])\nredis.call('SET', KEYS[1], ARGV[1])\nreturn old"
        % uuid.uuid4().hex,
    )


def test_a_script_new_to_redis_is_loaded_then_run_by_sha():
    swap = _swap()
    redis = get_redis()
    assert redis.script_exists(swap.sha) == [False]
    assert swap(redis, target=key("scripts", "a"), value="1") is None
    assert redis.script_exists(swap.sha) == [True]
    assert swap(redis, target=key("scripts", "a"), value="2") == "1"


def test_a_list_name_passes_every_item_as_a_key():
    count = Script(keys=("first", "rest*"), args=("n",), source="return {#KEYS, ARGV[1]}")
    names = [key("scripts", str(i)) for i in range(4)]
    assert count(get_redis(), first=names[0], rest=names[1:], n="x") == [4, "x"]
    assert count(get_redis(), first=names[0], rest=[], n="y") == [1, "y"]


def test_a_script_queued_on_a_transaction_answers_with_it():
    swap = _swap()
    pipe = get_redis().pipeline(transaction=True)
    swap(pipe, target=key("scripts", "b"), value="x")
    swap(pipe, target=key("scripts", "b"), value="y")
    assert pipe.execute() == [None, "x"]


@pytest.mark.parametrize("given", [{"target": "k"}, {"target": "k", "value": 1, "other": 2}])
def test_a_missing_or_unknown_argument_is_refused_before_redis_is_called(given):
    with pytest.raises(TypeError):
        _swap()(None, **given)


def test_only_the_last_name_may_take_a_list():
    with pytest.raises(ValueError):
        Script(keys=("a*", "b"), source="return 1")
