"""A waveform drawn as a small inline SVG (the admin's cue sparklines): no script, no image
file, a fixed size whatever the number of samples."""

from django.utils.safestring import mark_safe


def sparkline_svg(values, *, width: int = 240, height: int = 36) -> str:
    """A waveform as a small inline SVG: one column per pixel (min/max of the samples that
    fall in it); amplitudes (no negative values) are mirrored around the middle line."""
    count = len(values)
    if count == 0:
        return mark_safe(
            f'<svg class="ql-spark ql-spark-empty" width="{width}" height="{height}" '
            f'viewBox="0 0 {width} {height}" role="img" aria-label="no waveform">'
            f'<line x1="0" y1="{height / 2}" x2="{width}" y2="{height / 2}" stroke="#bbb" '
            f'stroke-dasharray="3 3"/></svg>'
        )
    columns = min(count, width)
    lows, highs = [], []
    for column in range(columns):
        chunk = values[column * count // columns:max((column + 1) * count // columns, column * count // columns + 1)]
        lows.append(min(chunk))
        highs.append(max(chunk))
    low, high = min(lows), max(highs)
    step = (width - 1) / (columns - 1) if columns > 1 else 0.0
    pad = 1.0
    if low >= 0:  # amplitudes: mirror around the middle
        scale = (height / 2 - pad) / (high or 1.0)
        middle = height / 2
        top = [middle - h * scale for h in highs]
        bottom = [middle + h * scale for h in highs]
    else:
        span = (high - low) or 1.0
        top = [pad + (high - h) / span * (height - 2 * pad) for h in highs]
        bottom = [pad + (high - lo) / span * (height - 2 * pad) for lo in lows]
    if columns == 1:
        xs = [0.0, float(width)]
        top, bottom = top * 2, bottom * 2
    else:
        xs = [index * step for index in range(columns)]
    points = [f"{x:.1f},{y:.1f}" for x, y in zip(xs, top)]
    points += [f"{x:.1f},{y:.1f}" for x, y in zip(reversed(xs), reversed(bottom))]
    return mark_safe(
        f'<svg class="ql-spark" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label="waveform of {count} points">'
        f'<polygon points="{" ".join(points)}" fill="#79aec8" stroke="#417690" stroke-width="0.6"/></svg>'
    )
