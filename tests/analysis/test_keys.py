"""Key names: canonical spelling and Camelot codes."""

import pytest

from analysis.keys import TONICS, camelot, canonical_key, key_from_index


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # canonical forms pass through
        ("A minor", "A minor"),
        ("C major", "C major"),
        ("F# minor", "F# minor"),
        ("Eb major", "Eb major"),
        ("Bb minor", "Bb minor"),
        ("Ab major", "Ab major"),
        ("C# minor", "C# minor"),
        # any letter case
        ("a MINOR", "A minor"),
        ("c Major", "C major"),
        ("f# MINOR", "F# minor"),
        ("AM", "A minor"),
        # short forms
        ("Am", "A minor"),
        ("Amin", "A minor"),
        ("A min", "A minor"),
        ("A", "A major"),
        ("A maj", "A major"),
        ("Amaj", "A major"),
        ("a", "A major"),
        ("bm", "B minor"),
        ("F♯m", "F# minor"),
        ("B♭", "Bb major"),
        ("E♭ minor", "Eb minor"),
        # enharmonic spellings map onto the 12 canonical tonics
        ("Db", "C# major"),
        ("Db major", "C# major"),
        ("C#", "C# major"),
        ("A#", "Bb major"),
        ("A#m", "Bb minor"),
        ("bbm", "Bb minor"),
        ("D#m", "Eb minor"),
        ("Gb", "F# major"),
        ("G#", "Ab major"),
        ("G# minor", "Ab minor"),
        ("Cb", "B major"),
        ("E#", "F major"),
        ("B#", "C major"),
        ("Fb", "E major"),
        ("Fb minor", "E minor"),
        ("Ebb", "D major"),
        ("C##", "D major"),
        # separators and surrounding space
        ("  A   minor ", "A minor"),
        ("A-minor", "A minor"),
        ("A_min", "A minor"),
    ],
)
def test_it_canonicalises_key_spellings(text, expected):
    assert canonical_key(text) == expected


@pytest.mark.parametrize(
    "text",
    ["", "   ", "H", "H minor", "Am7", "A dorian", "A mixolydian", "minor", "A minor major",
     "AA", "#A", "A#x#m7", "C major!", "1A", "8A", "A\nminor extra"],
)
def test_it_rejects_anything_that_is_not_a_key(text):
    with pytest.raises(ValueError) as excinfo:
        canonical_key(text)
    assert repr(text) in str(excinfo.value)


@pytest.mark.parametrize("value", [None, 5, 1.5, ["A minor"], b"A minor"])
def test_it_rejects_non_strings_with_a_clear_message(value):
    with pytest.raises(ValueError, match="must be a string"):
        canonical_key(value)


def test_every_output_uses_one_of_the_twelve_canonical_tonics():
    for letter in "ABCDEFG":
        for acc in ("", "#", "b", "##", "bb"):
            for mode in ("", "m"):
                tonic, mode_word = canonical_key(letter + acc + mode).split()
                assert tonic in TONICS
                assert mode_word in ("major", "minor")


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("C major", "8B"), ("G major", "9B"), ("D major", "10B"), ("A major", "11B"),
        ("E major", "12B"), ("B major", "1B"), ("F# major", "2B"), ("C# major", "3B"),
        ("Ab major", "4B"), ("Eb major", "5B"), ("Bb major", "6B"), ("F major", "7B"),
        ("A minor", "8A"), ("E minor", "9A"), ("B minor", "10A"), ("F# minor", "11A"),
        ("C# minor", "12A"), ("Ab minor", "1A"), ("Eb minor", "2A"), ("Bb minor", "3A"),
        ("F minor", "4A"), ("C minor", "5A"), ("G minor", "6A"), ("D minor", "7A"),
    ],
)
def test_it_gives_the_camelot_code_of_every_key(key, code):
    assert camelot(key) == code


def test_relative_keys_share_a_camelot_number():
    for tonic in range(12):
        major = key_from_index(tonic=tonic, minor=False)
        relative_minor = key_from_index(tonic=tonic + 9, minor=True)
        assert camelot(major)[:-1] == camelot(relative_minor)[:-1]


def test_camelot_accepts_any_spelling_canonical_key_accepts():
    assert camelot("G#m") == camelot("Ab minor") == "1A"
    assert camelot("Db") == "3B"


def test_camelot_rejects_a_non_key():
    with pytest.raises(ValueError):
        camelot("H major")


def test_key_from_index_wraps_around():
    assert key_from_index(tonic=9, minor=True) == "A minor"
    assert key_from_index(tonic=-3, minor=True) == "A minor"
    assert key_from_index(tonic=13, minor=False) == "C# major"
