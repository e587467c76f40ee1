"""``micro/`` of an export against the file it holds, TFLM's own interpreter (the
``tflite-micro`` package) and LiteRT."""

from __future__ import annotations

import re

import numpy as np
import pytest
from conftest import SC_HALF, needs_shared

from speechgru.export.card import tflite_ops
from speechgru.export.micro import arena_bytes, run_stream

pytestmark = pytest.mark.slow
pytest.importorskip("tflite_micro", reason="tflite-micro is in the [train] extra")


def test_the_c_array_is_the_model_and_the_readme_names_its_ops_and_arena(exported):
    root, report = exported
    micro = root / "model" / "micro"
    # the int16-activation stream: the one TFLM runs as LiteRT does
    assert report["micro"]["model"] == "stream_int16.tflite"
    model = root / "model" / "stream_int16.tflite"
    data = model.read_bytes()
    source = (micro / "model_data.cc").read_text()
    body = source[source.index("{") + 1:source.index("}")]
    assert bytes(int(h, 16) for h in re.findall(r"0x([0-9a-f]{2})", body)) == data
    assert f"g_model_len = {len(data)};" in source and "alignas(16)" in source
    assert "extern const unsigned char g_model[];" in (micro / "model_data.h").read_text()
    readme = (micro / "README.md").read_text()
    ops = tflite_ops(model)
    assert f"MicroMutableOpResolver<{len(ops)}>" in readme
    assert "resolver.AddFullyConnected();" in readme and "resolver.AddTanh();" in readme
    arena = report["micro"]["arena_bytes"]
    assert f"**{arena:,} bytes**" in readme
    # the measured arena is the smallest that allocates, to 64 bytes (each probe in its
    # own process: TFLM's Python wrapper crashes beside TensorFlow)
    from speechgru.export.micro import _child

    path = str(model)
    said = ["ok" if _child("fits", path, str(a), check=False).returncode == 0 else "too small"
            for a in (arena, arena - 128)]
    assert said == ["ok", "too small"]
    assert arena_bytes(model) == arena
    assert "`stream_int16.tflite` as a C array" in (root / "model" / "README.md").read_text()


@pytest.mark.parametrize("name", ["stream_int8.tflite", "stream_int16.tflite"])
def test_states_share_one_quantization_in_and_out(exported, name):
    """The converter calibrates a state's input and output apart; the export gives the
    input the output's quantization (and requantizes the biases that depend on it), so
    the states go back byte for byte (tests/export/test_convert.py: the arithmetic is
    kept; test_export.py: the file agrees with the Keras model)."""
    from speechgru.export.micro import _tensors
    from speechgru.runtime.tflite import state_carry

    root, _ = exported
    ins, outs = _tensors(root / "model" / name)
    q_in = {d["signature_name"]: d for d in ins}
    q_out = {d["signature_name"]: d for d in outs}
    states = [n for n in q_in if n.startswith("state_")]
    assert states and all(q_in[n]["quantization"] == q_out[n]["quantization"]
                          for n in states)
    assert all(state_carry(q_in[n], q_out[n], n) is None for n in states)


def _real_clips() -> np.ndarray:
    """The training MFCC of 60 clips of the Speech Commands half, every 40th."""
    from speechgru.audio import load_clip
    from speechgru.config import FeatureConfig
    from speechgru.data.layouts import scan_dataset
    from speechgru.features.librosa import mfcc

    F = FeatureConfig()
    clips = scan_dataset(SC_HALF).clips[::40][:60]
    return np.stack([mfcc(load_clip(c.path, sample_rate=F.sample_rate,
                                    num_samples=F.clip_samples), F) for c in clips])


@needs_shared
def test_tflm_runs_the_stream_like_litert_on_real_clips(exported):
    root, _ = exported
    x = _real_clips()
    path = root / "model" / "stream_int8.tflite"
    micro = run_stream(path, x, use_micro=True)
    lite = run_stream(path, x, use_micro=False)
    agree = float((micro.argmax(1) == lite.argmax(1)).mean())
    delta = float(np.abs(micro - lite).max())
    print(f"TFLM vs LiteRT on {len(x)} real clips: top-1 agreement {agree:.3f}, "
          f"max |Δp| {delta:.4f}")
    # after 49 steps of carried int8 state the two runtimes part by a few quantization
    # steps of the output (measured 0.027 and 0.055 on two trainings of this fixture; the
    # issue's target is 0.03, not met in general); the top-1 may differ only where
    # LiteRT's own top two are closer than 0.2 (this small model is unsure of real voices)
    assert delta <= 0.1
    top2 = np.sort(lite, axis=1)[:, -2:]
    sure = top2[:, 1] - top2[:, 0] > 0.2
    assert sure.sum() >= len(x) // 4
    assert np.all(micro.argmax(1)[sure] == lite.argmax(1)[sure])


@needs_shared
def test_tflm_runs_the_int16_stream_as_litert_does(exported):
    """int8 weights with int16 activations (stream_int16): 49 steps of carried state no
    longer add up the kernels' one-step rounding differences — TFLM and LiteRT give the
    same top-1 on every real clip and probabilities within the issue's 0.03 (measured
    0.0003 on 300 real clips with a model of the default recipe)."""
    root, report = exported
    x = _real_clips()
    path = root / "model" / "stream_int16.tflite"
    micro = run_stream(path, x, use_micro=True)
    lite = run_stream(path, x, use_micro=False)
    delta = float(np.abs(micro - lite).max())
    print(f"int16 stream, TFLM vs LiteRT on {len(x)} real clips: max |Δp| {delta:.5f}")
    assert np.all(micro.argmax(1) == lite.argmax(1)) and delta <= 0.03
    r = report["models"]["stream_int16.tflite"]  # and it is still the float model
    assert r["top1_agreement"] >= 0.95 and r["max_abs_delta"] <= 0.1, r
