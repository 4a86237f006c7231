"""Admin forms for playlists held in Redis: what a browser sends (text inputs, a checkbox)
turned into the values of the store's calls, checked by the rules of API.md's "Playlists"
(name 1–200 characters, description at most 2,000, public a boolean; positions whole numbers
from 0). Every text is length-checked before it is parsed."""

from django import forms
from django.contrib.auth import get_user_model

NAME_MAX = 200
DESCRIPTION_MAX = 2000
# Positions are read from at most this many digits (a playlist holds far fewer entries).
_POSITION_DIGITS = 9


def _lines(text: str) -> str:
    return text.replace("\r\n", "\n")  # browsers submit textarea lines with CRLF


class PlaylistForm(forms.Form):
    """Name, description and public. `values` holds, after is_valid(), the fields that differ
    from the playlist the form was loaded with (all of them on an add)."""

    name = forms.CharField(max_length=NAME_MAX, strip=False,
                           widget=forms.TextInput(attrs={"size": 80}),
                           help_text=f"1–{NAME_MAX} characters.")
    description = forms.CharField(max_length=DESCRIPTION_MAX, required=False, strip=False,
                                  widget=forms.Textarea(attrs={"rows": 4, "cols": 80}),
                                  help_text=f"At most {DESCRIPTION_MAX} characters.")
    public = forms.BooleanField(required=False, help_text="Everyone sees a public playlist; "
                                                          "a private one only its owner (and staff).")

    def __init__(self, *args, playlist: dict | None = None, **kwargs):
        self.playlist = playlist
        if playlist is not None:
            kwargs.setdefault("initial", {name: playlist[name] for name in ("name", "description", "public")})
        super().__init__(*args, **kwargs)
        self.values: dict = {}

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        values = {"name": _lines(cleaned["name"]), "description": _lines(cleaned.get("description") or ""),
                  "public": bool(cleaned.get("public"))}
        if self.playlist is None:
            self.values = values
        else:
            self.values = {name: value for name, value in values.items() if value != self.playlist[name]}
        return cleaned


class PlaylistAddForm(PlaylistForm):
    owner = forms.CharField(max_length=150, widget=forms.TextInput(attrs={"size": 30}),
                            help_text="The username of the user who owns the playlist.")

    field_order = ("name", "description", "public", "owner")

    def clean_owner(self):
        username = self.cleaned_data["owner"].strip()
        try:
            self.owner_user = get_user_model().objects.get(username=username)
        except get_user_model().DoesNotExist:
            raise forms.ValidationError(f"There is no user “{username}”.") from None
        return username


def parse_position(text, *, required: bool = True) -> int | None:
    """A 0-based position typed in a text input; ValueError with the message to show."""
    text = (text or "").strip() if isinstance(text, str) else ""
    if not text:
        if required:
            raise ValueError("Enter a position (0 is the first).")
        return None
    if len(text) > _POSITION_DIGITS or not text.isdigit() or not text.isascii():
        raise ValueError(f"“{text[:20]}” is not a position: enter a whole number from 0.")
    return int(text)
