"""quantumlive/musical_keys.py: canonical spelling and Camelot codes of musical keys."""

import pytest

from quantumlive.musical_keys import KEY_NAMES, OPEN_KEY_CODES, TONICS, camelot, canonical_key, key_from_index, open_key


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
     "AA", "#A", "A#x#m7", "C major!", "0A", "13A", "8C", "8", "8Am", "1 mm", "123A",
     "A\nminor extra"],
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


# --- bounded cost on adversarial text (issue 12, finding 1) ------------------------------------
def _fastest(function, *args, runs: int = 5) -> float:
    import time

    best = float("inf")
    for _ in range(runs):
        start = time.perf_counter()
        function(*args)
        best = min(best, time.perf_counter() - start)
    return best


def _refused(text: str) -> None:
    with pytest.raises(ValueError):
        canonical_key(text)


# "A" + "b"*n + "!": the accidentals and the mode word could both take the b's (the old
# pattern tried every split: 8,000 characters took ~1 s). "A" + " "*n + "!": the separator
# and the trailing space likewise.
ADVERSARIAL_KEYS = [lambda n: "A" + "b" * n + "!", lambda n: "A" + " " * n + "!",
                    lambda n: " " * n + "A!", lambda n: "A" + "#" * n + " " * n + "m" * n + "!"]


@pytest.mark.parametrize("make", ADVERSARIAL_KEYS)
def test_a_long_key_is_refused_as_fast_as_a_short_one(make):
    big = make(200_000)
    _fastest(_refused, "A!", runs=1)
    small_seconds = _fastest(_refused, "A!")
    big_seconds = _fastest(_refused, big)
    assert big_seconds <= 20 * small_seconds, (big_seconds, small_seconds)


def test_a_long_key_error_does_not_repeat_the_text():
    with pytest.raises(ValueError) as caught:
        canonical_key("A" + "b" * 200_000 + "!")
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("make", ADVERSARIAL_KEYS)
def test_the_key_pattern_takes_linear_time(make):
    """The pattern itself, without the length check in front of it: 20,000 characters cost
    about what 10 x 2,000 do (quadratic: 10 times more)."""
    from quantumlive.musical_keys import KEY_PATTERN

    def read(text, times):
        for _ in range(times):
            KEY_PATTERN.fullmatch(text)

    small = _fastest(read, make(2_000), 10, runs=3)  # as many characters as the large one
    large = _fastest(read, make(20_000), 1, runs=3)
    assert large <= 4 * small, (large, small)


@pytest.mark.parametrize("text", ["  A  minor  ", "Bb_minor", "C#-major", "A -", "ebm ", "\tF\u266f m\n"])
def test_spaced_and_separated_spellings_are_still_keys(text):
    assert canonical_key(text) in {"A minor", "Bb minor", "C# major", "A major", "Eb minor", "F# minor"}


def test_a_key_of_the_longest_accepted_length_is_read():
    text = "A" + " " * (30 - len("Aminor")) + "minor"
    assert len(text) <= 32 and canonical_key(text) == "A minor"


@pytest.mark.parametrize(
    ("text", "expected"),
    [("8A", "A minor"), ("8B", "C major"), ("8a", "A minor"), ("08A", "A minor"), ("12B", "E major"),
     ("1A", "Ab minor"), ("1B", "B major"), ("3b", "C# major"),
     ("1m", "A minor"), ("1d", "C major"), ("1M", "A minor"), ("6d", "B major"), ("5d", "E major"),
     ("12m", "D minor"), ("7d", "F# major"), ("8 m", "Bb minor")],
)
def test_camelot_and_open_key_codes_are_keys(text, expected):
    assert canonical_key(text) == expected


def test_every_key_round_trips_through_both_wheels():
    for key in KEY_NAMES:
        assert canonical_key(camelot(key)) == key
        assert canonical_key(open_key(key)) == key
    assert sorted(open_key(key) for key in KEY_NAMES) == sorted(OPEN_KEY_CODES)


def test_open_key_is_seven_steps_from_camelot():
    assert (open_key("A minor"), open_key("C major"), open_key("E minor"), open_key("Ab minor")) == \
        ("1m", "1d", "2m", "6m")
