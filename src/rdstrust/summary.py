"""One record for "a certificate, as a report names it", shared by every command's output.

``merge``, ``verify``, ``update`` and ``split`` all report certificates; they use this one type so
that ``--json`` spells one concept one way: ``generation`` is the RDS generation, or ``null`` for
a certificate that is not an Amazon RDS CA, in every command.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rdstrust.certs import CertInfo, Generation


@dataclass(frozen=True)
class CertSummary:
    """A certificate as reports show it: its alias in the store (or bundle) and what it is."""

    alias: str
    common_name: str | None
    subject: str
    #: The Amazon RDS CA generation; ``None`` for a certificate that is not an RDS CA.
    generation: Generation | None
    region: str | None
    sha256: str
    not_before: datetime
    not_after: datetime


def summarize(info: CertInfo, alias: str | None = None) -> CertSummary:
    """The summary of ``info``, under ``alias`` (default: the alias rdstrust proposes)."""
    return CertSummary(
        alias=alias or info.alias,
        common_name=info.common_name,
        subject=info.subject,
        generation=None if info.generation is Generation.UNKNOWN else info.generation,
        region=info.region,
        sha256=info.sha256,
        not_before=info.not_before,
        not_after=info.not_after,
    )
