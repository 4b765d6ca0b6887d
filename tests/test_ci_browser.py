"""`.ci/install-browser` (called by `.ci/run`) says what really happened to the browser.

apt-get and id are stubs on PATH; `CI_BROWSER` names a browser that does not exist
until the stub apt-get "installs" it.
"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / ".ci" / "install-browser"
BROWSER = "fake-browser-h5"


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + body)
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


def run(
    tmp_path: Path, *, apt: str = "", uid: int = 0, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    _stub(bin_dir / "id", f"echo {uid}\n")
    if apt:
        _stub(bin_dir / "apt-get", apt)
    variables = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "CI_BROWSER": BROWSER}
    variables.pop("CI_NO_BROWSER", None)
    done = subprocess.run(
        [str(SCRIPT)],
        env={**variables, **(env or {})},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done


def installs(status: int, *, creates: bool) -> str:
    """An apt-get stub: `install` prints a line, maybe creates the browser, exits `status`."""
    target = f'"$(dirname "$0")/{BROWSER}"'
    create = f'printf "#!/bin/sh\\n" > {target}; chmod +x {target}'
    return (
        'if [ "$1" = update ]; then echo "Hit:1 http://deb.debian.org bookworm"; exit 0; fi\n'
        'echo "Setting up thing (1.0) ..."\necho "E: a trigger failed"\n'
        + (create + "\n" if creates else "")
        + f"exit {status}\n"
    )


def test_a_browser_that_is_already_there_is_named(tmp_path: Path) -> None:
    done = run(tmp_path, apt="exit 99\n", env={"CI_BROWSER": "bash"})
    assert done.stdout.startswith("    bash is already installed (/")


def test_a_clean_install_says_installed(tmp_path: Path) -> None:
    done = run(tmp_path, apt=installs(0, creates=True))
    assert f"    {BROWSER} installed ({tmp_path}/bin/{BROWSER})\n" in done.stdout
    assert "could not" not in done.stdout


def test_a_browser_installed_despite_an_apt_error_is_reported_as_installed(
    tmp_path: Path,
) -> None:
    """What `.ci/run` once got wrong: it said "could not be installed" and the tests ran."""
    done = run(tmp_path, apt=installs(100, creates=True))
    installed = f"{BROWSER} installed ({tmp_path}/bin/{BROWSER}), although apt-get install"
    assert f"{installed} exited 100\n" in done.stdout
    assert "could not" not in done.stdout
    assert "E: a trigger failed" in done.stdout


def test_a_failed_install_says_why_with_the_end_of_apts_output(tmp_path: Path) -> None:
    done = run(tmp_path, apt=installs(100, creates=False))
    assert (
        f"{BROWSER} could not be installed (apt-get update succeeded, apt-get install exited"
        " 100); the browser tests will skip"
    ) in done.stdout
    assert "      E: a trigger failed" in done.stdout


@pytest.mark.parametrize(
    ("uid", "env", "expected"),
    [
        (0, {"CI_NO_BROWSER": "1"}, "CI_NO_BROWSER is set"),
        (1000, {}, "installing it needs root and apt-get"),
    ],
)
def test_no_install_is_attempted_when_skipped_or_not_root(
    tmp_path: Path, uid: int, env: dict[str, str], expected: str
) -> None:
    done = run(tmp_path, apt='echo "apt ran" >&2; exit 1\n', uid=uid, env=env)
    assert expected in done.stdout
    assert "apt ran" not in done.stderr
