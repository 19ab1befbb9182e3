"""Small server-side SVG charts: no JavaScript, no CDN, readable offline and in tests."""

from html import escape


def line_chart_svg(points: list[tuple[str, float | None]], *, width=560, height=160, y_min=-0.2, y_max=1.0, label="") -> str:
    """A line over labelled points (None values are gaps); y axis fixed so charts compare over time."""
    pad = 30
    usable = [(i, v) for i, (_, v) in enumerate(points) if v is not None]
    if not usable:
        return f'<svg class="chart" role="img" aria-label="{escape(label)}: no data" width="{width}" height="40"><text x="4" y="24">no data yet</text></svg>'

    def xy(i, v):
        x = pad + (width - 2 * pad) * (i / max(1, len(points) - 1))
        y = height - pad - (height - 2 * pad) * ((min(max(v, y_min), y_max) - y_min) / (y_max - y_min))
        return x, y

    path = " ".join(f"{'M' if n == 0 else 'L'}{x:.1f},{y:.1f}" for n, (x, y) in enumerate(xy(i, v) for i, v in usable))
    dots = "".join(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3"><title>{escape(points[i][0])}: {v:.3f}</title></circle>' for i, v in usable for x, y in [xy(i, v)])
    grid = "".join(
        f'<line x1="{pad}" x2="{width - pad}" y1="{xy(0, t)[1]:.1f}" y2="{xy(0, t)[1]:.1f}" class="grid"/><text x="2" y="{xy(0, t)[1] + 4:.1f}">{t:g}</text>'
        for t in (0.0, 0.5, 1.0)
    )
    return (
        f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">'
        f"{grid}<path d=\"{path}\" fill=\"none\" stroke=\"#2f6fdf\" stroke-width=\"2\"/>{dots}</svg>"
    )


def histogram_svg(values: list[float], *, bins=10, lo=0.0, hi=1.0, width=560, height=160, label="") -> str:
    counts = [0] * bins
    for v in values:
        counts[min(bins - 1, max(0, int((v - lo) / (hi - lo) * bins)))] += 1
    top = max(counts) or 1
    pad, bar_w = 30, (width - 60) / bins
    bars = "".join(
        f'<rect x="{pad + i * bar_w:.1f}" y="{height - pad - (height - 2 * pad) * c / top:.1f}" width="{bar_w - 2:.1f}" '
        f'height="{(height - 2 * pad) * c / top:.1f}" fill="#2f6fdf"><title>{lo + i * (hi - lo) / bins:.1f}-{lo + (i + 1) * (hi - lo) / bins:.1f}: {c}</title></rect>'
        for i, c in enumerate(counts)
    )
    ticks = "".join(f'<text x="{pad + i * bar_w * bins / 5:.1f}" y="{height - 10}">{lo + i * (hi - lo) / 5:.1f}</text>' for i in range(6))
    return f'<svg class="chart" role="img" aria-label="{escape(label)}" width="{width}" height="{height}" viewBox="0 0 {width} {height}">{bars}{ticks}</svg>'
