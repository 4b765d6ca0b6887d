"""The CI pieces for a Node repository (docs/ci.md): the composite action (`action.yml`), the
example workflows (`examples/ci/*.yml`) and the README's install line.

The YAML is parsed; every `realtime-conformance` command in a `run:` step goes through the
real argument parser; the workflow's gate step and the action's scripts run here for real
(the action's install step with a stand-in `python3`, since it would download the
package's dependencies), against the Node example client where Node is installed.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import stat
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.processes import user_env
from tests.test_docs_commands import BIN, TOOLS, DocCommand, _parse, _simple_commands

ROOT = Path(__file__).resolve().parents[1]
ACTION_FILE = ROOT / "action.yml"
ACTION = yaml.safe_load(ACTION_FILE.read_text(encoding="utf-8"))
WORKFLOW_FILES = sorted((ROOT / "examples" / "ci").glob("*.yml"))
CI_DOC = ROOT / "docs" / "ci.md"
NODE_DIR = ROOT / "examples" / "node"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
_EXPRESSION = re.compile(r"\$\{\{\s*([^}]*?)\s*\}\}")


def _load(path: Path) -> dict[str, Any]:
    loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(loaded, dict), f"{path.name} is not a YAML mapping"
    return loaded


WORKFLOWS = {path.name: _load(path) for path in WORKFLOW_FILES}


def _steps(workflow: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for job in workflow["jobs"].values() for step in job["steps"]]


def _uses(step: dict[str, Any]) -> str:
    return str(step.get("uses", "")).split("@")[0]


def _node_skip_reason() -> str | None:
    if shutil.which("node") is None:
        return "node is not installed (Node 18 or later runs examples/node)"
    if not (NODE_DIR / "node_modules" / "ws" / "package.json").is_file():
        return "examples/node has no ws package: npm ci --prefix examples/node"
    return None


def _node_client() -> str:
    reason = _node_skip_reason()
    if reason is not None:
        pytest.skip(reason)
    return f"node {shlex.quote(str(NODE_DIR / 'notes.mjs'))}"


# --------------------------------------------------------------------------- the workflows


def test_there_are_two_example_workflows() -> None:
    assert set(WORKFLOWS) == {"github-node.yml", "github-node-action.yml"}


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_the_workflow_is_a_node_job_on_pushes_and_pull_requests(name: str) -> None:
    workflow = WORKFLOWS[name]
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert set(triggers) == {"push", "pull_request"}
    [job] = workflow["jobs"].values()
    assert job["runs-on"] == "ubuntu-latest"
    assert job["timeout-minutes"] <= 30
    for step in job["steps"]:
        assert ("uses" in step) != ("run" in step), f"{name}: {step}"
    uses = [_uses(step) for step in job["steps"]]
    assert uses[:2] == ["actions/checkout", "actions/setup-node"]
    assert [s["run"] for s in job["steps"][2:4]] == ["npm ci", "npm run build --if-present"]


@pytest.mark.parametrize("name", sorted(WORKFLOWS))
def test_every_command_of_the_run_steps_parses(name: str) -> None:
    found = 0
    for step in _steps(WORKFLOWS[name]):
        for number, line in enumerate(str(step.get("run", "")).splitlines(), 1):
            command = DocCommand(f"examples/ci/{name}", number, line, block=True)
            for argv in _simple_commands(line):
                if argv[0] in TOOLS:
                    found += 1
                    problem = _parse(command, argv)
                    assert problem is None, f"{name}: `{line}` -> {problem}"
    assert found == (1 if name == "github-node.yml" else 0)


def _step_by_step() -> list[dict[str, Any]]:
    return _steps(WORKFLOWS["github-node.yml"])


def _gate_line() -> str:
    [line] = [s["run"] for s in _step_by_step() if "realtime-conformance run" in s.get("run", "")]
    return str(line)


def test_the_workflow_installs_the_checkout_it_checked_out_with_a_python_that_fits() -> None:
    steps = _step_by_step()
    uses = [_uses(s) for s in steps]
    [checkout] = [s for s in steps if s.get("with", {}).get("repository")]
    assert checkout["with"]["repository"] == "OWNER/realtime-conformance"
    path = checkout["with"]["path"]
    [python] = [s for s in steps if _uses(s) == "actions/setup-python"]
    version = python["with"]["python-version"]
    assert isinstance(version, str), "quote the version: YAML reads 3.10 as 3.1"
    wanted = PYPROJECT["project"]["requires-python"].removeprefix(">=")
    assert tuple(map(int, version.split("."))) >= tuple(map(int, wanted.split(".")))
    [install] = [s for s in steps if "pip install" in s.get("run", "")]
    assert install["run"] == f"python3 -m pip install ./{path}"
    index = steps.index
    assert index(checkout) < index(install)
    assert uses.index("actions/setup-python") < index(install) < index(steps[-1])


def test_the_upload_keeps_the_junit_file_and_the_report_even_when_the_gate_failed() -> None:
    from conformance.cli import build_parser

    argv = shlex.split(_gate_line())
    junit = argv[argv.index("--junit") + 1]
    out = build_parser().parse_args(argv[1:]).out  # the runner's default report folder
    upload = _step_by_step()[-1]
    assert _uses(upload) == "actions/upload-artifact"
    assert upload["if"] == "always()"
    kept = upload["with"]["path"].split()
    assert f"{Path(out)}/" in kept
    assert junit in kept


@pytest.mark.integration
def test_the_workflows_gate_step_passes_the_node_example(tmp_path: Path) -> None:
    """The gate line, with the Node example as `node dist/hud.js`, on two cases."""
    line = _gate_line().replace("node dist/hud.js", _node_client())
    done = subprocess.run(
        ["/bin/sh", "-c", f"{line} --cases default,tolerant"],
        cwd=tmp_path,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    upload = _step_by_step()[-1]
    for kept in upload["with"]["path"].split():
        assert (tmp_path / kept).exists(), f"the upload step would find no {kept}"
    junit = (tmp_path / "realtime-conformance-junit.xml").read_text(encoding="utf-8")
    assert 'tests="2"' in junit
    assert 'failures="0"' in junit


# --------------------------------------------------------------------------- the action


def _documented_inputs() -> list[str]:
    text = CI_DOC.read_text(encoding="utf-8").split("## GitHub Actions, one step")[1]
    text = text.split("\n## ")[0]
    return re.findall(r"^\| `([\w-]+)` \|", text, flags=re.MULTILINE)


def test_the_action_is_composite_and_its_inputs_are_documented() -> None:
    assert ACTION["runs"]["using"] == "composite"
    inputs = ACTION["inputs"]
    assert _documented_inputs() == list(inputs)
    assert inputs["client"]["required"] is True
    assert all("default" in spec for name, spec in inputs.items() if name != "client")
    assert all(isinstance(spec.get("default", ""), str) for spec in inputs.values())
    for name, spec in ACTION["outputs"].items():
        assert spec["value"] == "${{ steps.gate.outputs.%s }}" % name  # noqa: UP031


def test_the_action_scripts_take_inputs_from_the_environment_only() -> None:
    """No `${{ … }}` in a script: an input with quotes or `$` cannot turn into code."""
    for step in ACTION["runs"]["steps"]:
        if "run" in step:
            assert step["shell"] == "bash"
            assert "${{" not in step["run"], step["name"]


@pytest.mark.parametrize(
    ("where", "text"),
    [
        ("examples/ci/github-node-action.yml", (ROOT / "examples/ci/github-node-action.yml")),
        ("docs/ci.md", CI_DOC),
    ],
)
def test_the_shown_uses_of_the_action_give_known_inputs(where: str, text: Path) -> None:
    source = text.read_text(encoding="utf-8")
    blocks = re.findall(r"```yaml\n(.*?)```", source, flags=re.DOTALL) or [source]
    found = 0
    for block in blocks:
        loaded = yaml.safe_load(block)
        steps = loaded if isinstance(loaded, list) else _steps(loaded)
        for step in steps:
            if _uses(step) == "OWNER/realtime-conformance":
                found += 1
                given = set(step.get("with", {}))
                assert given <= set(ACTION["inputs"]), f"{where}: unknown {given}"
                assert "client" in given
    assert found == 1, where


def _resolve(value: str, inputs: dict[str, str]) -> str:
    """A step's `${{ … }}` expression, as GitHub evaluates the few the action uses."""

    def one(match: re.Match[str]) -> str:
        expression = match.group(1)
        if expression.startswith("inputs."):
            return inputs[expression.removeprefix("inputs.")]
        assert expression == "github.action_path", f"unexpected expression {expression}"
        return str(ROOT)

    return _EXPRESSION.sub(one, value)


def _inputs(**given: str) -> dict[str, str]:
    defaults = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    return {**defaults, **{name.replace("_", "-"): value for name, value in given.items()}}


def _action_step(name_starts: str) -> dict[str, Any]:
    [step] = [s for s in ACTION["runs"]["steps"] if s["name"].startswith(name_starts)]
    return step


def _run_step(
    step: dict[str, Any], inputs: dict[str, str], workspace: Path, **env: str
) -> subprocess.CompletedProcess[str]:
    """A `run:` step as the runner does it: `bash -e {script}` in its working directory."""
    variables = {k: _resolve(str(v), inputs) for k, v in step.get("env", {}).items()}
    cwd = workspace / _resolve(step.get("working-directory", "."), inputs)
    cwd.mkdir(parents=True, exist_ok=True)
    env.setdefault("GITHUB_OUTPUT", str(workspace / "github_output"))  # the runner sets it
    return subprocess.run(
        ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"]],
        cwd=cwd,
        env=user_env(**variables, **env),
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def _stub(path: Path, body: str) -> None:
    path.write_text("#!/usr/bin/env bash\n" + body, encoding="utf-8")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)


@pytest.mark.parametrize(("extras", "spec"), [(None, f"{ROOT}[tls]"), ("", str(ROOT))])
def test_the_action_installs_its_own_checkout_into_a_virtual_environment(
    extras: str | None, spec: str, tmp_path: Path
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    _stub(
        bin_dir / "python3",
        'echo "python3 $*" >> "$CALLS"\n'
        'if [ "$1 $2" = "-m venv" ]; then\n'
        '  mkdir -p "$3/bin"\n'
        '  echo "#!/usr/bin/env bash" > "$3/bin/python"\n'
        '  echo \'echo "venv-python $*" >> "$CALLS"\' >> "$3/bin/python"\n'
        '  chmod +x "$3/bin/python"\n'
        "fi\n",
    )
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    github_path = tmp_path / "github_path"
    done = _run_step(
        _action_step("Install"),
        _inputs(client="node dist/hud.js", **({} if extras is None else {"extras": extras})),
        tmp_path / "workspace",
        PATH=f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        CALLS=str(log),
        RUNNER_TEMP=str(runner_temp),
        GITHUB_PATH=str(github_path),
    )
    assert done.returncode == 0, done.stderr
    venv = runner_temp / "realtime-conformance-venv"
    assert log.read_text(encoding="utf-8").splitlines() == [
        f"python3 -m venv {venv}",
        f"venv-python -m pip install --quiet --disable-pip-version-check {spec}",
    ]
    assert github_path.read_text(encoding="utf-8") == f"{venv}/bin\n"
    [setup] = [s for s in ACTION["runs"]["steps"] if _uses(s) == "actions/setup-python"]
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    steps = ACTION["runs"]["steps"]
    assert steps.index(setup) < steps.index(_action_step("Install"))


def _uploaded(inputs: dict[str, str], workspace: Path) -> list[Path]:
    upload = _action_step("Upload")
    assert upload["if"] == "always() && inputs.upload == 'true'"
    return [workspace / _resolve(p, inputs) for p in upload["with"]["path"].splitlines()]


def test_the_action_gate_runs_a_client_command_with_quotes_and_dollars_as_written(
    tmp_path: Path,
) -> None:
    inputs = _inputs(
        client='realtime-notes "$REALTIME_SCREENSHOT" --timeout 5',
        cases="default",
        working_directory="app",
        args="--checks 'default' --pass-env 'HUD_*'",
    )
    done = _run_step(_action_step("Run"), inputs, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "1 case: 1 OK" in done.stdout or "1 cases: 1 OK" in done.stdout, done.stdout[-1000:]
    for path in _uploaded(inputs, tmp_path):
        assert path.exists(), f"the upload step would find no {path}"


@pytest.mark.integration
def test_the_action_gate_passes_the_node_example(tmp_path: Path) -> None:
    inputs = _inputs(client=_node_client(), cases="default,tolerant")
    done = _run_step(_action_step("Run"), inputs, tmp_path)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    junit, report = _uploaded(inputs, tmp_path)[::-1]
    assert 'failures="0"' in junit.read_text(encoding="utf-8")
    assert (report / "report.html").is_file()


@pytest.mark.integration
def test_the_action_gate_with_tls_passes_the_official_sdk_example(tmp_path: Path) -> None:
    """`args: --tls`: the SDK dials wss:// with only baseURL and NODE_EXTRA_CA_CERTS."""
    _node_client()
    if not (NODE_DIR / "node_modules" / "openai" / "package.json").is_file():
        pytest.skip("examples/node has no openai package: npm ci --prefix examples/node")
    pytest.importorskip("cryptography", reason="--tls needs the tls extra (cryptography)")
    client = f"node {shlex.quote(str(NODE_DIR / 'sdk-notes.mjs'))}"
    inputs = _inputs(client=client, cases="default,tolerant", args="--tls")
    done = _run_step(_action_step("Run"), inputs, tmp_path, XDG_CACHE_HOME=str(tmp_path))
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-2000:]
    assert "2 case(s) over TLS against: node" in done.stderr  # `args` reached the runner
    assert "2 cases: 2 OK" in done.stdout


def test_the_action_gate_fails_the_step_when_a_case_failed(tmp_path: Path) -> None:
    broken = f"{shlex.quote(sys.executable)} {shlex.quote(str(ROOT / 'examples/broken_client.py'))}"
    inputs = _inputs(client=broken, cases="default")
    outputs = tmp_path / "github_output"
    done = _run_step(_action_step("Run"), inputs, tmp_path, GITHUB_OUTPUT=str(outputs))
    assert done.returncode == 1, done.stdout[-3000:] + done.stderr[-2000:]
    assert outputs.read_text(encoding="utf-8").splitlines() == [
        "junit=realtime-conformance-junit.xml",
        "report=realtime-conformance-report",
    ]
    assert "does_not_send_beta_header" in done.stdout
    junit = _uploaded(inputs, tmp_path)[1]
    assert 'failures="1"' in junit.read_text(encoding="utf-8")  # the evidence is uploaded


def test_the_action_says_what_to_do_without_a_client(tmp_path: Path) -> None:
    done = _run_step(_action_step("Run"), _inputs(client=""), tmp_path)
    assert done.returncode == 2
    assert "::error::realtime-conformance: the 'client' input is empty" in done.stdout


# --------------------------------------------------------------------------- the install line

_README_INSTALL = (
    "python3 -m venv .venv && .venv/bin/pip install -q -e . && .venv/bin/realtime-conformance demo"
)
_NETWORK_TROUBLE = (
    "NewConnectionError",
    "Failed to establish a new connection",
    "Temporary failure in name resolution",
    "Network is unreachable",
    "ConnectTimeout",
    "ProxyError",
)


def _python_outside_the_venv() -> tuple[str, str] | None:
    """A `python3` on PATH that is not this test run's virtual environment, and that PATH."""
    parts = [p for p in os.environ.get("PATH", "").split(os.pathsep) if Path(p) != BIN]
    path = os.pathsep.join(parts)
    found = shutil.which("python3", path=path)
    return (found, path) if found else None


@pytest.mark.integration
def test_the_readme_install_line_works_from_a_fresh_copy_with_only_python(tmp_path: Path) -> None:
    """README's first command, as written, in a copy of the tracked files: venv, pip, demo."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"```bash\n{_README_INSTALL}\n```" in readme
    assert _README_INSTALL in CI_DOC.read_text(encoding="utf-8")
    found = _python_outside_the_venv()
    if found is None:
        pytest.skip("no python3 on PATH outside the test's virtual environment")
    python, path = found
    version = subprocess.run(
        [python, "-c", "import sys; print(sys.version_info >= (3, 11))"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    if version.stdout.strip() != "True":
        pytest.skip(f"{python} is older than 3.11; the install line needs 3.11")
    files = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, timeout=30, check=True
    ).stdout.split(b"\0")
    clone = tmp_path / "realtime-conformance"
    for name in filter(None, files):
        source = ROOT / name.decode()
        if source.is_file():  # a file deleted in the work tree is not in a fresh clone either
            target = clone / name.decode()
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME", "OPENAI_API_KEY")
    }
    env["PATH"] = path
    done = subprocess.run(
        ["/bin/sh", "-c", _README_INSTALL],
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    output = done.stdout + done.stderr
    if done.returncode != 0 and any(sign in output for sign in _NETWORK_TROUBLE):
        pytest.skip("pip could not reach the package index: " + output.strip().splitlines()[-1])
    assert done.returncode == 0, output[-4000:]
    assert "Demo OK" in done.stdout
