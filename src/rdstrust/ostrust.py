"""The operating system's trust store: install CAs as OS anchors, and spot generated stores.

Many JDK images do not own their ``cacerts``: Debian's ca-certificates-java rebuilds
``/etc/ssl/certs/java/cacerts`` from the system store whenever ``update-ca-certificates`` runs,
and RHEL-family images extract ``/etc/pki/ca-trust/extracted/java/cacerts`` (the JDK's cacerts is
a symlink to it) with ``update-ca-trust``. A CA merged straight into such a file disappears at the
next package update. :func:`regenerated_by` recognises those files; :func:`install_anchors` does
what lasts instead: one PEM certificate per ``.crt`` file in the distribution's anchor directory,
then the distribution's tool, so libpq's system bundle and the Java cacerts both gain the CAs and
keep them.

Idempotent: a file that already holds the right bytes is not rewritten, and a file rdstrust wrote
earlier (recorded in a manifest, ``/var/lib/rdstrust/os-trust.json`` under the root) that the
bundle no longer has is removed only while it still holds exactly what rdstrust wrote.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path

from rdstrust.atomic import write_bytes_atomic
from rdstrust.bundle import Bundle
from rdstrust.certs import CertInfo
from rdstrust.errors import StoreError, UsageError
from rdstrust.files import read_input
from rdstrust.regenerated import regenerated_by as regenerated_by
from rdstrust.text import safe

#: Where rdstrust records the anchor files it wrote (relative to the root).
MANIFEST = Path("var/lib/rdstrust/os-trust.json")
#: Seconds the distribution's tool may run (it rebuilds the Java cacerts with a JVM).
TOOL_TIMEOUT = 600.0
#: The tool's output kept for the report (its last lines).
TOOL_OUTPUT_LINES = 20
_OS_RELEASE_BYTES = 64 * 1024
_ANCHOR_BYTES = 1024 * 1024
_SAFE_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,100}")


class Family(str, Enum):
    """How a distribution keeps its trust anchors."""

    #: Debian, Ubuntu: /usr/local/share/ca-certificates/ + update-ca-certificates.
    DEBIAN = "debian"
    #: Alpine: like Debian, but the files go straight into /usr/local/share/ca-certificates/.
    ALPINE = "alpine"
    #: RHEL, Fedora, CentOS, Rocky, Alma, Amazon Linux: anchors/ + update-ca-trust.
    RHEL = "rhel"

    def __str__(self) -> str:
        return self.value


_FAMILY_OF = {
    "debian": Family.DEBIAN,
    "ubuntu": Family.DEBIAN,
    "alpine": Family.ALPINE,
    "rhel": Family.RHEL,
    "fedora": Family.RHEL,
    "centos": Family.RHEL,
    "rocky": Family.RHEL,
    "almalinux": Family.RHEL,
    "amzn": Family.RHEL,
    "ol": Family.RHEL,
}
_ANCHOR_DIR = {
    # Debian's tool finds *.crt in subdirectories too (find -L); a directory of our own keeps
    # rdstrust's files apart from the administrator's.
    Family.DEBIAN: Path("usr/local/share/ca-certificates/rdstrust"),
    Family.ALPINE: Path("usr/local/share/ca-certificates"),
    Family.RHEL: Path("etc/pki/ca-trust/source/anchors"),
}
_TOOL = {
    Family.DEBIAN: ("update-ca-certificates",),
    Family.ALPINE: ("update-ca-certificates",),
    Family.RHEL: ("update-ca-trust", "extract"),
}


@dataclass(frozen=True)
class TrustLayout:
    """Where a distribution's anchors go and which tool regenerates its stores."""

    family: Family
    #: The os-release ``ID`` (escaped for display).
    distro: str
    root: Path
    anchor_dir: Path
    manifest: Path
    #: The distribution's tool, as run inside the system (root ``/``) or the image.
    tool: tuple[str, ...]


def read_os_release(root: Path = Path("/")) -> dict[str, str]:
    """``<root>/etc/os-release`` (else ``<root>/usr/lib/os-release``) as ``{KEY: value}``.

    Raises :class:`UsageError` when neither exists: the distribution cannot be told.
    """
    for rel in ("etc/os-release", "usr/lib/os-release"):
        path = root / rel
        if not os.path.lexists(path):
            continue
        data = read_input(path, limit=_OS_RELEASE_BYTES, what="os-release file", error=UsageError)
        return _parse_os_release(data.decode("utf-8", "replace"))
    raise UsageError(
        f"{safe(root)} has no etc/os-release, so its distribution cannot be told; give the "
        "root of a Debian, Ubuntu, Alpine or RHEL-family system with --root."
    )


def _parse_os_release(text: str) -> dict[str, str]:
    values: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.strip().partition("=")
        if not sep or not key.isidentifier():
            continue
        value = value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        values[key] = value
    return values


def detect_layout(root: Path = Path("/")) -> TrustLayout:
    """The anchor layout of the system at ``root``, from its os-release ``ID`` / ``ID_LIKE``.

    Raises :class:`UsageError` for a distribution rdstrust does not know.
    """
    release = read_os_release(root)
    distro = release.get("ID", "").lower()
    candidates = [distro, *release.get("ID_LIKE", "").lower().split()]
    family = next((_FAMILY_OF[c] for c in candidates if c in _FAMILY_OF), None)
    if family is None:
        raise UsageError(
            f"The distribution {safe(distro or 'unknown')!r} at {safe(root)} is not one whose "
            "trust anchors rdstrust knows (Debian, Ubuntu, Alpine, RHEL, Fedora, Amazon Linux); "
            "merge into the application's own truststore instead."
        )
    return TrustLayout(
        family=family,
        distro=safe(distro),
        root=root,
        anchor_dir=root / _ANCHOR_DIR[family],
        manifest=root / MANIFEST,
        tool=_TOOL[family],
    )


@dataclass(frozen=True)
class OsTrustOptions:
    """One ``os-trust`` run.

    ``root`` is the system to change (``/``, or an image tree being built). ``dry_run`` plans
    only; ``run_tool=False`` writes the anchors without running the tool. ``command`` replaces
    the tool's command line (for an image: ``chroot DIR update-ca-certificates``). Without
    ``command``, the tool runs only when ``root`` is ``/``: the image's own tool, with the
    image's hooks, must regenerate the image's stores, so for another root the command is
    reported instead.
    """

    root: Path = Path("/")
    dry_run: bool = False
    run_tool: bool = True
    command: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        if not Path(self.root).is_dir():
            raise UsageError(f"--root {safe(self.root)} is not a directory.")
        object.__setattr__(self, "root", Path(self.root))
        if self.command is not None and not self.command:
            raise UsageError("--update-command is empty; give the command to run.")


@dataclass(frozen=True)
class ToolRun:
    """The distribution's tool as it ran: its command, exit code and last lines of output."""

    command: tuple[str, ...]
    exit_code: int | None
    output: tuple[str, ...] = ()
    #: Why it could not run at all (not found, timed out), else ``None``.
    error: str | None = None

    @property
    def ok(self) -> bool:
        """The tool ran and succeeded."""
        return self.error is None and self.exit_code == 0


@dataclass(frozen=True)
class OsTrustResult:
    """What ``os-trust`` did (or, with ``dry_run``, would do)."""

    distro: str
    family: Family
    anchor_dir: str
    dry_run: bool
    #: Anchor files (names) added or rewritten, left as they were, and removed.
    written: tuple[str, ...]
    unchanged: tuple[str, ...]
    removed: tuple[str, ...]
    #: Files rdstrust wrote once that someone changed since: left in place.
    kept: tuple[str, ...]
    #: The tool's run, or ``None`` when it was not run.
    tool: ToolRun | None
    #: The command still to run (in the image, or after ``--no-run``), else ``None``.
    run_next: tuple[str, ...] | None
    notes: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """Whether any anchor file was (or would be) written or removed."""
        return bool(self.written or self.removed)


@dataclass(frozen=True)
class _Plan:
    write: dict[str, bytes] = field(default_factory=dict)
    unchanged: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    kept: list[str] = field(default_factory=list)
    #: The manifest after the run: file name -> SHA-256 of the bytes rdstrust wrote.
    manifest: dict[str, str] = field(default_factory=dict)


def anchor_name(info: CertInfo) -> str:
    """The ``.crt`` file name of a CA: ``rdstrust-<alias>.crt``.

    An alias that is not a plain slug (a foreign CA's, taken with ``--allow-foreign``) is
    replaced by the fingerprint, so no file name carries text from a certificate.
    """
    alias = info.alias if _SAFE_NAME.fullmatch(info.alias) else info.sha256[:16]
    return f"rdstrust-{alias}.crt"


def install_anchors(bundle: Bundle, options: OsTrustOptions | None = None) -> OsTrustResult:
    """Write each CA of ``bundle`` as an anchor file and run the distribution's tool.

    Raises :class:`UsageError` (unknown distribution, a path leaving ``--root``) and
    :class:`StoreError` (an anchor file of someone else's in the way, a write failure) before
    anything is written. A tool that fails or is missing is reported in ``tool`` (its ``ok`` is
    false); the CLI maps it to exit 7.
    """
    opts = options or OsTrustOptions()
    layout = detect_layout(opts.root)
    _check_inside(layout)
    plan = _plan(layout, [c for c in bundle.certificates if c.is_ca])
    notes = [f"{name}: changed since rdstrust wrote it, left in place" for name in plan.kept]
    if not opts.dry_run:
        _apply(layout, plan)
    command = opts.command or layout.tool
    at_root = os.path.realpath(layout.root) == "/"
    runs = opts.run_tool and not opts.dry_run and (opts.command is not None or at_root)
    tool = _run(command) if runs else None
    run_next: tuple[str, ...] | None = None
    if not runs:
        run_next = command if at_root or opts.command else ("chroot", str(layout.root), *command)
    return OsTrustResult(
        distro=layout.distro,
        family=layout.family,
        anchor_dir=str(layout.anchor_dir),
        dry_run=opts.dry_run,
        written=tuple(plan.write),
        unchanged=tuple(plan.unchanged),
        removed=tuple(plan.remove),
        kept=tuple(plan.kept),
        tool=tool,
        run_next=run_next,
        notes=tuple(notes),
    )


def _check_inside(layout: TrustLayout) -> None:
    """Refuse an image tree whose symlinks lead the anchor directory out of the root.

    The tree is another party's: ``usr/local -> /usr/local`` would make rdstrust write into the
    build host's own trust store.
    """
    for path in (layout.anchor_dir, layout.manifest):
        _check_path_inside(layout, path)


def _check_path_inside(layout: TrustLayout, path: Path) -> None:
    root = os.path.realpath(layout.root)
    real = os.path.realpath(path)
    if root != "/" and os.path.commonpath([root, real]) != root:
        raise UsageError(
            f"{safe(path)} leads outside --root {safe(layout.root)} (through a symlink to "
            f"{safe(real)}); refusing to write there, fix the image tree."
        )


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_current(path: Path) -> bytes | None:
    if not os.path.lexists(path):
        return None
    return read_input(path, limit=_ANCHOR_BYTES, what="Anchor file", error=StoreError)


def _read_manifest(path: Path) -> dict[str, str]:
    """The manifest's ``{file: sha256}``; a damaged one counts as empty (nothing is removed)."""
    if not os.path.lexists(path):
        return {}
    data = read_input(path, limit=_ANCHOR_BYTES, what="os-trust manifest", error=StoreError)
    try:
        files = json.loads(data).get("files", {})
    except (ValueError, AttributeError):
        return {}
    if not isinstance(files, dict):
        return {}
    return {
        k: v
        for k, v in files.items()
        if isinstance(k, str) and _SAFE_NAME.fullmatch(k) and isinstance(v, str)
    }


def _plan(layout: TrustLayout, cas: Sequence[CertInfo]) -> _Plan:
    before = _read_manifest(layout.manifest)
    plan = _Plan()
    for info in cas:
        name, data = anchor_name(info), info.pem()
        path = layout.anchor_dir / name
        _check_path_inside(layout, path)  # an anchor file may itself be a planted symlink
        current = _read_current(path)
        plan.manifest[name] = _sha(data)
        if current == data:
            plan.unchanged.append(name)
        elif current is None or before.get(name) == _sha(current):
            plan.write[name] = data
        else:
            raise StoreError(
                f"{safe(path)} exists with other content and rdstrust did not write it; remove "
                "or rename it, then run again.",
                path=str(path),
            )
    for name, digest in before.items():
        if name in plan.manifest:
            continue
        current = _read_current(layout.anchor_dir / name)
        if current is None:
            continue
        if _sha(current) == digest:
            plan.remove.append(name)
        else:
            plan.kept.append(name)
    return plan


def _apply(layout: TrustLayout, plan: _Plan) -> None:
    _make_dir(layout.anchor_dir)
    for name, data in plan.write.items():
        path = write_bytes_atomic(layout.anchor_dir / name, data, mode=0o644)
        path.chmod(0o644)  # anchors are public; the umask must not hide them from readers
    for name in plan.remove:
        try:
            (layout.anchor_dir / name).unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(
                f"Cannot remove {safe(layout.anchor_dir / name)}: {exc.strerror or exc}.",
                path=str(layout.anchor_dir / name),
            ) from None
    text = json.dumps({"version": 1, "files": plan.manifest}, indent=2, sort_keys=True) + "\n"
    if _read_current(layout.manifest) != text.encode("ascii"):
        _make_dir(layout.manifest.parent)
        write_bytes_atomic(layout.manifest, text.encode("ascii"), mode=0o644)


def _make_dir(path: Path) -> None:
    missing = []
    parent = path
    while not parent.exists():
        missing.append(parent)
        parent = parent.parent
    try:
        for directory in reversed(missing):
            directory.mkdir()
            directory.chmod(0o755)  # the tool's readers need to enter it
    except OSError as exc:
        raise StoreError(
            f"Cannot create {safe(path)}: {exc.strerror or exc}.", path=str(path)
        ) from None


def _run(command: tuple[str, ...]) -> ToolRun:
    shown = tuple(safe(part) for part in command)
    try:
        done = subprocess.run(  # the distribution's tool or the user's command
            command,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=TOOL_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        return ToolRun(shown, None, error=f"{shown[0]} was not found")
    except subprocess.TimeoutExpired:
        return ToolRun(shown, None, error=f"{shown[0]} did not finish in {TOOL_TIMEOUT:g} s")
    except OSError as exc:
        return ToolRun(shown, None, error=f"{shown[0]} could not run: {exc.strerror or exc}")
    text = (done.stdout + done.stderr).decode("utf-8", "replace")
    lines = tuple(safe(line) for line in text.splitlines()[-TOOL_OUTPUT_LINES:])
    return ToolRun(shown, done.returncode, lines)


__all__ = [
    "MANIFEST",
    "Family",
    "OsTrustOptions",
    "OsTrustResult",
    "ToolRun",
    "TrustLayout",
    "anchor_name",
    "detect_layout",
    "install_anchors",
    "read_os_release",
    "regenerated_by",
]
