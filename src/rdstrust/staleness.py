"""Warnings about stale input: a bundle that is out of date, though well-formed.

A bundle can be a valid set of RDS CAs and still be the wrong thing to deploy: a mirror or an
air-gapped copy that stopped being refreshed, whose CAs of a generation have all expired, or a
bundle older than the one rdstrust already fetched. Neither is an error (the CAs it holds are
still what they are), so each is a warning sentence for the caller to show.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from rdstrust.bundle import Bundle
from rdstrust.certs import CertInfo, Generation, utcnow


def expired_generations(
    bundle: Bundle,
    generations: Sequence[Generation],
    region: str | None = None,
    at: datetime | None = None,
) -> tuple[str, ...]:
    """One warning per generation of ``generations`` whose CAs in ``bundle`` (of ``region``,
    when given) have ALL expired at ``at`` (default: now).

    A generation the bundle does not hold at all draws no warning here: whether it is required
    is the verify step's business.
    """
    when = at or utcnow()
    warnings = []
    for generation in generations:
        certs = [c for c in bundle.select([generation], region) if c.is_ca]
        if certs and all(c.expired(when) for c in certs):
            last = max(c.not_after for c in certs)
            where = f" of {region}" if region else ""
            warnings.append(
                f"every {generation.value} CA{where} in {bundle.source} has expired (the last "
                f"on {last:%Y-%m-%d}); the bundle is stale: fetch a current one (rdstrust fetch)."
            )
    return tuple(warnings)


def newest_issue(certificates: Sequence[CertInfo]) -> datetime | None:
    """The latest notBefore among ``certificates`` (when the newest CA in them was issued)."""
    return max((c.not_before for c in certificates), default=None)


def older_than(bundle: Bundle, previous: Bundle, when: str = "") -> str | None:
    """A warning when ``bundle`` is older than ``previous`` (an earlier fetched bundle).

    "Older" means its newest CA was issued before ``previous``'s newest: AWS only ever adds
    CAs to a bundle (a new region, a new generation), so a bundle whose newest CA predates the
    newest one rdstrust has already seen comes from a mirror or a file that was not refreshed.
    ``when`` says when ``previous`` was fetched, for the message.
    """
    mine, theirs = newest_issue(bundle.certificates), newest_issue(previous.certificates)
    if mine is None or theirs is None or mine >= theirs:
        return None
    missing = len({c.sha256 for c in previous.certificates} - {c.sha256 for c in bundle})
    fetched = f" (fetched {when})" if when else ""
    return (
        f"{bundle.source} is older than the bundle rdstrust fetched before{fetched}: its newest "
        f"CA was issued {mine:%Y-%m-%d}, the earlier bundle's {theirs:%Y-%m-%d}, and it lacks "
        f"{missing} of that bundle's certificates; check the mirror or file is current."
    )
