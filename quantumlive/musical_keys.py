"""The musical-key vocabulary: tonics, canonical spelling and the Camelot wheel.

Both apps speak it (the analysis names the key it finds, tracks store and filter by key), and
neither owns it: it lives here, beside the other shared building blocks of `quantumlive`.

A canonical key is ``"<tonic> major"`` or ``"<tonic> minor"`` with the tonic one of
``C C# D Eb E F F# G Ab A Bb B``. :func:`canonical_key` accepts any letter case,
``#``/``♯``/``b``/``♭`` (also doubled), every enharmonic spelling (``Db``, ``A#``, ``Cb``,
``E#``, ``B#``, ``Fb``...) and the short forms ``Am``, ``Amin``, ``A min``, ``A`` (major),
``Amaj``, ``A maj``, ``A minor``, ``F♯m``, and the DJ notations: Camelot codes (``8A`` is
A minor, ``8B`` C major) and Open Key codes (``1m`` is A minor, ``1d`` C major), in any letter
case. No Django in here.

:data:`KEY_NAMES` and :data:`CAMELOT_CODES` are every canonical key and Camelot code, in the
order the OpenAPI document lists them.

Cost is bounded whatever the input: text longer than :data:`MAX_KEY_TEXT` is refused before
anything reads it, and the pattern runs in linear time (anchored, possessive repeats over
character sets that do not overlap, so nothing is ever tried twice).
"""

from __future__ import annotations

import re

__all__ = ["CAMELOT_CODES", "KEY_NAMES", "KEY_PATTERN", "MAX_KEY_TEXT", "OPEN_KEY_CODES", "TONICS", "camelot",
           "canonical_key", "key_from_index", "open_key"]

#: The longest text read as a key (the longest spelling, "C## minor" with spaces, is far less).
MAX_KEY_TEXT = 32

#: The 12 canonical tonics, index = semitones above C.
TONICS: tuple[str, ...] = ("C", "C#", "D", "Eb", "E", "F", "F#", "G", "Ab", "A", "Bb", "B")

#: Every canonical key name: the 12 major keys, then the 12 minor keys, by tonic.
KEY_NAMES: tuple[str, ...] = tuple(f"{tonic} {mode}" for mode in ("major", "minor") for tonic in TONICS)

#: Every Camelot code: 1A-12A (minor keys), then 1B-12B (major keys).
CAMELOT_CODES: tuple[str, ...] = tuple(f"{number}{letter}" for letter in ("A", "B") for number in range(1, 13))

#: Every Open Key code: 1m-12m (minor keys), then 1d-12d (major keys).
OPEN_KEY_CODES: tuple[str, ...] = tuple(f"{number}{letter}" for letter in ("m", "d") for number in range(1, 13))

_LETTER_SEMITONE = {"c": 0, "d": 2, "e": 4, "f": 5, "g": 7, "a": 9, "b": 11}
_ACCIDENTAL = {"#": 1, "♯": 1, "b": -1, "♭": -1, "x": 2, "𝄪": 2, "𝄫": -2}
# Mode words, matched case-insensitively ("AM" is read like "Am": A minor).
_MODES = {"": "major", "maj": "major", "major": "major", "m": "minor", "min": "minor", "minor": "minor"}

# Applied with fullmatch to the stripped text: letter, accidentals (the "b" of "Bb" is read as
# an accidental because it follows the letter), optional space/underscore/dash, mode word.
# Every repeat is possessive (`*+`: never gives back what it took). No mode word starts with
# an accidental ("b", "x"), so giving one back could never make a key. Repeats that give back
# would try every split of "Abbb...b!" between accidentals and mode word, and of "A   ...!"
# between separator and trailing space: quadratic time (8,000 characters: ~1 s).
KEY_PATTERN = re.compile(r"([A-Ga-g])([#♯b♭x𝄪𝄫]*+)[\s_-]*+([A-Za-z]*+)")

# Camelot numbers by tonic semitone: major keys are "B", minor keys "A".
_CAMELOT_MAJOR = {0: 8, 7: 9, 2: 10, 9: 11, 4: 12, 11: 1, 6: 2, 1: 3, 8: 4, 3: 5, 10: 6, 5: 7}
_MAJOR_OF_CAMELOT = {number: semitone for semitone, number in _CAMELOT_MAJOR.items()}
# A wheel code: 1-12 (a leading 0 allowed), then the letter (case-insensitive). Camelot's
# letters are A (minor) and B (major), Open Key's m (minor) and d (major): no overlap.
_WHEEL_CODE = re.compile(r"(0?[1-9]|1[0-2])\s*+([ABabMmDd])")


def key_from_index(*, tonic: int, minor: bool) -> str:
    """The canonical key name for a tonic given as semitones above C."""
    return f"{TONICS[tonic % 12]} {'minor' if minor else 'major'}"


def _parse(text: object) -> tuple[int, str]:
    if not isinstance(text, str):
        raise ValueError(f"a key must be a string, not {type(text).__name__}")
    if len(text) > MAX_KEY_TEXT:
        raise ValueError(f"a key has at most {MAX_KEY_TEXT} characters, e.g. 'A minor', 'F# major', 'Am'")
    wheel = _WHEEL_CODE.fullmatch(text.strip())
    if wheel:
        return _from_wheel(int(wheel.group(1)), wheel.group(2).lower())
    m = KEY_PATTERN.fullmatch(text.strip())
    if not m:
        raise ValueError(
            f"{text!r} is not a key: expected '<tonic> major' or '<tonic> minor' "
            "(tonic A-G with optional #/b), a Camelot code or an Open Key code, e.g. 'A minor', "
            "'F# major', 'Am', '8A', '1m'"
        )
    letter, accidentals, mode_word = m.groups()
    mode = _MODES.get(mode_word.lower())
    if mode is None:
        raise ValueError(f"{text!r} is not a key: unknown mode {mode_word!r} (use major or minor)")
    semitone = _LETTER_SEMITONE[letter.lower()] + sum(_ACCIDENTAL[a] for a in accidentals)
    return semitone % 12, mode


def _from_wheel(number: int, letter: str) -> tuple[int, str]:
    """(tonic semitone, mode) of a Camelot (A/B) or Open Key (m/d) code."""
    if letter in ("m", "d"):  # Open Key n is Camelot n + 7 (1d = C major = 8B)
        number = (number + 6) % 12 + 1
        letter = "a" if letter == "m" else "b"
    major = _MAJOR_OF_CAMELOT[number]
    if letter == "b":
        return major, "major"
    return (major - 3) % 12, "minor"  # the relative minor, three semitones below


def canonical_key(text: str) -> str:
    """Return the canonical spelling of a key, e.g. ``"a#m"`` -> ``"Bb minor"``.

    Raises ``ValueError`` with a readable message for anything that is not a key.
    """
    semitone, mode = _parse(text)
    return f"{TONICS[semitone]} {mode}"


def camelot(canonical: str) -> str:
    """Camelot wheel code of a key, e.g. ``"A minor"`` -> ``"8A"``, ``"C major"`` -> ``"8B"``.

    Any spelling :func:`canonical_key` accepts is accepted (``"1m"`` and ``"08a"`` give
    ``"8A"``).
    """
    semitone, mode = _parse(canonical)
    if mode == "major":
        return f"{_CAMELOT_MAJOR[semitone]}B"
    # A minor key shares its number with its relative major (three semitones up).
    return f"{_CAMELOT_MAJOR[(semitone + 3) % 12]}A"


def open_key(canonical: str) -> str:
    """Open Key code of a key, e.g. ``"A minor"`` -> ``"1m"``, ``"C major"`` -> ``"1d"``."""
    code = camelot(canonical)
    number = (int(code[:-1]) + 4) % 12 + 1  # Camelot n is Open Key n - 7 (8B = 1d)
    return f"{number}{'m' if code[-1] == 'A' else 'd'}"
