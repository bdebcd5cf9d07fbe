"""Trust stores that OS tooling regenerates: a CA merged into one is gone at the next update.

Debian's ca-certificates-java rebuilds the JDK's ``cacerts`` whenever ``update-ca-certificates``
runs, and RHEL's ``update-ca-trust`` extracts its stores anew; merging into them works until the
next package update. ``merge`` and ``update`` say so (with what to do instead, ``rdstrust
os-trust``) through :func:`regenerated_by`. A module of its own so that every merge can ask
without loading :mod:`rdstrust.ostrust`.
"""

from __future__ import annotations

import os
from pathlib import Path

from rdstrust.text import safe

_REGENERATED: dict[str, str] = {
    "/etc/ssl/certs/java/cacerts": (
        "is rebuilt by ca-certificates-java from the system store whenever "
        "update-ca-certificates runs"
    ),
    "/etc/ssl/certs/ca-certificates.crt": "is rebuilt by update-ca-certificates",
    "/etc/pki/ca-trust/extracted/java/cacerts": "is extracted anew by update-ca-trust",
    "/etc/pki/ca-trust/extracted/pem/tls-ca-bundle.pem": "is extracted anew by update-ca-trust",
    "/etc/pki/ca-trust/extracted/openssl/ca-bundle.trust.crt": (
        "is extracted anew by update-ca-trust"
    ),
}


def regenerated_by(path: str | Path, root: str | Path = "/") -> str | None:
    """One sentence when ``path`` (or the file its symlinks lead to) is a store the OS
    regenerates, saying what to do instead; ``None`` for a store the application owns.

    ``root`` is the system the path belongs to (an image tree): its prefix is ignored when the
    path is matched against the distributions' generated files.
    """
    given = os.path.normpath(Path(path).absolute())
    base = os.path.realpath(root)
    for candidate in (given, os.path.realpath(given)):
        inner = candidate
        if base != "/" and os.path.commonpath([base, candidate]) == base:
            inner = "/" + os.path.relpath(candidate, base)
        what = _REGENERATED.get(inner)
        if what is not None:
            via = "" if candidate == given else f" (it is {safe(inner)})"
            return (
                f"{safe(given)}{via} {what}, so a CA merged into it disappears at the next "
                "package update: install the CAs as OS trust anchors with 'rdstrust os-trust' "
                "(or use a truststore the application owns)."
            )
    return None
