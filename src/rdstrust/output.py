"""Turning result dataclasses into JSON: one encoder for every command's ``--json``.

Human renderings live beside each command in :mod:`rdstrust.cli`; this module only defines how
data becomes JSON, so both renderings always come from the same result object.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import datetime
from enum import Enum
from pathlib import PurePath
from typing import Any


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, enums, datetimes, paths and containers into JSON-ready values.

    Fields marked ``repr=False`` (raw bytes, parsed certificate objects) are left out: JSON carries
    what a pipeline reads, never key material or DER blobs.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_jsonable(getattr(obj, f.name)) for f in dataclasses.fields(obj) if f.repr
        }
    if isinstance(obj, Enum):
        return to_jsonable(obj.value)
    if isinstance(obj, datetime):
        return obj.isoformat().replace("+00:00", "Z")
    if isinstance(obj, PurePath):
        return str(obj)
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple, set, frozenset)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, bytes):
        return obj.hex()
    return obj


def dumps(obj: Any) -> str:
    """Stable, indented JSON for a result object (keys in field order, newline-terminated)."""
    return json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False) + "\n"
