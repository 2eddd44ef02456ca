"""Batch files: loading and validating batches of jobs before anything is sent.

A batch file is YAML, JSON, JSONL or CSV (see :mod:`reelforge.batch.loaders` for the
shapes). :func:`load_batch` checks every field of every job against the model's capabilities
and raises one :class:`BatchFileError` listing every problem, each with its file, line or
row, field and allowed values. :func:`job_id` gives each job the stable id the durable
engine uses.

::

    batch: spring-launch            # optional; default: the file's stem
    defaults: {provider: openai, model: sora-2, seconds: 4, size: 1280x720}
    jobs:
      - prompt: "A red kite over desert dunes at dawn"
        key: kite-01                # optional; default: the 1-based position, "0001"
        seconds: 8
        labels: {brand: acme}
"""

from reelforge.batch.errors import BatchFileError, BatchIssue
from reelforge.batch.ids import SAFE_NAME_PATTERN, job_id
from reelforge.batch.load import DEFAULT_MAX_BYTES, FORMATS, load_batch, parse_batch
from reelforge.batch.loaders import EXTENSIONS
from reelforge.batch.model import Batch, BatchJob

__all__ = [
    "DEFAULT_MAX_BYTES",
    "EXTENSIONS",
    "FORMATS",
    "SAFE_NAME_PATTERN",
    "Batch",
    "BatchFileError",
    "BatchIssue",
    "BatchJob",
    "job_id",
    "load_batch",
    "parse_batch",
]
