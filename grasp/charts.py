"""Charts for reports, drawn with matplotlib and inlined as SVG (no scripts, no external files)."""

from __future__ import annotations

import io
import re
from collections.abc import Sequence

BLUE, GREY, GREEN = "#3b6ea8", "#9a9a9a", "#2e8540"


def _svg(figure) -> str:
    import matplotlib.pyplot as plt

    buffer = io.StringIO()
    figure.savefig(buffer, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(figure)
    text = buffer.getvalue()
    return text[text.index("<svg"):]  # drop the XML prolog and doctype: the SVG sits inside HTML


def _figure(width: float, height: float):
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(width, height), dpi=100)
    axes.spines[["top", "right"]].set_visible(False)
    return figure, axes


def learning_curve(epochs: Sequence[int], accuracy: Sequence[float], *, baseline: float | None,
                   title: str = "Validation accuracy per epoch") -> str:
    """Val accuracy after each epoch (epoch 0: no skills), with the no-skill level as a line."""
    figure, axes = _figure(5.5, 3.0)
    axes.plot(list(epochs), [100 * a for a in accuracy], marker="o", color=BLUE, label="library after epoch")
    if baseline is not None:
        axes.axhline(100 * baseline, color=GREY, linestyle="--", linewidth=1, label="no skills")
    axes.set_xlabel("epoch")
    axes.set_ylabel("val accuracy (%)")
    axes.set_ylim(-3, 103)  # lines at 0% and 100% stay visible
    axes.set_xticks(list(epochs))
    axes.set_title(title, fontsize=10)
    axes.legend(frameon=False, fontsize=8)
    return _svg(figure)


def family_bars(families: Sequence[str], before: Sequence[float], after: Sequence[float], *,
                title: str = "Sealed test per task family") -> str:
    """Side-by-side bars: accuracy with no skills and with the final library, per family."""
    figure, axes = _figure(max(4.0, 1.3 * len(families) + 2), 3.0)
    positions = range(len(families))
    axes.bar([p - 0.2 for p in positions], [100 * b for b in before], width=0.4, color=GREY, label="no skills")
    axes.bar([p + 0.2 for p in positions], [100 * a for a in after], width=0.4, color=GREEN, label="final library")
    axes.set_xticks(list(positions), [re.sub(r"_", " ", family) for family in families], fontsize=8)
    axes.set_ylabel("accuracy (%)")
    axes.set_ylim(-3, 103)  # lines at 0% and 100% stay visible
    axes.set_title(title, fontsize=10)
    axes.legend(frameon=False, fontsize=8)
    return _svg(figure)


def method_bars(methods: Sequence[str], means: Sequence[float], lows: Sequence[float],
                highs: Sequence[float]) -> str:
    """Sealed-test accuracy per method with its 95% CI over seeds."""
    figure, axes = _figure(max(4.0, 1.1 * len(methods) + 2), 3.0)
    positions = list(range(len(methods)))
    errors = [[100 * (m - lo) for m, lo in zip(means, lows, strict=True)],
              [100 * (hi - m) for m, hi in zip(means, highs, strict=True)]]
    axes.bar(positions, [100 * m for m in means], yerr=errors, capsize=4, color=BLUE)
    axes.set_xticks(positions, list(methods), fontsize=8)
    axes.set_ylabel("sealed test accuracy (%)")
    axes.set_ylim(-3, 103)  # lines at 0% and 100% stay visible
    axes.set_title("Sealed test per method (mean, 95% CI over seeds)", fontsize=10)
    return _svg(figure)


def method_curves(curves: dict[str, Sequence[tuple[int, float]]]) -> str:
    """Mean val accuracy per epoch, one line per method."""
    figure, axes = _figure(5.5, 3.0)
    for method, points in curves.items():
        axes.plot([epoch for epoch, _ in points], [100 * value for _, value in points], marker="o", label=method)
    axes.set_xlabel("epoch")
    axes.set_ylabel("val accuracy (%)")
    axes.set_ylim(-3, 103)  # lines at 0% and 100% stay visible
    axes.set_title("Learning curves (mean over seeds)", fontsize=10)
    axes.legend(frameon=False, fontsize=8)
    return _svg(figure)
