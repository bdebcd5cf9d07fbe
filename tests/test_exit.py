"""The console script's exit (``rdstrust.cli.run``): fast, and otherwise what Python's would be.

``run`` skips the interpreter's module-by-module teardown (``os._exit``) after running atexit
handlers and flushing stdout and stderr. These tests run it in fresh interpreters and check what
a caller can see: exit codes, complete output through a pipe, atexit handlers, and the fallback to
an ordinary exit while another thread still runs.
"""

from __future__ import annotations

import gc
import json
import subprocess
import sys
from pathlib import Path

import pytest
from support import FIXTURES
from typer.testing import CliRunner

import rdstrust
from rdstrust.cli import app

G1 = FIXTURES / "bundles" / "g1.pem"

# A fresh interpreter running rdstrust's console-script entry point with the given prelude.
ENTRY = """
import sys
{prelude}
sys.argv = ["rdstrust", *sys.argv[1:]]
from rdstrust.cli import run
run()
"""


def run_main(*args: str, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """Run the console-script entry point with ``args`` in a fresh interpreter."""
    return subprocess.run(
        [sys.executable, "-c", ENTRY.format(prelude=prelude), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_exit_codes_and_messages_survive() -> None:
    done = run_main("split", "/nonexistent/bundle.pem")
    assert done.returncode == 3
    assert done.stdout == ""
    assert done.stderr.startswith("rdstrust: error: ")
    assert run_main("--version").returncode == 0
    assert run_main("no-such-command").returncode == 2


def test_large_output_through_a_pipe_is_complete(tmp_path: Path) -> None:
    # stdout is a pipe here, so Python buffers it: everything must still arrive.
    # The same command through the in-process app gives the reference output.
    args = ["inspect", str(G1), "--json"]
    reference = CliRunner().invoke(app, args)
    assert reference.exit_code == 0, reference.output
    done = run_main(*args)
    assert done.returncode == 0, done.stderr
    assert done.stdout == reference.stdout
    assert len(json.loads(done.stdout)["entries"]) > 1


@pytest.mark.parametrize("closed", ["stdout", "stderr"])
def test_a_closed_stdout_or_stderr_keeps_the_exit_code(closed: str) -> None:
    # Started with descriptor 1 or 2 closed, Python sets sys.stdout or sys.stderr to None.
    fd = {"stdout": 1, "stderr": 2}[closed]
    for args, code in ((["--version"], 0), (["split", "/nonexistent/bundle.pem"], 3)):
        done = subprocess.run(
            [
                "bash",
                "-c",
                f'exec "$@" {fd}>&-',
                "bash",
                sys.executable,
                "-c",
                ENTRY.format(prelude=""),
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert done.returncode == code, (args, done.stderr)


def test_atexit_handlers_run_once() -> None:
    prelude = "import atexit\natexit.register(lambda: print('atexit ran', flush=True))"
    done = run_main("split", "/nonexistent/bundle.pem", prelude=prelude)
    assert done.returncode == 3
    assert done.stdout == "atexit ran\n"


def test_module_teardown_is_skipped() -> None:
    # The point of the fast exit: an object whose finalizer runs only at module teardown never
    # finalizes. (If this starts failing, the exit went back to the slow path.)
    prelude = (
        "class Late:\n"
        "    def __del__(self):\n"
        "        print('teardown', flush=True)\n"
        "import types\n"
        "holder = types.ModuleType('holder')\n"
        "holder.late = Late()\n"
        "sys.modules['holder'] = holder\n"
        "del holder\n"
    )
    done = run_main("--version", prelude=prelude)
    assert done.returncode == 0
    assert done.stdout == f"rdstrust {rdstrust.__version__}\n"
    assert "teardown" not in done.stdout


def test_a_running_thread_is_waited_for(tmp_path: Path) -> None:
    # A non-daemon thread still working when the command ends gets the ordinary exit, which
    # waits for it: its file is written. os._exit would have killed it.
    mark = tmp_path / "thread-finished"
    prelude = (
        "import threading, time, pathlib\n"
        "def late():\n"
        "    time.sleep(0.5)\n"
        f"    pathlib.Path({str(mark)!r}).write_text('done')\n"
        "threading.Thread(target=late).start()\n"
    )
    done = run_main("split", "/nonexistent/bundle.pem", prelude=prelude)
    assert done.returncode == 3
    assert mark.read_text() == "done"


def test_main_embedded_in_a_program_ends_with_system_exit(tmp_path: Path) -> None:
    # A program that calls main() itself keeps control: its handlers run, its files are written.
    log = tmp_path / "caller.log"
    code = (
        "import sys\n"
        f"log = open({str(log)!r}, 'w')\n"
        "log.write('started\\n')\n"
        "sys.argv = ['rdstrust', 'split', '/nonexistent/bundle.pem']\n"
        "from rdstrust.cli import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit as e:\n"
        "    print('caller saw exit', e.code)\n"
        "finally:\n"
        "    print('caller cleanup ran')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "caller saw exit 3\ncaller cleanup ran\n"
    assert log.read_text() == "started\n"


def test_a_profiler_still_gets_its_report(tmp_path: Path) -> None:
    # cProfile writes its file after the program ends: under a profiler (or a debugger, or
    # python -i) the exit is the ordinary one.
    out = tmp_path / "profile.out"
    done = subprocess.run(
        [sys.executable, "-m", "cProfile", "-o", str(out), "-m", "rdstrust", "--version"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert out.stat().st_size > 0


def test_the_cycle_collector_is_paused_for_start_up_only() -> None:
    # Off while Typer, cryptography and the command's module load (they make no garbage), back
    # on for the command's own work, with what start-up made frozen out of its walks.
    prelude = (
        "import atexit, gc\n"
        "during = []\n"
        "def collected(phase, info):\n"
        "    if phase == 'start' and 'typer' in sys.modules:\n"
        "        during.append('rdstrust.cli.inspect' in sys.modules)\n"
        "gc.callbacks.append(collected)\n"
        "def report():\n"
        "    print(during.count(False), gc.isenabled(), gc.get_freeze_count() > 0)\n"
        "atexit.register(report)\n"
    )
    done = run_main("inspect", str(G1), prelude=prelude)
    # No collection between Typer's import and the command's; the collector on at the end.
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "0 True True"


def test_the_in_process_app_leaves_the_collector_alone() -> None:
    assert gc.isenabled()
    frozen = gc.get_freeze_count()
    result = CliRunner().invoke(app, ["inspect", str(G1)])
    assert result.exit_code == 0, result.output
    assert gc.isenabled() and gc.get_freeze_count() == frozen
