"""The same recording across services, found by normalized artist and title (and durations
within a few seconds where both are known) or by a shared ISRC.

Normalizing drops accents, case, punctuation, "feat." parts, bracketed video/audio noise
("(Official Video)", "[Lyric Video]") and YouTube's " - Topic" channel suffix. An item titled
"Artist - Title" (common on YouTube and SoundCloud uploads by labels and channels) is also
tried as that artist and title.

Titles and artists come from the providers, so their cost is bounded like client input's: only
their first MAX_MATCH_TEXT characters are read, and every pattern runs in linear time (no
repeat that can restart at each position of a long run, or that shares characters with the
next one).
"""

import functools
import re
import unicodedata

DURATION_TOLERANCE_SECONDS = 5.0
# Whose title, artist and duration a match shows, first found first.
PREFERENCE = ("itunes", "soundcloud", "youtube")
# Characters of a title or artist read for matching (the rest is not compared).
MAX_MATCH_TEXT = 512

# A bracketed part: its content holds no bracket, so each match attempt stops at the next
# bracket of any kind and the attempts never rescan the same characters.
_BRACKETED = re.compile(r"[(\[]([^()\[\]]*+)[)\]]")
_FEAT_WORD = re.compile(r"\s*+(?:feat\.?|ft\.?|featuring|with)\s", re.I)
_NOISE_WORD = re.compile(r"\b(?:official|video|audio|lyrics?|visuali[sz]er|hd|hq|4k|mv)\b", re.I)
# " feat. X" to the end: the text is cut at the first one (a pattern running on to the end
# with `.*$` failed at a newline and restarted at every later " feat.": quadratic).
_FEAT_TRAILING = re.compile(r"\s(?:feat\.?|ft\.?|featuring)\s", re.I)
# A run of spaces is tried from its first character only ((?<!\s)): a match starting inside
# the run would also start at its beginning, and restarting at every space was quadratic.
_TOPIC = re.compile(r"(?<!\s)\s+-\s+topic\s*+\Z", re.I)
_DASH = re.compile(r"(?<!\s)\s+[-–—]\s+")
_APOSTROPHES = re.compile(r"['’`]")


def plain(value: str) -> str:
    """Accents, case and punctuation away (apostrophes join: "don't" = "dont"); "and" and
    "&" dropped; spaces collapsed."""
    if not value.isascii():
        value = unicodedata.normalize("NFKD", value)
        value = "".join(ch for ch in value if not unicodedata.combining(ch))
    value = value.casefold()
    value = re.sub(r"[\W_]+", " ", _APOSTROPHES.sub("", value))
    return " ".join(word for word in value.split() if word != "and")


def _drop_bracketed(text: str, *, noise: bool) -> str:
    """Bracketed "feat." parts away, and with `noise` bracketed parts naming video/audio noise."""

    def replace(found: re.Match) -> str:
        content = found.group(1)
        if _FEAT_WORD.match(content) or (noise and _NOISE_WORD.search(content)):
            return " "
        return found.group(0)

    return _BRACKETED.sub(replace, text)


def _drop_trailing_feat(text: str) -> str:
    found = _FEAT_TRAILING.search(text)
    return text[:found.start()] if found else text


def normalize_artist(artist: str) -> str:
    artist = _TOPIC.sub("", artist)
    artist = _drop_bracketed(artist, noise=False)
    return plain(_drop_trailing_feat(artist))


def normalize_title(title: str) -> str:
    title = _drop_bracketed(title, noise=True)
    return plain(_drop_trailing_feat(title))


def recording_keys(item: dict) -> frozenset[tuple[str, str]]:
    """The (artist, title) pairs an item may be known by (from their first MAX_MATCH_TEXT
    characters)."""
    return _keys((item.get("title") or "")[:MAX_MATCH_TEXT], (item.get("artist") or "")[:MAX_MATCH_TEXT])


@functools.lru_cache(maxsize=8192)  # the same items come back with every cached answer
def _keys(title: str, artist: str) -> frozenset[tuple[str, str]]:
    pairs = {(normalize_artist(artist), normalize_title(title))}
    parts = _DASH.split(title, maxsplit=1)
    if len(parts) == 2:
        pairs.add((normalize_artist(parts[0]), normalize_title(parts[1])))
    return frozenset((a, t) for a, t in pairs if a and t)


class _Group:
    """Items taken for one recording, in the order found."""

    def __init__(self, order: int):
        self.order = order
        self.items: list[dict] = []
        self.durations: list[float] = []

    def fits(self, duration) -> bool:
        return duration is None or all(
            abs(duration - other) <= DURATION_TOLERANCE_SECONDS for other in self.durations
        )

    def add(self, item: dict) -> None:
        self.items.append(item)
        if item.get("duration") is not None:
            self.durations.append(item["duration"])


def find_matches(results: dict[str, list[dict]]) -> list[dict]:
    """`matches` of API.md from each service's items: recordings found on two or more
    services, with a link per service (its best-ranked item)."""
    groups: list[_Group] = []
    by_isrc: dict[str, _Group] = {}
    by_key: dict[tuple[str, str], list[_Group]] = {}
    ordered = [name for name in PREFERENCE if name in results]
    ordered += [name for name in results if name not in PREFERENCE]
    for name in ordered:
        for item in results[name]:
            keys = recording_keys(item)
            isrc = (item.get("isrc") or "").upper()
            group = by_isrc.get(isrc) if isrc else None
            if group is None:
                candidates = {g.order: g for key in keys for g in by_key.get(key, ())}
                group = next((candidates[order] for order in sorted(candidates)
                              if candidates[order].fits(item.get("duration"))), None)
            if group is None:
                if not keys and not isrc:
                    continue
                group = _Group(len(groups))
                groups.append(group)
            group.add(item)
            if isrc:
                by_isrc.setdefault(isrc, group)
            for key in keys:
                if group not in by_key.setdefault(key, []):
                    by_key[key].append(group)
    return [_match(group) for group in groups if len({i["service"] for i in group.items}) > 1]


def _match(group: _Group) -> dict:
    first = group.items[0]
    links: dict[str, str] = {}
    for item in group.items:
        links.setdefault(item["service"], item["url"])
    return {
        "title": first["title"], "artist": first["artist"],
        "duration": group.durations[0] if group.durations else None,
        "links": links,
    }
