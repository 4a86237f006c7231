"""Admin forms for tracks held in Redis.

The form only turns what a browser sends (text inputs, textareas) into the values an API
client would send as JSON; the validation itself is the API's: `TrackPatchSerializer` for a
change, `TrackCreateSerializer` for an add, `MoveSerializer` for a move. Their messages are
shown on the form, field by field.
"""

import json

from django import forms

from tracks.serializers import MoveSerializer, TrackCreateSerializer, TrackPatchSerializer, YouTubeAddSerializer
from tracks.store import WRITABLE

_JSON_FIELDS = ("sources", "cues")


def _text(value) -> str:
    return "" if value is None else str(value)


# Longer text in a number input is passed on as text: the API's answer ("A valid number is
# required.") is the form's message, and nothing long is parsed.
_MAX_NUMBER_TEXT = 64


def _number(text: str):
    """What a client would send for a number typed in a text input: the number, or the text
    itself when it is none (the API refuses a string where JSON wants a number)."""
    if len(text) <= _MAX_NUMBER_TEXT:
        try:
            return float(text)
        except ValueError:
            pass
    return text


def _integer(text: str):
    if len(text) <= _MAX_NUMBER_TEXT:
        try:
            return int(text)
        except ValueError:
            pass
    return text


def initial_from_track(track: dict) -> dict[str, str]:
    """The form's text for each writable field of a stored track."""
    genres = track["genres"]
    return {
        "title": track["title"],
        "artist": track["artist"],
        "bpm": _text(track["bpm"]),
        "key": _text(track["key"]),
        "duration": _text(track["duration"]),
        # Comma-separated unless a genre itself holds a comma: then the exact JSON list.
        "genres": json.dumps(genres, ensure_ascii=False) if any("," in g for g in genres) else ", ".join(genres),
        "sources": json.dumps(track["sources"], ensure_ascii=False, indent=2) if track["sources"] else "",
        "notes": _text(track["notes"]),
        "location": _text(track["location"]),
        "cues": json.dumps(track["cues"], ensure_ascii=False) if track["cues"] else "",
    }


class _Unparsable(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


def _api_value(name: str, text: str):
    """What an API client would send for this field, given the form's text."""
    text = text.replace("\r\n", "\n")  # browsers submit textarea lines with CRLF
    if name in ("title", "artist"):
        return text
    if name in ("bpm", "duration"):
        return _number(text.strip()) if text.strip() else None
    if name in ("key", "location"):
        return text.strip() or None
    if name == "notes":
        return text or None
    if name == "genres":
        if text.strip().startswith("["):
            try:
                return json.loads(text)
            except (ValueError, RecursionError):
                raise _Unparsable("Enter the genres separated by commas, or as a JSON list.") from None
        return [part.strip() for part in text.split(",") if part.strip()]
    if name in _JSON_FIELDS:
        if not text.strip():
            return {} if name == "sources" else []
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise _Unparsable(f"Enter valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}).") from None
        except (ValueError, RecursionError):  # nested deeper than the parser goes; a huge number
            raise _Unparsable("Enter valid JSON (nested too deep, or a number too long).") from None
    raise KeyError(name)


_ITEM = {"cues": "cue", "genres": "genre"}


def _messages(errors, path: str = "", item: str = "item") -> list[str]:
    """Flattens a serializer's (nested) errors into readable lines ("cue 2: end: …")."""
    if isinstance(errors, dict):
        lines = []
        for key, value in errors.items():
            label = f"{item} {key}" if isinstance(key, int) else str(key)
            lines += _messages(value, path if key == "non_field_errors" else f"{path}{label}: ")
        return lines
    if isinstance(errors, list):
        lines = []
        for value in errors:
            lines += _messages(value, path, item)
        return lines
    return [f"{path}{errors}"]


def _wide(size: int = 60, **attrs):
    return forms.TextInput(attrs={"size": size, **attrs})


class TrackForm(forms.Form):
    """Every writable field of a track, as text. `values` holds the validated values after
    is_valid(): on a change only the fields that differ from what the form was loaded with."""

    title = forms.CharField(required=False, strip=False, widget=_wide(80))
    artist = forms.CharField(required=False, strip=False, widget=_wide(80))
    bpm = forms.CharField(label="BPM", required=False, widget=_wide(10, inputmode="decimal"),
                          help_text="1–400, or empty for none.")
    key = forms.CharField(required=False, widget=_wide(12),
                          help_text="E.g. “A minor”, “F#m”, “Db major”, “Am”; empty for none.")
    duration = forms.CharField(required=False, widget=_wide(10, inputmode="decimal"),
                               help_text="Seconds, > 0 and ≤ 86400; empty for none.")
    genres = forms.CharField(required=False, strip=False, widget=_wide(80),
                             help_text="Separated by commas (or a JSON list). At most 32.")
    sources = forms.CharField(required=False, strip=False,
                              widget=forms.Textarea(attrs={"rows": 4, "cols": 80, "class": "ql-code"}),
                              help_text='JSON object: service name → http(s) URL, e.g. '
                                        '{"youtube": "https://www.youtube.com/watch?v=…"}.')
    notes = forms.CharField(required=False, strip=False, widget=forms.Textarea(attrs={"rows": 4, "cols": 80}))
    cues = forms.CharField(required=False, strip=False,
                           widget=forms.Textarea(attrs={"rows": 8, "cols": 80, "class": "ql-code"}),
                           help_text='JSON list of {"name", "start", "end", "waveform"}; '
                                     "the waveforms are drawn above.")

    def __init__(self, *args, track: dict | None = None, **kwargs):
        self.track = track
        if track is not None:
            kwargs.setdefault("initial", initial_from_track(track))
        super().__init__(*args, **kwargs)
        self.values: dict = {}

    def _inputs(self, names) -> dict:
        inputs = {}
        for name in names:
            try:
                inputs[name] = _api_value(name, self.cleaned_data.get(name) or "")
            except _Unparsable as exc:
                self.add_error(name, exc.message)
        return inputs

    def _apply_serializer_errors(self, errors: dict) -> None:
        for name, value in errors.items():
            field = name if name in self.fields else None
            for line in _messages(value, item=_ITEM.get(name, "item")):
                self.add_error(field, line)

    def clean(self):
        cleaned = super().clean()
        if self.track is None:
            return cleaned
        initial = initial_from_track(self.track)
        inputs = self._inputs(WRITABLE)
        changed = {}
        for name, value in inputs.items():
            try:
                before = _api_value(name, initial[name])
            except _Unparsable:  # pragma: no cover - initial text is always parseable
                before = object()
            if value != before:
                changed[name] = value
        if self.errors or not changed:
            return cleaned
        body = TrackPatchSerializer(data=changed)
        if body.is_valid():
            self.values = dict(body.validated_data)
        else:
            self._apply_serializer_errors(body.errors)
        return cleaned


class TrackAddForm(TrackForm):
    position = forms.CharField(required=False, widget=_wide(8, inputmode="numeric"),
                               help_text="0-based place in the playlist; empty: at the end.")

    def clean(self):
        cleaned = forms.Form.clean(self)
        inputs = self._inputs(WRITABLE)
        position = (cleaned.get("position") or "").strip()
        if position:
            inputs["position"] = _integer(position)
        if self.errors:
            return cleaned
        body = TrackCreateSerializer(data=inputs)
        if body.is_valid():
            data = dict(body.validated_data)
            self.position = data.pop("position", None)
            self.values = {**TrackCreateSerializer.DEFAULTS, **data}
        else:
            self._apply_serializer_errors(body.errors)
        return cleaned


class MoveForm(forms.Form):
    position = forms.CharField(required=False, widget=_wide(8, inputmode="numeric"),
                               help_text="0-based; past the end moves the track last.")

    def clean(self):
        cleaned = super().clean()
        body = MoveSerializer(data={"position": _integer((cleaned.get("position") or "").strip())})
        if body.is_valid():
            self.position = body.validated_data["position"]
        else:
            self._errors_from(body.errors)
        return cleaned

    def _errors_from(self, errors: dict) -> None:
        for name, value in errors.items():
            for line in _messages(value):
                self.add_error("position" if name == "position" else None, line)


class YouTubeAddForm(forms.Form):
    url = forms.CharField(label="URL or video id", required=False, strip=False, widget=_wide(70),
                          help_text="youtube.com/watch?v=…, youtu.be/…, /shorts/…, /embed/…, "
                                    "or an 11-character id.")

    def clean(self):
        cleaned = super().clean()
        body = YouTubeAddSerializer(data={"url": cleaned.get("url") or ""})
        if body.is_valid():
            self.video_id = body.validated_data["url"]
        else:
            for name, value in body.errors.items():
                for line in _messages(value):
                    self.add_error("url" if name == "url" else None, line)
        return cleaned


def parse_version(text) -> int | None:
    """The version a form was loaded at (hidden field), or None if malformed: ASCII digits
    only (str.isdigit() also takes "²", which int() refuses)."""
    if not isinstance(text, str) or not text.isascii() or not text.isdigit() or len(text) > 18:
        return None
    value = int(text)
    return value if value >= 1 else None
