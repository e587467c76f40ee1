"""Export: a run directory → a model directory of SavedModel and TFLite files.

Owns the table of variants (:mod:`.variants`: each file's name, mode, converter settings,
representative data and parity check), the converter run in a child process
(:mod:`.convert`), the report, the model card (:mod:`.card`, ``README.md`` in every
model directory) and ``micro/`` for TensorFlow Lite for Microcontrollers (:mod:`.micro`).
Reads only the run directory (through
:class:`speechgru.run_dir.RunDir`); builds every model with
:func:`speechgru.models.build_model`; writes the manifest with
:mod:`speechgru.runtime.manifest`. May import TensorFlow.
"""

from .report import format_report
from .variants import VARIANTS, Variant, export_run

__all__ = ["VARIANTS", "Variant", "export_run", "format_report"]
