"""The runtime's interpreter helpers: int8 (de)quantization by hand, and bad files."""

from pathlib import Path

import numpy as np
import pytest

from speechgru.errors import ExportError
from speechgru.runtime.tflite import StreamStep, _open, dequantize, quantize

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


MODEL = Path(__file__).resolve().parents[2] / "models" / "speech-commands-12"


@pytest.mark.parametrize("variant", ["float32", "int8"])
def test_stream_step_keeps_int8_states_int8_and_equals_a_float_round_trip(variant):
    """The step carries int8 states by table; driven the plain way (the signature runner,
    every state dequantized to float and quantized back at each hop) the same model gives
    the same probabilities and states, bit for bit, over 120 hops."""
    path = MODEL / f"stream_{variant}.tflite"
    step = StreamStep(path, 40, 12)
    ref = _open(path, 1, "missing").get_signature_runner()
    ins, outs = ref.get_input_details(), ref.get_output_details()
    frames = np.random.default_rng(0).normal(0, 8, (120, 1, 40)).astype(np.float32)
    frames[:, :, 0] = -250 + 10 * np.sin(np.arange(120))[:, None]  # MFCC 0 of speech
    states = step.zero_states()
    ref_states = {k: np.zeros(ins[k]["shape"], np.float32) for k in step.state_names}
    for frame in frames:
        probs, states = step(frame, states)
        y = ref(frame=quantize(frame, ins["frame"]),
                **{k: quantize(v, ins[k]) for k, v in ref_states.items()})
        ref_states = {k: dequantize(y[k], outs[k]) for k in step.state_names}
        assert np.array_equal(probs, dequantize(y["probabilities"], outs["probabilities"]))
        for k in step.state_names:
            assert states[k].dtype == ins[k]["dtype"]
            assert np.array_equal(states[k], quantize(ref_states[k], ins[k]))
    assert probs.max() < 1.0 and probs.min() >= 0.0


def test_the_front_end_gives_the_same_frames_in_one_call_or_one_by_one():
    """frontend.tflite resized to the frames at hand (up to 64 a call) equals one frame a
    call (the only way for an export fixed at batch 1), and librosa's MFCC."""
    from speechgru.config import FeatureConfig
    from speechgru.features.librosa import mfcc
    from speechgru.runtime.tflite import FrameFrontend

    F = FeatureConfig.load(MODEL / "features.json")
    pcm = (0.1 * np.random.default_rng(1).standard_normal(F.clip_samples + 2345)
           ).astype(np.float32)
    many = FrameFrontend(MODEL / "frontend.tflite", F)
    single = FrameFrontend(MODEL / "frontend.tflite", F, batch=1)
    assert many.batch == 64 and single.batch == 1
    a = many.frames(pcm)
    assert a.shape == (1 + (len(pcm) - F.n_fft) // F.hop_length, F.n_mfcc)
    np.testing.assert_allclose(a, single.frames(pcm), atol=1e-4)
    np.testing.assert_allclose(a[:7], many.frames(pcm, 7), atol=1e-5)  # a resize and back
    np.testing.assert_allclose(a, mfcc(pcm, F), atol=2e-3)
    assert many.frames(pcm[:100]).shape == (0, F.n_mfcc)  # shorter than a frame: none


def test_a_state_whose_two_quantizations_differ_goes_back_through_float():
    """The 16x8 converter need not give an int16 state's output the input's quantization
    (the demo model's differ): such a state is carried as a float round trip, an int8 one
    by its table, and one that matches as it is."""
    from speechgru.runtime.tflite import state_carry

    step = StreamStep(MODEL / "stream_int16.tflite", 40, 12)
    name = step.state_names[0]
    i = step._ins[name]
    assert i["dtype"] == np.int16 and state_carry(i, step._outs[name], name) is None
    o = dict(i, quantization=(2 * i["quantization"][0], 5))
    carry = state_carry(i, o, name)
    codes = np.array([[-300, -5, 0, 7, 20000]], np.int16)
    np.testing.assert_array_equal(carry(codes), quantize(dequantize(codes, o), i))
    assert carry(codes).dtype == np.int16
    j = StreamStep(MODEL / "stream_int8.tflite", 40, 12)._ins[name]
    o8 = dict(j, quantization=(2 * j["quantization"][0], j["quantization"][1]))
    every = np.arange(-128, 128).astype(np.int8)[None]
    np.testing.assert_array_equal(state_carry(j, o8, name)(every),
                                  quantize(dequantize(every, o8), j))
    with pytest.raises(ExportError, match="int16"):
        state_carry(i, dict(j), name)
