"""Small PNG charts embedded in asset metadata, so a glance at the UI shows the day's shape."""

from __future__ import annotations

import base64
import io
from collections.abc import Sequence
from datetime import datetime


def price_volume_png(title: str, times: Sequence[datetime], closes: Sequence[float], volumes: Sequence[float]) -> bytes:
    # Imported here, not with the module: matplotlib costs about 1 s of every code-location load
    # (each launched run, each sensor process), and only a mart build draws a chart.
    import matplotlib

    matplotlib.use("Agg")  # no display on servers; must precede pyplot
    import matplotlib.pyplot as plt

    fig, (ax_price, ax_vol) = plt.subplots(
        2, 1, figsize=(7, 3.2), dpi=90, sharex=True, gridspec_kw={"height_ratios": [3, 1]}
    )
    ax_price.plot(times, closes, linewidth=0.8, color="#1f5fa8")
    ax_price.set_title(title, fontsize=9)
    ax_price.set_ylabel("close", fontsize=8)
    # one LineCollection instead of 1,440 bar patches: the same picture, a fifth of the time
    ax_vol.vlines(times, 0, volumes, color="#888888", linewidth=0.6)
    ax_vol.set_ylabel("volume", fontsize=8)
    for ax in (ax_price, ax_vol):
        ax.tick_params(labelsize=7)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()


def markdown_image(png: bytes, alt: str) -> str:
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png).decode()})"
