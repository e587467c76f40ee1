"""TFLite Model Metadata: what lets Google's clients run a raw-audio export with no glue code.

MediaPipe Tasks' ``AudioClassifier`` (Android, iOS, the web, Python) and Android Studio's
model binding read a ``.tflite`` file's own description of itself: the flatbuffer of
``metadata_schema.fbs`` (file identifier ``M001``) in a model buffer named
``TFLITE_METADATA``, and the files it names (``labels.txt``) packed as a zip archive
appended to the model. This module writes both with the ``flatbuffers`` builder alone
(no ``tflite-support``: its pins are years old) and reads them back.

What is written, by the schema's tables (field numbers are the schema's):

* ``ModelMetadata``: name, description (the labels, the clip length and the operating
  point), version, author, licence, ``min_parser_version`` 1.3.0 (``AudioProperties``
  arrived in 1.3.0).
* the input tensor: ``Content`` with ``AudioProperties`` (sample rate, channels): MediaPipe
  reads the window (the tensor's last dimension) and resamples what it is given to that rate.
* the output tensor: ``labels.txt`` as ``TENSOR_AXIS_LABELS``, and the operating point as
  ``ScoreThresholdingOptions`` (MediaPipe drops the classes that score below it unless the
  caller sets ``score_threshold``).

MediaPipe also needs a graph of one subgraph ("Audio classification tflite models are
assumed to have a single subgraph"): the exporter unrolls the GRUs of the raw-audio model
for that (:mod:`speechgru.export.variants`).
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass

import numpy as np

from ..errors import ExportError

METADATA_NAME = "TFLITE_METADATA"
IDENTIFIER = b"M001"
MIN_PARSER_VERSION = "1.3.0"
LABELS_FILE = "labels.txt"

# union tags and enum values of metadata_schema.fbs
_FEATURE_PROPERTIES, _AUDIO_PROPERTIES = 1, 4  # ContentProperties
_SCORE_THRESHOLDING = 3  # ProcessUnitOptions
_TENSOR_AXIS_LABELS = 2  # AssociatedFileType
# a fixed timestamp in the zip: the same model gives the same bytes (the manifest's sha256)
_ZIP_TIME = (2020, 1, 1, 0, 0, 0)


@dataclass(frozen=True)
class AudioMetadata:
    """What a raw-audio classifier says of itself."""

    name: str
    description: str
    version: str
    author: str
    license: str
    sample_rate: int
    channels: int
    labels: tuple[str, ...]
    score_threshold: float = 0.0
    input_name: str = "pcm"
    output_name: str = "probabilities"


def _strings(b, *texts):
    return [b.CreateString(t) for t in texts]


def _vector(b, offsets) -> int:
    b.StartVector(4, len(offsets), 4)
    for off in reversed(offsets):
        b.PrependUOffsetTRelative(off)
    return b.EndVector()


def _table(b, slots: int, fields) -> int:
    """One table: ``fields`` are ``(slot, kind, value)``, kind one of ``off``, ``u8``,
    ``i8``, ``u32``, ``f32``."""
    b.StartObject(slots)
    add = {"off": b.PrependUOffsetTRelativeSlot, "u8": b.PrependUint8Slot,
           "i8": b.PrependInt8Slot, "u32": b.PrependUint32Slot,
           "f32": b.PrependFloat32Slot}
    for slot, kind, value in fields:
        add[kind](slot, value, 0)
    return b.EndObject()


def metadata_flatbuffer(md: AudioMetadata) -> bytes:
    """The ``ModelMetadata`` flatbuffer (identifier ``M001``) of ``md``."""
    import flatbuffers

    b = flatbuffers.Builder(1024)
    # input: raw samples
    audio = _table(b, 2, [(0, "u32", md.sample_rate), (1, "u32", md.channels)])
    content_in = _table(b, 3, [(0, "u8", _AUDIO_PROPERTIES), (1, "off", audio)])
    in_name, in_desc = _strings(
        b, md.input_name, f"{md.channels} channel(s) of float32 samples in [-1, 1] at "
        f"{md.sample_rate} Hz; the MFCC is computed inside the model")
    tensor_in = _table(b, 7, [(0, "off", in_name), (1, "off", in_desc), (3, "off", content_in)])
    # output: probabilities over the labels, with the operating point
    features = _table(b, 0, [])
    content_out = _table(b, 3, [(0, "u8", _FEATURE_PROPERTIES), (1, "off", features)])
    threshold = _table(b, 1, [(0, "f32", float(md.score_threshold))])
    unit = _table(b, 2, [(0, "u8", _SCORE_THRESHOLDING), (1, "off", threshold)])
    units = _vector(b, [unit])
    f_name, f_desc = _strings(b, LABELS_FILE, "one label per output, in order")
    labels = _table(b, 5, [(0, "off", f_name), (1, "off", f_desc),
                           (2, "i8", _TENSOR_AXIS_LABELS)])
    files = _vector(b, [labels])
    out_name, out_desc = _strings(b, md.output_name,
                                  "the probability of each label (they sum to 1)")
    tensor_out = _table(b, 7, [(0, "off", out_name), (1, "off", out_desc),
                               (3, "off", content_out), (4, "off", units),
                               (6, "off", files)])
    ins, outs = _vector(b, [tensor_in]), _vector(b, [tensor_out])
    subgraph = _table(b, 9, [(2, "off", ins), (3, "off", outs)])
    subgraphs = _vector(b, [subgraph])
    name, desc, version, author, lic, parser = _strings(
        b, md.name, md.description, md.version, md.author, md.license, MIN_PARSER_VERSION)
    root = _table(b, 8, [(0, "off", name), (1, "off", desc), (2, "off", version),
                         (3, "off", subgraphs), (4, "off", author), (5, "off", lic),
                         (7, "off", parser)])
    b.Finish(root, file_identifier=IDENTIFIER)
    return bytes(b.Output())


def embed(model: bytes, md: AudioMetadata) -> bytes:
    """``model`` (a ``.tflite`` flatbuffer, with or without metadata) with ``md`` as its
    ``TFLITE_METADATA`` buffer and ``labels.txt`` zipped after it."""
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    if zipfile.is_zipfile(io.BytesIO(model)):  # already packed: start from the bare model
        model = model[:_zip_start(model)]
    m = flatbuffer_utils.convert_bytearray_to_object(bytearray(model))
    graph = m.subgraphs[0]
    if len(m.subgraphs) != 1 or len(graph.inputs) != 1 or len(graph.outputs) != 1:
        raise ExportError("metadata: the model must have one subgraph, one input and one "
                          f"output (it has {len(m.subgraphs)} subgraphs)")
    n_out = int(graph.tensors[graph.outputs[0]].shape[-1])
    if n_out != len(md.labels):
        raise ExportError(f"metadata: {n_out} outputs but {len(md.labels)} labels")
    data = np.frombuffer(metadata_flatbuffer(md), np.uint8)
    old = [e for e in (m.metadata or []) if _name(e) == METADATA_NAME]
    if old:  # written before: its buffer takes the new metadata
        m.buffers[old[0].buffer].data = data
    else:
        buffer = schema.BufferT()
        buffer.data = data
        m.buffers.append(buffer)
        entry = schema.MetadataT()
        entry.name, entry.buffer = METADATA_NAME, len(m.buffers) - 1
        m.metadata = [*(m.metadata or []), entry]
    out = io.BytesIO(bytes(flatbuffer_utils.convert_object_to_bytearray(m)))
    out.seek(0, io.SEEK_END)
    # appended after the model: the archive's offsets count from the file's start
    with zipfile.ZipFile(out, "a", zipfile.ZIP_STORED) as z:
        info = zipfile.ZipInfo(LABELS_FILE, date_time=_ZIP_TIME)
        z.writestr(info, "\n".join(md.labels) + "\n")
    return out.getvalue()


def _name(entry) -> str:
    n = entry.name
    return n.decode() if isinstance(n, bytes) else str(n)


def _zip_start(data: bytes) -> int:
    """Where the appended archive begins: its first member's local header."""
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        return min(i.header_offset for i in z.infolist())


class _Table:
    """Read access to one flatbuffer table (TF-free: the ``flatbuffers`` package only)."""

    def __init__(self, buf: bytes, pos: int):
        from flatbuffers import table

        self.buf, self.t = buf, table.Table(bytearray(buf), pos)

    def _off(self, slot: int) -> int:
        return self.t.Offset(4 + 2 * slot)

    def string(self, slot: int) -> str | None:
        o = self._off(slot)
        return self.t.String(o + self.t.Pos).decode("utf-8", "replace") if o else None

    def table(self, slot: int) -> _Table | None:
        o = self._off(slot)
        return _Table(self.buf, self.t.Indirect(o + self.t.Pos)) if o else None

    def tables(self, slot: int) -> list[_Table]:
        o = self._off(slot)
        if not o:
            return []
        start = self.t.Vector(o)
        return [_Table(self.buf, self.t.Indirect(start + 4 * i))
                for i in range(self.t.VectorLen(o))]

    def bytes(self, slot: int) -> bytes | None:
        o = self._off(slot)
        if not o:
            return None
        start = self.t.Vector(o)
        return bytes(self.buf[start:start + self.t.VectorLen(o)])

    def scalar(self, slot: int, kind):
        o = self._off(slot)
        return self.t.Get(kind, o + self.t.Pos) if o else 0


def _root(buf: bytes) -> _Table:
    if len(buf) < 8:
        raise ExportError("not a flatbuffer (too short)")
    return _Table(buf, int.from_bytes(buf[:4], "little"))


def metadata_buffers(model: bytes) -> dict[str, bytes]:
    """The named metadata buffers of a ``.tflite`` file's bytes (``Model.metadata``)."""
    from flatbuffers import number_types as nt

    root = _root(model)
    buffers = root.tables(4)  # Model.buffers
    out = {}
    for entry in root.tables(6):  # Model.metadata: name, buffer index
        i = entry.scalar(1, nt.Uint32Flags)
        if 0 <= i < len(buffers):
            out[entry.string(0) or ""] = buffers[i].bytes(0) or b""
    return out


def read_metadata(data: bytes) -> dict | None:
    """The metadata of a ``.tflite`` file's bytes as a dict (``None`` when it has none):
    name, description, version, author, license, min_parser_version, sample_rate,
    channels, score_threshold, the output's associated files (name and type), and the
    packed files' text."""
    from flatbuffers import number_types as nt

    raw = metadata_buffers(data).get(METADATA_NAME)
    if raw is None:
        return None
    if raw[4:8] != IDENTIFIER:
        raise ExportError(f"{METADATA_NAME}: not a metadata flatbuffer (no {IDENTIFIER!r})")
    root = _root(raw)
    out = {k: root.string(s) for k, s in (("name", 0), ("description", 1), ("version", 2),
                                           ("author", 4), ("license", 5),
                                           ("min_parser_version", 7))}
    graphs = root.tables(3)
    if len(graphs) != 1:
        raise ExportError(f"{METADATA_NAME}: {len(graphs)} subgraph entries (expected 1)")
    (t_in,), (t_out,) = graphs[0].tables(2), graphs[0].tables(3)
    content = t_in.table(3)
    if content is not None and content.scalar(0, nt.Uint8Flags) == _AUDIO_PROPERTIES:
        audio = content.table(1)
        out["sample_rate"] = audio.scalar(0, nt.Uint32Flags)
        out["channels"] = audio.scalar(1, nt.Uint32Flags)
    out["score_threshold"] = None
    for unit in t_out.tables(4):
        if unit.scalar(0, nt.Uint8Flags) == _SCORE_THRESHOLDING:
            out["score_threshold"] = unit.table(1).scalar(0, nt.Float32Flags)
    out["associated_files"] = [{"name": f.string(0), "type": f.scalar(2, nt.Int8Flags)}
                               for f in t_out.tables(6)]
    out["packed"] = {}
    if zipfile.is_zipfile(io.BytesIO(data)):
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            out["packed"] = {i.filename: z.read(i).decode("utf-8", "replace")
                             for i in z.infolist() if i.file_size < 1 << 20}
    return out
