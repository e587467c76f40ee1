"""The runtime's interpreter helpers: int8 (de)quantization by hand, and bad files."""

import numpy as np
import pytest

from speechgru.errors import ExportError
from speechgru.runtime.tflite import _open, dequantize, quantize

INT8 = {"dtype": np.int8, "quantization": (0.5, -3)}
FLOAT = {"dtype": np.float32, "quantization": (0.0, 0)}


def test_quantize_by_hand():
    v = np.array([0.0, 1.0, -1.25, 100.0, -100.0], np.float32)
    # q = round(v / 0.5 + (-3)), clipped to int8
    np.testing.assert_array_equal(quantize(v, INT8), np.array([-3, -1, -6, 127, -128], np.int8))
    assert quantize(v, INT8).dtype == np.int8
    np.testing.assert_array_equal(quantize(v, FLOAT), v)


def test_dequantize_by_hand_and_the_round_trip_error_is_half_a_step():
    q = np.array([-3, -1, 127, -128], np.int8)
    np.testing.assert_allclose(dequantize(q, INT8), [0.0, 1.0, 65.0, -62.5])
    v = np.random.default_rng(0).uniform(-60, 60, 1000).astype(np.float32)
    assert np.abs(dequantize(quantize(v, INT8), INT8) - v).max() <= 0.25 + 1e-6
    f = np.array([0.5], np.float32)
    assert dequantize(f, FLOAT) is f


@pytest.mark.parametrize("content, why", [(None, "missing"), (b"", "not a valid TFLite"),
                                          (b"TFL3" + b"\0" * 60, "not a valid TFLite")])
def test_open_names_the_file(tmp_path, content, why):
    path = tmp_path / "model.tflite"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ExportError, match=why) as exc:
        _open(path, 1, "missing")
    assert str(path) in str(exc.value)
