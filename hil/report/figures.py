"""The report's plots (matplotlib, Agg, no pyplot state), each checked for the accessibility basics
and embedded as a PNG data URI.

Every axis has a label that names its unit in brackets ("rate [Hz]", "neurons [count]", "ISI CV
[dimensionless]"); an axes that draws more than one series has a legend naming every labelled
series; every image has alt text. `problems(fig)` lists what a figure lacks and `embed` refuses a
figure that lacks anything, so a report never carries an unlabelled plot.

Text from a run (group names, parameter names) is drawn literally: mathtext is off, so a '$' in an
id is a dollar sign, not a formula.
"""

from __future__ import annotations

import base64
import io
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
from matplotlib import rc_context, ticker
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from hil import plot as hil_plot
from hil.chip.geometry import neuron_address
from hil.errors import HilError

if TYPE_CHECKING:
    from matplotlib.artist import Artist
    from matplotlib.container import Container
    from matplotlib.typing import RcKeyType  # matplotlib >= 3.9; only read by mypy

DPI = 96
MAX_RASTER_SPIKES = 200_000  # dots in one raster; a longer run shows its first part
MAX_FI_NEURONS = 64  # single-neuron f-I curves drawn per core (the median uses all)
_RC: dict[RcKeyType, Any] = {"text.parse_math": False, "font.family": "DejaVu Sans", "font.size": 9}
_UNIT = re.compile(r"\[[^\]]+\]")


class FigureError(HilError):
    """A figure lacks an accessibility basic (a labelled axis with its unit, a legend)."""


@dataclass(frozen=True)
class Plot:
    """An embedded figure: its anchor id, title, alt text, caption and PNG data URI."""

    id: str
    title: str
    alt: str
    caption: str
    src: str


def new_figure(width_in: float = 7.0, height_in: float = 4.0) -> tuple[Figure, Axes]:
    """A figure with one axes on its own Agg canvas (no global pyplot state); its texts are
    created with mathtext off."""
    with rc_context(_RC):
        fig = Figure(figsize=(width_in, height_in), dpi=DPI)
        FigureCanvasAgg(fig)
        return fig, fig.add_subplot()


def problems(fig: Figure) -> list[str]:
    """What `fig` lacks: per axes, a label with a [unit] on each shown axis, and a legend naming
    every labelled series when it draws more than one series."""
    out = []
    with rc_context(_RC):
        fig.canvas.draw()  # tick labels exist only once drawn
    for i, ax in enumerate(fig.axes):
        ticks = [t.get_text() for t in (*ax.get_xticklabels(), *ax.get_yticklabels())]
        raw = [t for t in ticks if "$" in t or "\\mathdefault" in t]
        if raw:
            out.append(f"axes {i}: tick labels drawn as raw mathtext ({raw[0]!r})")
        if not ax.get_visible() or not ax.axison:
            continue
        if getattr(ax, "_colorbar", None) is not None:
            label = ax.get_ylabel() or ax.get_xlabel()
            if not _UNIT.search(label):
                out.append(f"colorbar {i}: no label with a [unit] ({label!r})")
            continue
        for name, label in (("x", ax.get_xlabel()), ("y", ax.get_ylabel())):
            axis = ax.xaxis if name == "x" else ax.yaxis
            if axis.get_visible() and not _UNIT.search(label or ""):
                out.append(f"axes {i}: {name} axis has no label with a [unit] ({label!r})")
        grouped = {id(p) for c in ax.containers for p in getattr(c, "patches", ())}
        loose = [p for p in ax.patches if id(p) not in grouped]  # e.g. a step histogram's outline
        series = len(ax.lines) + len(ax.collections) + len(ax.containers) + len(ax.images)
        series += len(loose)
        if series > 1:
            legend = ax.get_legend()
            shown = {t.get_text() for t in legend.get_texts()} if legend else set()
            if legend is None:
                out.append(f"axes {i}: {series} series and no legend")
            artists: list[Artist | Container] = [*ax.lines, *ax.collections, *ax.containers]
            for artist in [*artists, *loose]:
                text = artist.get_label()
                if isinstance(text, str) and text[:1] not in ("", "_") and text not in shown:
                    out.append(f"axes {i}: series {text!r} is not in the legend")
    return out


def embed(fig: Figure, id: str, title: str, alt: str, caption: str = "") -> Plot:
    """Check `fig` (FigureError naming what it lacks) and render it to a PNG data URI."""
    missing = problems(fig)
    if missing:
        raise FigureError(f"figure {id!r}: " + "; ".join(missing))
    if not alt.strip():
        raise FigureError(f"figure {id!r}: no alt text")
    buf = io.BytesIO()
    with rc_context(_RC):
        fig.savefig(buf, format="png", dpi=DPI, metadata={"Software": None})
    src = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
    return Plot(id, title, alt, caption, src)


# ---- the figures ----------------------------------------------------------------------------------


def raster(
    events: np.ndarray | None, counts: object, duration_s: float, label: str
) -> tuple[Figure, str]:
    """A spike raster (events) or a counts heat map (counts readout) of one trial; with the note
    of what part is shown. Returns (figure, note)."""
    fig, ax = new_figure(7.0, 3.2)
    note = ""
    with rc_context(_RC):
        if events is not None:
            shown_s = duration_s
            if len(events) > MAX_RASTER_SPIKES:
                shown_s = events["t_us"][MAX_RASTER_SPIKES - 1] * 1e-6
                events = events[events["t_us"] <= events["t_us"][MAX_RASTER_SPIKES - 1]]
                note = f"the first {shown_s:.3g} s of {duration_s:.3g} s shown ({MAX_RASTER_SPIKES} spikes)"
            hil_plot.raster(events, ax=ax, markersize=1.5)
            ax.set_ylabel("neuron [board-wide index]")
            ax.set_xlim(0, shown_s)
        else:
            c = np.asarray(counts.counts)  # type: ignore[attr-defined]
            neurons = np.asarray(counts.neurons)  # type: ignore[attr-defined]
            bin_s = counts.bin_us * 1e-6  # type: ignore[attr-defined]
            extent = (0.0, c.shape[0] * bin_s, -0.5, len(neurons) - 0.5)
            im = ax.imshow(
                c.T,
                aspect="auto",
                origin="lower",
                extent=extent,
                cmap="viridis",
                interpolation="nearest",
            )
            ax.set_xlabel("time [s]")
            ax.set_ylabel("neuron [row of the readout]")
            bar = fig.colorbar(im, ax=ax)
            bar.set_label(f"spikes per {counts.bin_us} us bin [count]")  # type: ignore[attr-defined]
            note = f"counts readout, {len(neurons)} neurons, {counts.bin_us} us bins"  # type: ignore[attr-defined]
        ax.set_title(label)
        fig.tight_layout()
    return fig, note


def rate_scatter(
    neurons: np.ndarray,
    ref_hz: np.ndarray,
    cand_hz: np.ndarray,
    labels: tuple[str, str],
    outliers: Sequence[int],
    outlier_label: str,
) -> Figure:
    """Per-neuron mean rate [Hz], reference (x) vs candidate (y), the identity line, and the
    outliers circled and named by board-wide index."""
    fig, ax = new_figure(5.5, 5.0)
    with rc_context(_RC):
        top = (
            float(max(np.nanmax(ref_hz, initial=0.0), np.nanmax(cand_hz, initial=0.0), 1.0)) * 1.05
        )
        ax.plot(
            [0, top],
            [0, top],
            color="0.5",
            linestyle="--",
            linewidth=1,
            label="identity (equal rates)",
        )
        ax.scatter(ref_hz, cand_hz, s=10, color="C0", alpha=0.7, label=f"neurons ({len(neurons)})")
        pos = {int(n): i for i, n in enumerate(neurons)}
        idx = [pos[o] for o in outliers if o in pos]
        if idx:
            ax.scatter(
                ref_hz[idx],
                cand_hz[idx],
                s=60,
                facecolors="none",
                edgecolors="C3",
                linewidths=1.5,
                label=outlier_label,
            )
            for i in idx[:20]:
                ax.annotate(
                    _neuron_text(int(neurons[i])),
                    (ref_hz[i], cand_hz[i]),
                    xytext=(4, 4),
                    textcoords="offset points",
                    fontsize=7,
                    color="C3",
                )
        ax.set_xlim(0, top)
        ax.set_ylim(0, top)
        ax.set_aspect("equal")
        ax.set_xlabel(f"{labels[0]} rate [Hz]")
        ax.set_ylabel(f"{labels[1]} rate [Hz]")
        ax.set_title(f"per-neuron rate: {labels[0]} vs {labels[1]}")
        ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
    return fig


def _neuron_text(g: int) -> str:
    chip, core, n = neuron_address(g)
    return f"{g} (c{chip}.{core}#{n})"


def histograms(
    samples: Mapping[str, np.ndarray], xlabel: str, title: str, log_x: bool = False, bins: int = 40
) -> Figure:
    """Overlaid step histograms, one per group, on shared bins (log-spaced when `log_x`)."""
    fig, ax = new_figure(6.0, 3.4)
    with rc_context(_RC):
        data = {k: v[np.isfinite(v)] for k, v in samples.items()}
        pooled = np.concatenate([v for v in data.values()] or [np.zeros(0)])
        pooled = pooled[pooled > 0] if log_x else pooled
        if pooled.size:
            lo, hi = float(pooled.min()), float(pooled.max())
            hi = hi if hi > lo else lo + 1.0
            edges = np.geomspace(lo, hi, bins + 1) if log_x else np.linspace(lo, hi, bins + 1)
        else:
            edges = np.linspace(0.0, 1.0, bins + 1)
        for i, (label, v) in enumerate(data.items()):
            ax.hist(
                v,
                bins=edges.tolist(),
                histtype="step",
                linewidth=1.5,
                color=f"C{i}",
                label=f"{label} ({v.size})",
            )
        if log_x:
            ax.set_xscale("log")
            # the default log labels are mathtext, which is off here: plain numbers instead
            ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            ax.xaxis.set_minor_formatter(ticker.NullFormatter())
        ax.set_xlabel(xlabel)
        ax.set_ylabel("occurrences [count]")
        ax.set_title(title)
        if len(data) > 1:
            ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def fi_curves(frame: pd.DataFrame) -> Figure:
    """f-I curves per core: up to MAX_FI_NEURONS single neurons faint, the core's median bold."""
    cores = sorted({(int(a), int(b)) for a, b in zip(frame["chip"], frame["core"], strict=True)})
    fig, ax = new_figure(7.0, 4.0)
    with rc_context(_RC):
        for i, (chip, core) in enumerate(cores):
            sub = frame[(frame["chip"] == chip) & (frame["core"] == core)]
            color = f"C{i % 10}"
            for j, (_, one) in enumerate(sub.groupby("neuron", sort=True)):
                if j >= MAX_FI_NEURONS:
                    break
                one = one.sort_values("idc_A")
                ax.plot(
                    one["idc_A"] * 1e12,
                    one["rate_hz"],
                    color=color,
                    alpha=0.15,
                    linewidth=0.7,
                    label="single neurons" if (i, j) == (0, 0) else "_",
                )
            med = sub.groupby("idc_A")["rate_hz"].median()
            ax.plot(
                med.index * 1e12,
                med.to_numpy(),
                color=color,
                linewidth=2.2,
                marker="o",
                markersize=3,
                label=f"chip {chip} core {core} median",
            )
        ax.set_xlabel("DC input current [pA]")
        ax.set_ylabel("rate [Hz]")
        ax.set_title("f-I curves")
        ax.legend(fontsize=8, ncol=2)
        fig.tight_layout()
    return fig


def calibration(frame: pd.DataFrame) -> Figure:
    """Relative error of the achieved value per core [%], one series per parameter; failed
    searches marked with crosses at 0."""
    cores = sorted({(int(a), int(b)) for a, b in zip(frame["chip"], frame["core"], strict=True)})
    x_of = {c: i for i, c in enumerate(cores)}
    params = list(dict.fromkeys(frame["parameter"]))
    fig, ax = new_figure(7.0, 3.6)
    with rc_context(_RC):
        width = 0.8 / max(len(params), 1)
        for i, p in enumerate(params):
            sub = frame[frame["parameter"] == p]
            x = np.array(
                [x_of[(int(a), int(b))] for a, b in zip(sub["chip"], sub["core"], strict=True)]
            )
            with np.errstate(divide="ignore", invalid="ignore"):
                err = (sub["achieved"].to_numpy() / sub["target"].to_numpy() - 1.0) * 100.0
            ok = sub["success"].to_numpy() & np.isfinite(err)
            off = (i - (len(params) - 1) / 2) * width
            ax.bar(x[ok] + off, err[ok], width=width, color=f"C{i % 10}", label=p)
            if (~ok).any():
                ax.plot(
                    x[~ok] + off,
                    np.zeros((~ok).sum()),
                    linestyle="none",
                    marker="x",
                    color=f"C{i % 10}",
                    markersize=8,
                    label=f"{p}: search failed",
                )
        ax.axhline(0.0, color="0.3", linewidth=0.8, label="_target")
        ax.set_xticks(range(len(cores)), [f"{c}.{k}" for c, k in cores])
        ax.set_xlabel("core [chip.core]")
        ax.set_ylabel("achieved / target - 1 [%]")
        ax.set_title("calibration: achieved vs target per core")
        ax.legend(fontsize=8)
        fig.tight_layout()
    return fig


def accuracy(frame: pd.DataFrame) -> Figure:
    """Accuracy [%] against mismatch level [%], one line per mode, with its interval when given."""
    fig, ax = new_figure(6.0, 3.6)
    with rc_context(_RC):
        for i, (mode, sub) in enumerate(frame.groupby("mode", sort=False)):
            sub = sub.sort_values("mismatch")
            x, y = sub["mismatch"].to_numpy() * 100, sub["accuracy"].to_numpy() * 100
            ax.plot(x, y, marker="o", color=f"C{i % 10}", label=str(mode))
            if {"accuracy_lo", "accuracy_hi"} <= set(sub.columns):
                ax.fill_between(
                    x,
                    sub["accuracy_lo"] * 100,
                    sub["accuracy_hi"] * 100,
                    color=f"C{i % 10}",
                    alpha=0.15,
                    label=f"_{mode} interval",
                )
        ax.set_xlabel("mismatch level [% relative std]")
        ax.set_ylabel("accuracy [%]")
        ax.set_title("accuracy vs mismatch")
        ax.legend(fontsize=8, title="training")
        fig.tight_layout()
    return fig


def trend(frame: pd.DataFrame, metric: str) -> Figure:
    """One metric's per-core median against the night, one line per core; nights with an alert
    are marked with a red ring."""
    fig, ax = new_figure(6.0, 3.4)
    sub = frame[frame["metric"] == metric]
    nights = sorted(set(sub["night"]))
    pos = {n: i for i, n in enumerate(nights)}
    with rc_context(_RC):
        for i, (core, part) in enumerate(sub.groupby("core", sort=True)):
            part = part.sort_values("night")
            x = [pos[n] for n in part["night"]]
            label = "board" if core < 0 else f"core {core}"
            ax.plot(x, part["value"], marker=".", color=f"C{i % 10}", label=label)
            if "alert" in part.columns and part["alert"].any():
                hit = part[part["alert"]]
                ax.plot([pos[n] for n in hit["night"]], hit["value"], "o", mfc="none", mec="red",
                        ms=9, label=f"_{label} alert")  # fmt: skip
        step = max(1, len(nights) // 8)
        ax.set_xticks(range(0, len(nights), step))
        ax.set_xticklabels([nights[i] for i in range(0, len(nights), step)], rotation=30,
                           ha="right", fontsize=7)  # fmt: skip
        ax.set_xlabel("night [date]")
        unit = metric.rsplit("_", 1)[-1] if "_" in metric else ""
        ax.set_ylabel(f"{metric} median [{unit.replace('hz', 'Hz') or '-'}]")
        ax.set_title(f"{metric} per core over the nights (red ring: alert)")
        ax.legend(fontsize=7, ncol=2)
        fig.tight_layout()
    return fig
