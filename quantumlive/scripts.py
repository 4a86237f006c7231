"""The one way this project loads and calls its Lua scripts.

A script is declared once, beside the code that uses it, with the names of its keys and of its
arguments, in the order the Lua reads them (`KEYS[1]`, `ARGV[1]`, …):

    _RELEASE = Script(
        keys=("lock",), args=("token",),
        source="if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0",
    )

and called only through a typed function of that module, with keyword arguments, so no call
depends on the order of a dozen positional values:

    def lock_release(*, track_id: str, token: str) -> bool:
        return bool(_RELEASE(get_redis(), lock=keys.track_lock(track_id), token=token))

Every key a script reads or writes is passed in KEYS (Redis Cluster routes a script by them;
a script never builds a key name itself). A name ending in `*` takes a list of any length and
must be the last of its kind: `keys=("tracks*",)` passes every item as a key.

Scripts run by EVALSHA; the text is sent once per Redis (again after a restart or SCRIPT
FLUSH). Queued on a pipeline, a script's reply comes with the pipeline's: redis-py loads the
pipeline's scripts that Redis lacks before it sends the pipeline (as it does for its own
`register_script` objects), so a batch of thousands of calls sends the text at most once.
Should Redis lose them between that load and the batch (SCRIPT FLUSH, a failover), those calls
fail with NoScriptError while the pipeline's other commands land, as any failing command of a
pipeline would.
Queued on a transaction (MULTI … EXEC), a script runs by EVAL, its text sent with it: a script
missing at EXEC would fail alone while the transaction's other commands ran, and a transaction
is all or nothing. Between WATCH and MULTI a pipeline runs each call at once: a script runs
there as on a client.
"""

import hashlib
from collections.abc import Sequence

import redis


class Script:
    def __init__(self, *, source: str, keys: Sequence[str] = (), args: Sequence[str] = ()):
        for names in (keys, args):
            if any(name.endswith("*") for name in names[:-1]):
                raise ValueError("only the last name of keys or args may take a list: %r" % (names,))
        self.source = source
        self.key_names = tuple(keys)
        self.arg_names = tuple(args)
        self.sha = hashlib.sha1(source.encode()).hexdigest()

    @property
    def script(self) -> str:
        """The text, under the name redis-py's Pipeline.load_scripts reads."""
        return self.source

    def _flatten(self, names: tuple[str, ...], given: dict) -> list:
        values = []
        for name in names:
            if name.endswith("*"):
                values.extend(given.pop(name[:-1]))
            else:
                values.append(given.pop(name))
        return values

    def _keys_and_args(self, given: dict) -> tuple[list, list]:
        given = dict(given)
        try:
            script_keys = self._flatten(self.key_names, given)
            script_args = self._flatten(self.arg_names, given)
        except KeyError as missing:
            raise TypeError("script argument %s is missing" % missing) from None
        if given:
            raise TypeError("unknown script arguments: %s" % ", ".join(sorted(given)))
        return script_keys, script_args

    def __call__(self, client: redis.Redis, **given):
        """Runs the script on `client` (a client, pipeline or transaction) with its keys and
        arguments given by name."""
        script_keys, script_args = self._keys_and_args(given)
        if _queues(client):
            if client.transaction or client.explicit_transaction:
                return client.eval(self.source, len(script_keys), *script_keys, *script_args)
            client.scripts.add(self)  # loaded, if Redis lacks it, when the pipeline executes
            return client.evalsha(self.sha, len(script_keys), *script_keys, *script_args)
        try:
            return client.evalsha(self.sha, len(script_keys), *script_keys, *script_args)
        except redis.exceptions.NoScriptError:
            client.script_load(self.source)
            return client.evalsha(self.sha, len(script_keys), *script_keys, *script_args)


def _queues(client: redis.Redis) -> bool:
    """True when `client` is a pipeline that queues calls (not one between WATCH and MULTI,
    which runs them at once)."""
    return isinstance(client, redis.client.Pipeline) and (client.explicit_transaction or not client.watching)
