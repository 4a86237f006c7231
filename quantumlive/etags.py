"""ETag conditions shared by the APIs whose resources carry a version (tracks, playlists):
`ETag` is `"<version>"`; If-Match and If-None-Match name one or more versions, strong or weak
(`W/"<version>"`). An If-Match that is not such a list never matches (412)."""

import re
from collections.abc import Callable

from quantumlive.exceptions import PreconditionFailed

_TAG = re.compile(r'\s*(?:W/)?"(\d{1,18})"\s*')
# Longer If-Match/If-None-Match headers name no tag (a version is at most 18 digits; a
# client conditions a write on one version, a read on the few it holds).
MAX_TAG_HEADER = 1024


def parse_tags(header: str) -> list[int] | None:
    """Versions named by an If-Match/If-None-Match header, or None if any part is not a tag
    (or the header is longer than MAX_TAG_HEADER: not read at all)."""
    if len(header) > MAX_TAG_HEADER:
        return None
    tags = []
    for part in header.split(","):
        found = _TAG.fullmatch(part)
        if found is None:
            return None
        tags.append(int(found.group(1)))
    return tags


def etag(version: int) -> str:
    return f'"{version}"'


def none_match(header: str | None, version: int) -> bool:
    """True when an If-None-Match header (None: absent) matches `version`: `*`, or a list
    naming it (304 for a read)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    tags = parse_tags(header)
    return bool(tags) and version in tags


def expected_version(header: str | None, current_version: Callable[[], int],
                     detail: str | None = None) -> int | None:
    """The version a write is conditioned on by an If-Match header (None without one). One
    tag is that version (the store checks it atomically); a list is the current version if
    it names it (`current_version()` reads it; it may raise NotFound). No valid tag, or not
    the current version: PreconditionFailed (412, with `detail` if given)."""
    if header is None:
        return None
    tags = parse_tags(header)
    if not tags:
        raise PreconditionFailed(detail)
    if len(tags) == 1:
        return tags[0]
    current = current_version()
    if current in tags:
        return current
    raise PreconditionFailed(detail)
