"""The figures: real PNGs of the expected size, from known inputs."""

import numpy as np

from speechgru.plots import plot_confusion, plot_curves

PNG = b"\x89PNG\r\n\x1a\n"


def _size(path):
    data = path.read_bytes()
    assert data[:8] == PNG
    return int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")


def test_curves_png(tmp_path):
    history = [{"epoch": e, "loss": 2.0 / e, "val_loss": 2.2 / e, "accuracy": 0.1 * e,
                "val_accuracy": 0.09 * e, "val_balanced_accuracy": 0.08 * e}
               for e in range(1, 6)]
    plot_curves(history, tmp_path / "c.png")
    assert _size(tmp_path / "c.png") == (1000, 400)  # figsize 10×4 at 100 dpi


def test_confusion_png_grows_with_the_labels(tmp_path):
    small = np.array([[3, 1], [0, 4]])
    plot_confusion(small, ["a", "b"], tmp_path / "s.png", title="t")
    big = np.eye(12, dtype=int) * 5
    plot_confusion(big, [f"w{i}" for i in range(12)], tmp_path / "b.png")
    (w1, h1), (w2, h2) = _size(tmp_path / "s.png"), _size(tmp_path / "b.png")
    assert w2 > w1 and h2 > h1
    # a row without clips must not divide by zero
    plot_confusion(np.zeros((3, 3)), ["x", "y", "z"], tmp_path / "z.png")
    assert _size(tmp_path / "z.png")[0] > 0
