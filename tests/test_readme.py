"""The README's library example runs as written (on the project's fixture bundle)."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

from rdstrust.known_cas import accepting_unknown_rds
from rdstrust.stores import read_store


def test_library_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Library")[1].split("\n## ")[0]
    (code,) = re.findall(r"```python\n(.*?)```", section, re.S)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("APP_PASS", "app-secret")
    # The example downloads nothing: it reads global-bundle.pem, here the fixture bundle.
    shutil.copyfile(FIXTURES / "bundles" / "g1.pem", tmp_path / "global-bundle.pem")
    with accepting_unknown_rds():
        exec(compile(code, "README.md", "exec"), {})
    # Each store got its own password: the app store opens with APP_PASS, the JKS with changeit.
    assert len(read_store(tmp_path / "app.p12", "app-secret").trusted()) == 9
    assert len(read_store(tmp_path / "truststore.jks", "changeit").trusted()) == 9
