"""Datasets: what a ``dataset=`` value names (spec.py), prepared token files and their meta.json
(meta.py), cached fingerprints (cache.py), and the prepare command that makes them (prepare.py,
reading corpora with sources.py and tokenising with tokenizer.py).

This layer reads no torch and no model: the config checks at definition time use it (vocab_size,
epochs), and so does the training data loader (scaling_laws/training/data.py).
"""
from __future__ import annotations

from scaling_laws.config import ConfigError


class DataError(ConfigError):
    """Data that cannot be prepared or trained on; the message names the file and says what to do.

    A ConfigError, so that at definition time (gen_experim, --list) it is reported like any bad field.
    """


class DatasetMissing(DataError):
    """A study's dataset that is not prepared yet: the study waits for data (listed as such), it is not broken."""
