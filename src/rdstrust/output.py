"""Turning result dataclasses into JSON: one encoder for every command's ``--json``.

Human renderings live beside each command in :mod:`rdstrust.cli`; this module only defines how
data becomes JSON, so both renderings always come from the same result object.
"""

from __future__ import annotations

import dataclasses
import json
import re
from datetime import datetime
from enum import Enum
from pathlib import PurePath
from typing import Any

#: The metadata key that decides whether a dataclass field is part of ``--json``.
JSON_KEY = "json"


def internal(**kwargs: Any) -> Any:
    """A dataclass field left out of ``--json`` (and of ``repr``): raw bytes, parsed objects.

    ``raw: bytes = internal(default=b"", compare=False)``. JSON leaves a field out only when its
    metadata says ``{"json": False}``, never because of ``repr=False`` alone.
    """
    metadata = {**kwargs.pop("metadata", {}), JSON_KEY: False}
    kwargs.setdefault("repr", False)
    return dataclasses.field(metadata=metadata, **kwargs)


def _in_json(f: dataclasses.Field[Any]) -> bool:
    choice = f.metadata.get(JSON_KEY)
    if choice is not None:
        return bool(choice)
    # Only explicit metadata leaves a field out: repr=False is about debugging output, and
    # tying JSON to it silently dropped fields that were meant to be data.
    return True


def to_jsonable(obj: Any) -> Any:
    """Convert dataclasses, enums, datetimes, paths and containers into JSON-ready values.

    Fields made with :func:`internal` (raw bytes, parsed certificate objects) are left out:
    JSON carries what a pipeline reads, never key material or DER blobs.
    """
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            f.name: to_jsonable(getattr(obj, f.name))
            for f in dataclasses.fields(obj)
            if _in_json(f)
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


# Characters json.dumps(ensure_ascii=False) leaves raw that are not plain printable ASCII.
_NOT_ASCII = re.compile(r"[^\x20-\x7e\n]")


def _escape_unprintable(match: re.Match[str]) -> str:
    char = match.group()
    if char.isprintable():
        return char  # é, 中: readable as they are
    code = ord(char)
    if code > 0xFFFF:  # JSON escapes a non-BMP character as a UTF-16 surrogate pair
        code -= 0x10000
        return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"
    return f"\\u{code:04x}"


def dumps(obj: Any) -> str:
    """Stable, indented JSON for a result object (keys in field order, newline-terminated).

    Non-ASCII text stays readable (``ensure_ascii=False``), but every character that is not
    printable (DEL, C1 controls such as U+009B, bidi overrides such as U+202E, line separators,
    lone surrogates) is written as a ``\\uXXXX`` escape, like json already does for C0 controls:
    a terminal showing the JSON never acts on one. Outside strings the text holds only ASCII
    punctuation, spaces and newlines, so the escapes can only land inside strings.
    """
    text = json.dumps(to_jsonable(obj), indent=2, ensure_ascii=False)
    return _NOT_ASCII.sub(_escape_unprintable, text) + "\n"
