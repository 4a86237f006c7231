"""How large stored hashes are without reading them: the summed lengths of some of their
fields, in one call (HSTRLEN). What an export reads at once is chosen from these before it
reads the records (tracks/backup.py)."""

from collections.abc import Sequence

from quantumlive.redis_conn import get_redis
from quantumlive.scripts import Script

_FIELD_LENGTHS = Script(keys=("hashes*",), args=("fields*",), source=r"""
local out = {}
for i, name in ipairs(KEYS) do
  local n = 0
  for j = 1, #ARGV do n = n + redis.call('HSTRLEN', name, ARGV[j]) end
  out[i] = n
end
return out
""")


def hash_field_lengths(*, hashes: list[str], fields: Sequence[str]) -> list[int]:
    """Per hash, the summed lengths of its `fields` (0 for a hash that is gone)."""
    return [int(n) for n in _FIELD_LENGTHS(get_redis(), hashes=hashes, fields=fields)]
