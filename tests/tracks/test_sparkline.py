"""The cue waveform sparkline: a small inline SVG, whatever the waveform."""

import re

from tracks.sparkline import sparkline_svg


def points(svg: str) -> list[tuple[float, float]]:
    raw = re.search(r'points="([^"]*)"', svg).group(1)
    return [tuple(map(float, pair.split(","))) for pair in raw.split()]


def test_an_empty_waveform_is_a_dashed_line():
    svg = sparkline_svg([])
    assert svg.startswith("<svg") and "ql-spark-empty" in svg and "<polygon" not in svg


def test_amplitudes_are_mirrored_around_the_middle_and_fit_the_box():
    svg = sparkline_svg([0.0, 1.0, 0.5, 0.0], width=100, height=20)
    xy = points(svg)
    assert all(0 <= x <= 100 and 0 <= y <= 20 for x, y in xy)
    ys = [y for _, y in xy]
    assert min(ys) == 1.0 and max(ys) == 19.0  # the loudest sample spans the height (1 px padding)


def test_a_long_waveform_is_drawn_with_at_most_one_column_per_pixel():
    svg = sparkline_svg([((i * 7919) % 1000) / 1000 for i in range(16384)], width=240)
    assert len(points(svg)) == 2 * 240


def test_signed_values_and_flat_lines_stay_finite():
    for values in ([-1.0, 1.0, -0.5], [0.0] * 10, [5.0], [-3.0]):
        xy = points(sparkline_svg(values, width=50, height=10))
        assert xy and all(0 <= x <= 50 and 0 <= y <= 10 for x, y in xy)


def test_the_svg_holds_only_numbers_and_fixed_markup():
    svg = sparkline_svg([0.1, 0.2, 0.3])
    assert re.fullmatch(r'<svg [A-Za-z\-=" 0-9.:]+><polygon points="[0-9., ]+" [a-z\-=" #0-9.]+/></svg>', svg)
