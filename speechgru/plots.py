"""Figures written into run directories (matplotlib figures apart from pyplot, PNG)."""

from __future__ import annotations

from pathlib import Path

import numpy as np


class _Figures:
    """Figures made apart from pyplot (a ``matplotlib.figure.Figure`` saved by its own Agg
    canvas): writing a PNG never changes the backend of the process, so a notebook that
    trains a run still shows its own figures inline."""

    @staticmethod
    def subplots(nrows: int = 1, ncols: int = 1, *, figsize=None, **kwargs):
        from matplotlib.figure import Figure

        fig = Figure(figsize=figsize)
        return fig, fig.subplots(nrows, ncols, **kwargs)

    @staticmethod
    def close(fig) -> None:  # nothing registered with pyplot: nothing to close
        return None


def _plt() -> type[_Figures]:
    return _Figures


def plot_curves(history: list[dict], path: str | Path) -> None:
    """Loss and accuracy per epoch, training and validation."""
    plt = _plt()
    epochs = [int(r["epoch"]) for r in history]
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for ax, key in zip(axes, ("loss", "accuracy"), strict=True):
        ax.plot(epochs, [float(r[key]) for r in history], label="train")
        ax.plot(epochs, [float(r[f"val_{key}"]) for r in history], label="validation")
        if key == "accuracy" and all("val_balanced_accuracy" in r for r in history):
            ax.plot(epochs, [float(r["val_balanced_accuracy"]) for r in history],
                    label="validation, class-balanced (selects the best epoch)")
        ax.set_xlabel("epoch")
        ax.set_title(key)
        ax.grid(alpha=0.3)
        ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_confusion(confusion: np.ndarray, labels: list[str], path: str | Path,
                   title: str = "") -> None:
    """Row-normalised confusion matrix (rows: true label), with counts."""
    plt = _plt()
    cm = np.asarray(confusion, dtype=float)
    norm = cm / np.maximum(cm.sum(axis=1, keepdims=True), 1)
    n = len(labels)
    fig, ax = plt.subplots(figsize=(1.0 + 0.55 * n, 0.8 + 0.5 * n))
    ax.imshow(norm, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(n), labels, rotation=60, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(n):
        for j in range(n):
            if cm[i, j]:
                ax.text(j, i, int(cm[i, j]), ha="center", va="center", fontsize=7,
                        color="white" if norm[i, j] > 0.5 else "black")
    if title:
        ax.set_title(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_det(curve: list[dict], path: str | Path, title: str = "",
             operating: float | None = None) -> None:
    """DET-style curves of a streaming benchmark, one point per threshold: the share of
    commands missed against false alarms per hour of background (left) and against the
    share of other words that fire (right); the operating point circled."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    miss = [1.0 - (r["command_recall"] or 0.0) for r in curve]
    for ax, key, label in ((axes[0], "false_alarms_per_hour",
                            "false alarms per hour of background"),
                           (axes[1], "other_words_accepted", "other words that fire")):
        xs = [r[key] if r[key] is not None else np.nan for r in curve]
        ax.plot(xs, miss, "o-")
        for r, x, m in zip(curve, xs, miss, strict=True):
            ax.annotate(f"{r['threshold']:.2f}", (x, m), textcoords="offset points",
                        xytext=(4, 4), fontsize=7)
            if operating is not None and abs(r["threshold"] - operating) < 1e-9:
                ax.plot([x], [m], "o", markersize=12, fillstyle="none", color="red",
                        label=f"operating point {operating:.2f}")
                ax.legend()
        ax.set_xlabel(label)
        ax.set_ylabel("commands missed")
        ax.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_talk(curve: list[dict], path: str | Path, title: str = "",
              operating: float | None = None) -> None:
    """The room benchmark over thresholds: commands found per SNR band against false
    alarms per hour of speech (left; a log scale, 0 drawn at 0.1), and commands found
    against other words that fire (right); the operating point circled."""
    plt = _plt()
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    bands = list(curve[0]["per_band"]) if curve else []
    fa = [max(r["false_alarms_per_hour_of_speech"] or 0.0, 0.1) for r in curve]
    for band in ["all", *bands]:
        ys = [(r["command_recall"] if band == "all" else r["per_band"][band]) for r in curve]
        ys = [np.nan if y is None else y for y in ys]
        axes[0].plot(fa, ys, "o-" if band == "all" else ".--", label=band,
                     linewidth=2 if band == "all" else 1)
    for r, x in zip(curve, fa, strict=True):
        axes[0].annotate(f"{r['threshold']:.2f}", (x, r["command_recall"] or 0),
                         textcoords="offset points", xytext=(3, 3), fontsize=6)
    other = [np.nan if r["other_words_accepted"] is None else r["other_words_accepted"]
             for r in curve]
    axes[1].plot(other, [r["command_recall"] for r in curve], "o-")
    if operating is not None:
        for r, x, o in zip(curve, fa, other, strict=True):
            if abs(r["threshold"] - operating) < 1e-9:
                axes[0].plot([x], [r["command_recall"]], "o", markersize=12, fillstyle="none",
                             color="red", label=f"operating point {operating:.2f}")
                axes[1].plot([o], [r["command_recall"]], "o", markersize=12,
                             fillstyle="none", color="red")
    axes[0].set_xscale("log")
    axes[0].axvline(1.0, color="grey", linestyle=":", linewidth=1)
    axes[0].set_xlabel("false alarms per hour of speech")
    axes[1].set_xlabel("other words that fire")
    for ax in axes:
        ax.set_ylabel("commands found")
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
