"""quantumlive/scripts.py: scripts called by name, every key in KEYS, loaded once per Redis."""

import uuid

import pytest

from quantumlive.keys import key
from quantumlive.redis_conn import get_redis, make_client
from quantumlive.scripts import Script
from tests.system.servers import PrivateRedis

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


@pytest.fixture
def private_client():
    """A client of a redis-server of this test's own: SCRIPT FLUSH and INFO's command counts
    concern every client of a server."""
    server = PrivateRedis().start()
    try:
        yield make_client(server.url)
    finally:
        server.close()


def test_a_batch_on_a_pipeline_sends_the_script_text_once(private_client):
    swap = _swap()
    pipe = private_client.pipeline(transaction=False)
    for i in range(50):
        swap(pipe, target="batch", value=str(i))
    assert pipe.execute() == [None, *map(str, range(49))]
    stats = private_client.info("commandstats")
    assert stats["cmdstat_evalsha"]["calls"] == 50 and "cmdstat_eval" not in stats


def test_a_transaction_whose_script_redis_lost_before_exec_still_runs_whole(private_client):
    """Redis drops its scripts between the pipeline's load and its EXEC (SCRIPT FLUSH, here
    queued first in the transaction itself; a failover does the same): the transaction still
    lands whole, never its other commands without the script."""
    pipe = private_client.pipeline(transaction=True)
    pipe.script_flush()
    _swap()(pipe, target="scripted", value="x")
    pipe.set("plain", "y")
    assert pipe.execute() == [True, None, True]
    assert private_client.mget("scripted", "plain") == ["x", "y"]


def test_a_script_run_while_a_pipeline_watches_is_loaded_then_run():
    """Between WATCH and MULTI a pipeline runs each call at once (a check-and-set reads
    there): a script Redis lacks is loaded as on a client."""
    read = Script(keys=("target",), source="-- %s\nreturn redis.call('GET', KEYS[1])" % uuid.uuid4().hex)
    target = key("scripts", "c")
    get_redis().set(target, "1")
    with get_redis().pipeline() as pipe:
        pipe.watch(target)
        assert read(pipe, target=target) == "1"
        pipe.multi()
        _swap()(pipe, target=target, value="2")
        assert pipe.execute() == ["1"]
    assert get_redis().get(target) == "2"


@pytest.mark.parametrize("given", [{"target": "k"}, {"target": "k", "value": 1, "other": 2}])
def test_a_missing_or_unknown_argument_is_refused_before_redis_is_called(given):
    with pytest.raises(TypeError):
        _swap()(None, **given)


def test_only_the_last_name_may_take_a_list():
    with pytest.raises(ValueError):
        Script(keys=("a*", "b"), source="return 1")
