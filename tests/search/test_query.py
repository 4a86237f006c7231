"""The normalized query: what is sent upstream and what the shared cache is keyed by."""

from search.query import normalize_query, query_hash


def test_case_and_spacing_are_normalized():
    assert normalize_query("  Afro   HOUSE\t\n") == "afro house"


def test_unicode_forms_are_normalized():
    composed, decomposed = "caf\u00e9", "cafe\u0301"
    assert normalize_query(composed) == normalize_query(decomposed) == "café"
    assert normalize_query("ＤＪ　Ｍｉｘ") == "dj mix"  # full-width letters and space
    assert normalize_query("STRASSE") == normalize_query("Straße") == "strasse"


def test_the_hash_is_fixed_size_and_differs_between_queries():
    assert len(query_hash("afro house")) == 32
    assert query_hash("afro house") == query_hash(normalize_query("AFRO  house"))
    assert query_hash("afro house") != query_hash("afro-house")
