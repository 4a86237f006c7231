"""Validation of track bodies and query parameters, and the track's JSON shape."""

import json
import re
import uuid

from rest_framework import serializers

from quantumlive.fields import (
    BoundedListField,
    FiniteFloatField,
    JSONBooleanField,
    JSONIntegerField,
    JSONNumberField,
    NumberListField,
    StrictIntegerField,
    StrictSerializer,
    StringField,
    URLStringField,
    shown_name,
)
from analysis.sources import PathRefused, inside_audio_root, relative_audio_path
from quantumlive.musical_keys import MAX_KEY_TEXT, camelot, canonical_key, open_key
from tracks.suggestions import DEFAULT_LIMIT, DEFAULT_TOLERANCE, MAX_LIMIT, MAX_TOLERANCE, compatible_codes
from tracks import youtube

SERVER_OWNED = ("id", "camelot", "open_key", "beatgrid", "mix_in", "mix_out", "loudness", "position", "version",
                "created", "updated")
MAX_LOCATION = 1024
MAX_SERVICE_NAME = 32
MAX_SOURCES = 16
_SERVICE_NAME = re.compile(r"[a-z0-9_-]{1,%d}" % MAX_SERVICE_NAME)


class KeyField(StringField):
    """A key in any spelling canonical_key reads; its length is checked before it is parsed."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_KEY_TEXT)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            return canonical_key(text)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


class LocationField(StringField):
    """The track's audio file: a path relative to QL_AUDIO_ROOT, checked like an analysis
    path (not absolute, no '..', not leaving the folder through a link) and stored with '/'
    separators. The file need not be on this server (yet)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("max_length", MAX_LOCATION)
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        text = super().to_internal_value(data)
        try:
            pure = relative_audio_path(text)
            inside_audio_root(pure)
        except PathRefused as exc:
            raise serializers.ValidationError(str(exc)) from None
        return pure.as_posix()


class CueSerializer(StrictSerializer):
    name = StringField(max_length=64, required=False, allow_blank=False)
    start = JSONNumberField(min_value=0)
    end = JSONNumberField(min_value=0)
    waveform = NumberListField(max_length=16384, required=False)

    def validate(self, attrs):
        # A PATCH makes the whole body partial, nested cues included: require their times here.
        missing = [name for name in ("start", "end") if name not in attrs]
        if missing:
            raise serializers.ValidationError({name: ["This field is required."] for name in missing})
        if attrs["end"] <= attrs["start"]:
            raise serializers.ValidationError({"end": ["Must be greater than start."]})
        return attrs


class GenresField(BoundedListField):
    def __init__(self, **kwargs):
        super().__init__(child=StringField(min_length=1, max_length=64), max_length=32, **kwargs)

    def to_internal_value(self, data):
        genres, seen = [], set()
        for genre in super().to_internal_value(data):
            folded = genre.casefold()
            if folded not in seen:
                seen.add(folded)
                genres.append(genre)
        return genres


class SourcesField(serializers.DictField):
    """service name -> http(s) URL. The count and the names are checked before any URL is
    read; an error names a long service name by its first 32 characters."""

    def __init__(self, **kwargs):
        super().__init__(
            child=URLStringField(max_length=2048, allow_blank=False), **kwargs
        )

    def to_internal_value(self, data):
        if isinstance(data, dict):
            if len(data) > MAX_SOURCES:
                raise serializers.ValidationError(f"At most {MAX_SOURCES} sources.")
            bad_names = {shown_name(name, MAX_SERVICE_NAME): [
                "Service names are 1-32 characters of a-z 0-9 _ -."] for name in data if not _is_service_name(name)}
            if bad_names:
                raise serializers.ValidationError(bad_names)
        sources = super().to_internal_value(data)
        errors = {name: ["Only http(s) URLs."] for name, url in sources.items()
                  if not url.lower().startswith(("http://", "https://"))}
        if errors:
            raise serializers.ValidationError(errors)
        return sources


def _is_service_name(name) -> bool:
    return isinstance(name, str) and len(name) <= MAX_SERVICE_NAME and _SERVICE_NAME.fullmatch(name) is not None


class TrackFieldsSerializer(StrictSerializer):
    """The writable fields of a track (API.md, Tracks). Server-owned fields are ignored."""

    title = StringField(min_length=1, max_length=300)
    artist = StringField(min_length=1, max_length=300)
    bpm = JSONNumberField(min_value=1, max_value=400, allow_null=True, required=False)
    key = KeyField(allow_null=True, required=False)
    duration = JSONNumberField(min_value=0, max_value=86400, allow_null=True, required=False)
    genres = GenresField(required=False)
    sources = SourcesField(required=False)
    notes = StringField(max_length=10000, allow_null=True, allow_blank=True,
                        required=False, trim_whitespace=False)
    location = LocationField(allow_null=True, required=False)
    cues = BoundedListField(child=CueSerializer(), max_length=512, required=False)

    class Meta:
        ignored = SERVER_OWNED

    def validate_duration(self, value):
        if value is not None and value <= 0:
            raise serializers.ValidationError("Must be greater than 0.")
        return value

    def validate_cues(self, cues):
        return [
            {"name": cue.get("name") or f"cue_{index}", "start": cue["start"], "end": cue["end"],
             "waveform": cue.get("waveform", [])}
            for index, cue in enumerate(cues)
        ]


class _Complete(StrictSerializer):
    """Every field required, also under a partial parent (which makes nested fields optional)."""

    def validate(self, attrs):
        missing = [name for name in self.fields if name not in attrs]
        if missing:
            raise serializers.ValidationError({name: ["This field is required."] for name in missing})
        return attrs


class BeatgridSerializer(_Complete):
    bpm = JSONNumberField(min_value=1, max_value=400)
    first_beat = JSONNumberField(min_value=0, max_value=86400)
    first_downbeat = JSONNumberField(min_value=0, max_value=86400)
    beats_per_bar = JSONIntegerField(min_value=1, max_value=16)


class LoudnessSerializer(_Complete):
    """EBU R128 figures; a value the audio does not define (silence) is null."""

    integrated_lufs = JSONNumberField(min_value=-200, max_value=50, allow_null=True)
    range_lu = JSONNumberField(min_value=0, max_value=200, allow_null=True)
    true_peak_dbtp = JSONNumberField(min_value=-200, max_value=50, allow_null=True)
    replay_gain_db = JSONNumberField(min_value=-100, max_value=250, allow_null=True)


class AnalysisFieldsSerializer(StrictSerializer):
    """The server-owned fields an applied analysis gives a track (API.md, "Analysis, second
    version"): checked when they come from a stored result or a backup, never from a client."""

    FIELDS = ("beatgrid", "mix_in", "mix_out", "loudness")

    beatgrid = BeatgridSerializer(allow_null=True, required=False)
    mix_in = JSONNumberField(min_value=0, max_value=86400, allow_null=True, required=False)
    mix_out = JSONNumberField(min_value=0, max_value=86400, allow_null=True, required=False)
    loudness = LoudnessSerializer(allow_null=True, required=False)

    def to_internal_value(self, data):
        values = super().to_internal_value(data)
        return {name: dict(value) if isinstance(value, dict) else value for name, value in values.items()}


class TrackCreateSerializer(TrackFieldsSerializer):
    position = JSONIntegerField(min_value=0, required=False)
    analysis = StringField(max_length=64, required=False)

    class Meta:
        ignored = tuple(name for name in SERVER_OWNED if name != "position")

    DEFAULTS = {"bpm": None, "key": None, "duration": None, "genres": [], "sources": {},
                "notes": None, "location": None, "cues": []}


class TrackPatchSerializer(TrackFieldsSerializer):
    def __init__(self, *args, **kwargs):
        kwargs["partial"] = True
        super().__init__(*args, **kwargs)

    def validate(self, attrs):
        if not attrs:
            raise serializers.ValidationError(
                "Send at least one field you may change: title, artist, bpm, key, duration, "
                "genres, sources, notes, location, cues."
            )
        return attrs


class MoveSerializer(StrictSerializer):
    position = JSONIntegerField(min_value=0)


class ApplyAnalysisSerializer(StrictSerializer):
    analysis = StringField(max_length=64)
    overwrite = JSONBooleanField(default=False)


class YouTubeAddSerializer(StrictSerializer):
    url = StringField(max_length=youtube.MAX_URL)

    def validate_url(self, value):
        try:
            return youtube.video_id_from(value)
        except ValueError as exc:
            raise serializers.ValidationError(str(exc)) from None


ORDERINGS = ("position", "title", "artist", "bpm", "key", "created", "updated")


class WheelFilterSerializer(serializers.Serializer):
    """The DJ filters and the ordering, shared by the library's list and a playlist's items."""

    camelot = KeyField(required=False, help_text=(
        "Only tracks in this key: a Camelot code (`8A`); an Open Key code (`1m`) or a key name "
        "(`A minor`, `Am`) is read as the same key."))
    compatible_with = KeyField(required=False, help_text=(
        "Only tracks that mix harmonically with this key (any notation, as `camelot`): the same "
        "Camelot code, ±1 on the wheel with the same letter (12 wraps to 1) and the relative "
        "key (same number, other letter). `8A`: 7A, 8A, 9A, 8B."))
    ordering = serializers.ChoiceField(
        choices=[*ORDERINGS, *("-" + name for name in ORDERINGS)], required=False, help_text=(
            "`position` (default), `title`, `artist` (case-insensitive), `bpm`, `key` (Camelot "
            "order: 1A, 1B, 2A, … 12B), `created`, `updated`; `-` before it: descending. Tracks "
            "without a BPM (or key) come last in both directions; ties keep their position order."))


class TrackFilterSerializer(WheelFilterSerializer):
    """Query parameters of the list (unknown ones are ignored; an empty value is 400). They
    are text: numbers are read from it (DRF caps that text at 1,000 characters)."""

    limit = StrictIntegerField(min_value=1, max_value=500, default=50)
    offset = StrictIntegerField(min_value=0, default=0)
    q = StringField(min_length=1, max_length=200, required=False, trim_whitespace=False)
    genre = StringField(min_length=1, max_length=64, required=False)
    bpm_min = FiniteFloatField(required=False)
    bpm_max = FiniteFloatField(required=False)
    key = KeyField(required=False)
    lufs_min = FiniteFloatField(required=False, help_text=(
        "Only tracks whose integrated loudness (`loudness.integrated_lufs`) is at least this; "
        "tracks without one are left out."))
    lufs_max = FiniteFloatField(required=False, help_text="Only tracks at most this loud (LUFS).")

    def validate(self, attrs):
        for low_name, high_name in (("bpm_min", "bpm_max"), ("lufs_min", "lufs_max")):
            low, high = attrs.get(low_name), attrs.get(high_name)
            if low is not None and high is not None and low > high:
                raise serializers.ValidationError({high_name: [f"Must be at least {low_name}."]})
        return attrs


class SuggestionsQuerySerializer(serializers.Serializer):
    """Query parameters of a track's suggestions (an empty value is 400)."""

    bpm_tolerance = FiniteFloatField(min_value=0, max_value=MAX_TOLERANCE, default=DEFAULT_TOLERANCE, help_text=(
        "How far (in %) a candidate's BPM, or its double or half (half and double time), may be "
        "from the track's."))
    limit = StrictIntegerField(min_value=1, max_value=MAX_LIMIT, default=DEFAULT_LIMIT)
    playlist = StringField(max_length=64, required=False, help_text=(
        "A playlist's id: only its tracks are suggested (a playlist the caller may not see is 404)."))

    def validate_playlist(self, value):
        try:
            return str(uuid.UUID(value))
        except ValueError:
            raise serializers.ValidationError("Not a playlist id (a UUID).") from None


def matcher(filters: dict):
    """A predicate over track summaries for the given filters, or None when there are none."""
    q = filters.get("q")
    genre = filters.get("genre")
    low, high = filters.get("bpm_min"), filters.get("bpm_max")
    key = filters.get("key")
    # `camelot` is a key too (any notation, canonical once validated); `compatible_with` a set
    in_key = filters.get("camelot")
    near = filters.get("compatible_with")
    if near is not None:
        near = {canonical_key(code) for code in compatible_codes(camelot(near))}
    quiet, loud = filters.get("lufs_min"), filters.get("lufs_max")
    if q is None and genre is None and low is None and high is None and key is None and in_key is None \
            and near is None and quiet is None and loud is None:
        return None
    q = q.casefold() if q is not None else None
    genre = genre.casefold() if genre is not None else None

    def match(track: dict) -> bool:
        if q is not None and q not in track["title"].casefold() and q not in track["artist"].casefold():
            return False
        if genre is not None and genre not in (g.casefold() for g in track["genres"]):
            return False
        if low is not None or high is not None:
            bpm = track["bpm"]
            if bpm is None or (low is not None and bpm < low) or (high is not None and bpm > high):
                return False
        if key is not None and track["key"] != key:
            return False
        if in_key is not None and track["key"] != in_key:
            return False
        if near is not None and track["key"] not in near:
            return False
        if quiet is not None or loud is not None:
            lufs = (track.get("loudness") or {}).get("integrated_lufs")
            if lufs is None or (quiet is not None and lufs < quiet) or (loud is not None and lufs > loud):
                return False
        return True

    return match


def wheel_codes(filters: dict) -> set[str] | None:
    """The Camelot codes that the key filters (`key`, `camelot`, `compatible_with`) leave, or
    None when none of them is set: the list then reads only those codes' tracks from the
    harmonic index (tracks/suggestions.py tracks_in_keys) before it reads summaries."""
    codes = None
    for name in ("key", "camelot"):
        if filters.get(name) is not None:
            codes = {camelot(filters[name])} & (codes if codes is not None else {camelot(filters[name])})
    if filters.get("compatible_with") is not None:
        near = set(compatible_codes(camelot(filters["compatible_with"])))
        codes = near if codes is None else codes & near
    return codes


def _camelot_order(key: str | None):
    if key is None:
        return None
    code = camelot(key)
    return int(code[:-1]), code[-1]


_SORT_VALUES = {
    "title": lambda track: track["title"].casefold(),
    "artist": lambda track: track["artist"].casefold(),
    "bpm": lambda track: track["bpm"],
    "key": lambda track: _camelot_order(track["key"]),
    "created": lambda track: track["created"],
    "updated": lambda track: track["updated"],
}


def sorter(filters: dict):
    """The `ordering` filter as (value of a track summary, or None: last; descending), or None
    for the default order (position, ascending)."""
    ordering = filters.get("ordering")
    if ordering is None or ordering == "position":
        return None
    descending = ordering.startswith("-")
    return _SORT_VALUES.get(ordering.lstrip("-")), descending


# --- output ------------------------------------------------------------------------------
_ORDER = ("id", "title", "artist", "bpm", "key", "camelot", "open_key", "duration", "genres", "sources",
          "notes", "location", "beatgrid", "mix_in", "mix_out", "loudness", "cues")
_DERIVED = ("camelot", "open_key")


def _key_codes(body: dict, key: str | None) -> None:
    body["camelot"] = camelot(key) if key else None
    body["open_key"] = open_key(key) if key else None


def track_body(track: dict) -> dict:
    """The API shape of a track (or summary) dict from the store."""
    body = {name: track[name] for name in _ORDER if name not in _DERIVED}
    _key_codes(body, track["key"])
    body = {name: body[name] for name in _ORDER}
    body["position"] = track["position"]
    body["version"] = track["version"]
    body["created"] = track["created"]
    body["updated"] = track["updated"]
    return body


def rendered_body(entry, position: int) -> bytes:
    """The full track's JSON at `position`, kept on the store entry (per version) for the last
    position asked: a cached analysed track is ~120 KB, no copy of it per request. Only the
    body is kept (with the entry's cues JSON that is the 2 x its size the cache counts)."""
    body = entry.rendered.get("body")
    if body is None or body[0] != position:
        summary = entry.summary
        head = {name: summary[name] for name in _ORDER if name not in (*_DERIVED, "cues")}
        _key_codes(head, summary["key"])
        head = {name: head[name] for name in _ORDER if name != "cues"}
        head_json = json.dumps(head, ensure_ascii=False, separators=(",", ":"))
        tail = {"version": summary["version"], "created": summary["created"], "updated": summary["updated"]}
        tail_json = json.dumps(tail, separators=(",", ":"))
        text = f'{head_json[:-1]},"cues":{entry.cues_json},"position":{position},{tail_json[1:]}'
        body = entry.rendered["body"] = (position, text.encode())
    return body[1]
