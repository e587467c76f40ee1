"""The export report as a table for the console."""

from __future__ import annotations


def format_report(report: dict) -> str:
    lines = [f"{report['clips']} validation clips; Keras accuracy "
             f"{report['keras_accuracy']:.4f}",
             f"{'file':<24}{'KiB':>8}{'max|Δ|':>10}{'top-1 agree':>13}{'accuracy':>10}"
             f"{'ms/call':>9}"]
    for name, r in report["models"].items():
        if "error" in r:
            lines.append(f"{name:<24}  FAILED: {r['error']}")
            continue
        agree = f"{r['top1_agreement']:>13.3f}" if "top1_agreement" in r else f"{'-':>13}"
        acc = f"{r['accuracy']:>10.3f}" if "accuracy" in r else f"{'-':>10}"
        lines.append(f"{name:<24}{r['bytes'] / 1024:>8.1f}{r['max_abs_delta']:>10.2e}"
                     f"{agree}{acc}{r['latency_ms']:>9.3f}")
    names = set(report["models"])
    if "frontend.tflite" in names:
        lines.append("frontend: max|Δ| against librosa's MFCC, one frame a call")
    if names & {"stream_float32.tflite", "stream_int8.tflite"}:
        lines.append("stream_*: one call per hop (20 ms of audio), from zero states over each "
                     "clip")
    for name, why in report.get("skipped", {}).items():
        lines.append(f"{name}: not written: {why}")
    return "\n".join(lines)
