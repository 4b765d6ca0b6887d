"""Every command the README and the docs show is checked against the code, so neither drifts.

Commands come from ```bash / ```sh blocks (and `$ ` lines of ```console blocks) and from
inline code spans that start with one of our programs. Each is checked:

* `realtime-conformance …`, `realtime-mock …`, `realtime-notes …`: parsed by the
  program's real argument parser (an unknown flag, a renamed subcommand or a bad value
  fails here, naming the document and line);
* `python FILE …` / `bash FILE`: the file exists;
* the commands in `RUN` are run for real, in a scratch folder, with the substitutions
  named there (a free port instead of 8765, a Node example for `node dist/hud.js`);
* each command that is neither run here nor cheap to run must name, in `RUN_ELSEWHERE`,
  the test that runs it (the test must exist).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import re
import shlex
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.processes import BIN, interrupted, user_env, user_shell

ROOT = Path(__file__).resolve().parents[1]
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")), ROOT / "examples" / "README.md")
TOOLS = ("realtime-conformance", "realtime-mock", "realtime-notes")
_FENCE = re.compile(r"^\s*```(\w*)\s*$")
_SPAN = re.compile(r"`([^`]+)`")
_ASSIGN = re.compile(r"^[A-Z_][A-Z0-9_]*=")
# Metavariables inline spans use as placeholders, and a value of their type.
_PLACEHOLDERS = {"N": "2", "S": "5"}


@dataclass(frozen=True)
class DocCommand:
    doc: str
    line: int
    text: str
    block: bool

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def doc_commands() -> list[DocCommand]:
    """Every shell command in the documents, `\\` continuations joined, comments cut."""
    found: list[DocCommand] = []
    for doc in DOCS:
        name = str(doc.relative_to(ROOT))
        lang: str | None = None
        pending: tuple[int, str] | None = None
        for number, raw in enumerate(doc.read_text(encoding="utf-8").splitlines(), 1):
            fence = _FENCE.match(raw)
            if fence:
                lang = None if lang is not None else (fence.group(1) or "text")
                continue
            if lang in ("bash", "sh", "console"):
                line = raw.strip()
                if pending is not None:
                    start, text = pending
                    line, pending = text + " " + line, None
                    number = start
                elif lang == "console":
                    if not line.startswith("$ "):
                        continue
                    line = line[2:]
                if line.endswith("\\"):
                    pending = (number, line[:-1].strip())
                    continue
                line = _cut_comment(line)
                if line:
                    found.append(DocCommand(name, number, line, block=True))
            elif lang is None:
                for span in _SPAN.findall(raw):
                    words = span.split()
                    program = _program(words)
                    if program in TOOLS and len(words) > 1:  # a bare name is no command
                        found.append(DocCommand(name, number, span, block=False))
    return found


def _cut_comment(line: str) -> str:
    """The line without a trailing `# comment` (outside quotes)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=False)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        words = list(lexer)
    except ValueError:
        return line
    if not words:
        return ""
    marker = re.search(r"\s#\s", line)
    return line[: marker.start()].rstrip() if marker else line


def _program(words: list[str]) -> str | None:
    for word in words:
        if _ASSIGN.match(word):
            continue
        return word.removeprefix(".venv/bin/")
    return None


def _simple_commands(text: str) -> Iterator[list[str]]:
    """The simple commands of a line (split on `&&`, `||`, `|`, `;`), as argv lists."""
    for part in re.split(r"\s(?:&&|\|\||\||;)\s", text):
        words = shlex.split(part)
        while words and _ASSIGN.match(words[0]):
            words.pop(0)
        if words:
            words[0] = words[0].removeprefix(".venv/bin/")
            yield words


def _parser(program: str) -> argparse.ArgumentParser:
    if program == "realtime-conformance":
        from conformance.cli import build_parser

        return build_parser()
    if program == "realtime-mock":
        from mock_server.cli import build_parser as mock_parser

        return mock_parser()
    from client_reference.cli import build_parser as notes_parser

    return notes_parser()


def _parse(command: DocCommand, argv: list[str]) -> str | None:
    """None when the program's parser accepts `argv`, else its error message."""
    args = argv[1:]
    if not command.block:
        args = [_PLACEHOLDERS.get(a, a) for a in args]
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            _parser(argv[0]).parse_args(args)
    except SystemExit as exc:
        if exc.code not in (0, None):  # `--help` exits 0
            return err.getvalue().strip().splitlines()[-1] if err.getvalue() else str(exc)
    return None


COMMANDS = doc_commands()


def test_the_documents_show_commands() -> None:
    assert len(COMMANDS) > 30
    shown = {c.where.split(":")[0] for c in COMMANDS}
    assert {"README.md", "docs/runner.md", "docs/strategies.md"} <= shown


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: f"{c.where} {c.text[:50]}")
def test_every_documented_command_parses(command: DocCommand) -> None:
    for argv in _simple_commands(command.text):
        program = argv[0]
        if program in TOOLS:
            problem = _parse(command, argv)
            assert problem is None, f"{command.where}: `{command.text}` -> {problem}"
        elif program == "bash" or (program.startswith("python") and argv[1:2] != ["-m"]):
            assert (ROOT / argv[1]).is_file(), f"{command.where}: no file {argv[1]}"


# --------------------------------------------------------------------------- run for real


_env = user_env  # a user's shell after pip install: the venv on PATH, no key
_shell = user_shell


@contextlib.contextmanager
def _serving(text: str, cwd: Path) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """Start a documented `realtime-mock serve …` on a free port; yield it and its URL."""
    argv = shlex.split(_cut_comment(text).replace("--port 8765", "--port 0"))
    if "--port" not in argv:
        argv += ["--port", "0"]
    argv[0] = str(BIN / argv[0])
    with interrupted(argv, cwd, _env()) as process:
        assert process.stdout is not None
        line = process.stdout.readline()  # the mock prints its URL once it listens
        match = re.search(r"ws://127\.0\.0\.1:\d+/v1/realtime", line)
        assert match, f"`{text}` printed {line!r} instead of its URL"
        yield process, match.group(0)


def _node_client() -> str | None:
    node_dir = ROOT / "examples" / "node"
    if shutil.which("node") and (node_dir / "node_modules" / "ws").is_dir():
        return f"node {node_dir / 'notes.mjs'}"
    return None


def _run_serve(command: DocCommand, tmp: Path) -> None:
    with _serving(command.text, tmp) as (process, url):
        assert process.poll() is None, f"{command.where}: the mock stopped at once"
        assert url.endswith("/v1/realtime")


def _run_scenarios(command: DocCommand, tmp: Path) -> None:
    done = _shell(command.text, tmp)
    assert done.returncode == 0, done.stderr
    assert len(done.stdout.splitlines()) >= 41
    assert "beta-header-rejected" in done.stdout


def _run_notes_on_mock(command: DocCommand, tmp: Path) -> None:
    from conformance.runner import screenshot_png

    (tmp / "shot.png").write_bytes(screenshot_png(64, 40))
    with _serving("realtime-mock serve", tmp) as (_, url):
        text = _cut_comment(command.text).replace("ws://127.0.0.1:8765/v1/realtime", url)
        done = _shell(text, tmp, timeout=60)
    assert done.returncode == 0, f"{command.where}: `{command.text}` -> {done.stderr[-2000:]}"
    assert "PNG 64x40" in done.stdout


def _run_gate(command: DocCommand, tmp: Path) -> None:
    node = _node_client()
    if node is None:
        pytest.skip("the Node example needs node and `npm install --prefix examples/node`")
    text = command.text.replace("node dist/hud-client.js", node).replace("node dist/hud.js", node)
    done = _shell(text + " --cases default,tolerant", tmp, timeout=120)
    assert done.returncode == 0, f"{command.where}: {done.stdout[-3000:]}{done.stderr[-2000:]}"
    assert "FAILED" not in done.stdout


def _gate_text(command: DocCommand) -> str:
    node = _node_client()
    if node is None:
        pytest.skip("the Node example needs node and `npm install --prefix examples/node`")
    return command.text.replace("node dist/hud-client.js", node).replace("node dist/hud.js", node)


def _run_gate_any(command: DocCommand, tmp: Path) -> None:
    """A documented `run`/`fuzz` of a Node HUD client: our Node example stands in for it."""
    text = _gate_text(command)
    if " fuzz " in f" {text} ":
        text += " --examples 3"
    elif "--cases" not in text:
        text += " --cases default,tolerant"
    done = _shell(text, tmp, timeout=180)
    assert done.returncode == 0, f"{command.where}: {done.stdout[-3000:]}{done.stderr[-2000:]}"


def _run_python_module_client(command: DocCommand, tmp: Path) -> None:
    """`--client "python -m myapp.notes"`: a package of that name wraps the reference client."""
    package = tmp / "myapp"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "notes.py").write_text(
        "import os, sys\n"
        "from client_reference.cli import main\n"
        "sys.exit(main([os.environ['REALTIME_SCREENSHOT'], '--timeout', '10']))\n"
    )
    done = _shell(command.text, tmp, timeout=180)
    assert done.returncode == 0, f"{command.where}: {done.stdout[-3000:]}{done.stderr[-2000:]}"
    assert (tmp / "junit.xml").is_file()


def _run_placeholder_client(command: DocCommand, tmp: Path) -> None:
    """`--client "CMD"` (troubleshooting): the reference client stands in for CMD."""
    from mock_server.scenarios import scenarios_dir

    reference = 'realtime-notes "$REALTIME_SCREENSHOT" --timeout 5'
    text = command.text.replace('"CMD"', f"'{reference}'")
    if "my-bug.yaml" in text:
        source = (scenarios_dir() / "accepted-then-closed.yaml").read_text(encoding="utf-8")
        (tmp / "my-bug.yaml").write_text(source.replace("id: accepted-then-closed", "id: my-bug"))
    done = _shell(text, tmp, timeout=120)
    assert done.returncode == 0, f"{command.where}: {done.stdout[-3000:]}{done.stderr[-2000:]}"


def _run_broken_example(command: DocCommand, tmp: Path) -> None:
    done = _shell(command.text, ROOT, timeout=120, PWD=str(ROOT))
    assert done.returncode == 1, f"{command.where}: {done.stdout[-2000:]}{done.stderr[-2000:]}"
    assert "does_not_send_beta_header" in done.stdout


def _run_serve_record(command: DocCommand, tmp: Path) -> None:
    _run_serve(command, tmp)
    assert (tmp / "transcripts").is_dir()


def _run_example_on_mock(command: DocCommand, tmp: Path) -> None:
    with _serving("realtime-mock serve", tmp) as (_, url):
        text = command.text.replace("ws://127.0.0.1:8765/v1/realtime", url)
        done = _shell(text, ROOT, timeout=60)
    assert done.returncode == 0, f"{command.where}: {done.stderr[-2000:]}"
    assert "PNG 64x40" in done.stdout


def _run_list(command: DocCommand, tmp: Path) -> None:
    done = _shell(command.text, tmp)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip()


RunFunction = Callable[[DocCommand, Path], None]
RUN: dict[str, RunFunction] = {
    "realtime-mock serve --port 8765": _run_serve,
    "realtime-mock serve --scenario beta-header-rejected": _run_serve,
    "realtime-mock serve --scenario accepted-then-closed": _run_serve,
    "realtime-mock serve --tolerant": _run_serve,
    "realtime-mock serve --reply-template 'HUD: {screenshots} ({turn})'": _run_serve,
    "realtime-mock scenarios": _run_scenarios,
    "OPENAI_API_KEY=sk-test realtime-notes shot.png --url ws://127.0.0.1:8765/v1/realtime": (
        _run_notes_on_mock
    ),
    'realtime-conformance run --client "node dist/hud-client.js" --jobs 2 --junit junit.xml': (
        _run_gate
    ),
    "realtime-conformance check --list-checks": _run_list,
    "realtime-mock serve --record transcripts/": _run_serve_record,
    'realtime-conformance fuzz --client "node dist/hud-client.js" --examples 50': _run_gate_any,
    'realtime-conformance fuzz --client "node dist/hud.js" --examples 50': _run_gate_any,
    'realtime-conformance run --client "node dist/hud.js" --jobs 4': _run_gate_any,
    'realtime-conformance run --client "node dist/hud.js" --cases default,tolerant': _run_gate_any,
    'realtime-conformance run --client "python -m myapp.notes" --cases "beta-*,default" '
    "--junit junit.xml": _run_python_module_client,
    'realtime-conformance run --client "CMD" --cases accepted-then-closed': (
        _run_placeholder_client
    ),
    'realtime-conformance run --client "CMD" --scenario my-bug.yaml': _run_placeholder_client,
    'realtime-conformance run --client "python examples/broken_client.py" --cases default': (
        _run_broken_example
    ),
    "OPENAI_API_KEY=sk-test OPENAI_REALTIME_URL=ws://127.0.0.1:8765/v1/realtime "
    "python examples/notes_from_code.py": _run_example_on_mock,
    "realtime-conformance run --list-cases": _run_list,
    # docs/ci.md
    'realtime-conformance run --client "node dist/hud.js" --jobs 2 --junit junit.xml': (
        _run_gate_any
    ),
}
# Commands run by other tests (test file :: test function), or never run on purpose.
_DEMO_TEST = "tests/runner/test_demo.py::test_demo_runs_both_clients_and_explains_the_findings"
_INSTALL = "python3 -m venv .venv && .venv/bin/pip install -q -e . && "
_FRESH_INSTALL = (
    "tests/test_ci_workflow.py::"
    "test_the_readme_install_line_works_from_a_fresh_copy_with_only_python"
)
RUN_ELSEWHERE: dict[str, str] = {
    _INSTALL + ".venv/bin/realtime-conformance demo": _FRESH_INSTALL,
    "bash .ci/run": "CI runs it (it is the CI job)",
    "realtime-conformance demo": _DEMO_TEST,
    'realtime-conformance run --client \'realtime-notes --stdin --model "$REALTIME_MODEL" '
    '--timeout 5\' --long-session --cases "long-session*"': (
        "tests/runner/test_long_session.py::test_the_documented_long_session_command_passes"
    ),
}
# docs/ci.md's container commands (they skip where `docker info` does not answer) and
# docs/node.md's commands.
_CONTAINER = "tests/test_container.py::"
_IN_DOCKER = 'docker run --rm --init --user "$(id -u):$(id -g)" -v "$PWD:/work" '
_IMAGE = "realtime-conformance"
RUN_ELSEWHERE.update(
    {
        "docker build -t realtime-conformance .": _CONTAINER + "images",
        "docker build --target node -t realtime-conformance:node .": _CONTAINER + "images",
        "docker run --rm -p 127.0.0.1:8765:8765 realtime-conformance": _CONTAINER
        + "test_the_image_serves_the_mock_on_the_published_loopback_port",
        _IN_DOCKER
        + _IMAGE
        + ' realtime-conformance run --client \'realtime-notes "$REALTIME_SCREENSHOT" '
        "--timeout 5' --cases default,tolerant --junit junit.xml": _CONTAINER
        + "test_the_image_runs_the_documented_gate",
        _IN_DOCKER + _IMAGE + ':node realtime-conformance run --client "node dist/hud.js" '
        "--junit junit.xml": (_CONTAINER + "test_the_node_image_gates_the_sdk_example"),
        "mkdir -p certs": _CONTAINER + "test_the_image_serves_tls_with_its_ca_in_a_mounted_folder",
        'docker run --rm --user "$(id -u):$(id -g)" -p 127.0.0.1:8765:8765 -v "$PWD/certs:/certs" '
        "realtime-conformance realtime-mock serve --tls --tls-dir /certs --host 0.0.0.0 "
        "--port 8765": _CONTAINER + "test_the_image_serves_tls_with_its_ca_in_a_mounted_folder",
        "npm ci --prefix examples/node": "CI runs it: .ci/run installs the Node examples' packages",
        'realtime-conformance run --client "node examples/node/sdk-notes.mjs"': (
            "tests/integration/test_node_clients.py::test_the_sdk_example_passes_the_whole_catalog"
        ),
    }
)
NEEDS_LIVE = "needs a real key and the live API (RUN_LIVE=1 tests/live runs the same path)"
_BENCH = "a benchmark (minutes); its smoke test: "
# Commands never run by the suite, and why.
NOT_RUN: dict[str, str] = {
    "python3 -m pip install ./realtime-conformance": (
        "installs from the package index; .ci/run installs the same checkout with pip"
    ),
    "OPENAI_API_KEY=sk-... realtime-notes shot.png": NEEDS_LIVE,
    "OPENAI_API_KEY=sk-... python examples/notes_from_code.py shot.png": NEEDS_LIVE,
    ".venv/bin/pytest tests/properties -q": "a subset of the suite CI runs",
    "REALTIME_HYPOTHESIS_PROFILE=thorough .venv/bin/pytest tests/properties": (
        "the thorough profile of a subset of the suite (minutes)"
    ),
}
RUN_ELSEWHERE.update(
    {
        'BROKEN_CLIENT_BUG=unknown-event realtime-conformance fuzz --client "python '
        'examples/broken_client.py" --faults error,close,drop': "tests/properties/test_fuzz_cli.py"
        "::test_an_unknown_event_crash_is_found_shrunk_and_saved_as_a_replayable_scenario",
        "realtime-conformance check DIR/*.jsonl --as-case my-run --exit-code 1 --stdout out.txt "
        '--stderr err.txt --api-key "$OPENAI_API_KEY"': "tests/conformance/reports/"
        "test_cli_check.py::test_the_client_run_adds_the_checks_that_judge_its_output",
    }
)


# docs/tls.md: a mock serving TLS, its certificates in the test's folder.
_TLS_CACHE = "~/.cache/realtime-conformance/tls"


@contextlib.contextmanager
def _serving_tls(text: str, cwd: Path, cache: Path) -> Iterator[tuple[str, list[str]]]:
    """Start a documented `realtime-mock serve --tls …` / `--cert …` on a free port, its
    certificates under `cache`; yield its URL line and the `NAME=value` lines after it."""
    argv = shlex.split(_cut_comment(text).replace("--port 8765", "--port 0"))
    argv[0] = str(BIN / argv[0])
    with interrupted(argv, cwd, _env(XDG_CACHE_HOME=str(cache))) as process:
        assert process.stdout is not None
        first = process.stdout.readline()
        assert "listening on wss://127.0.0.1:" in first, f"`{text}` printed {first!r}"
        yield first, [process.stdout.readline().strip() for _ in range(2)]


def _port(line: str) -> str:
    match = re.search(r"wss://127\.0\.0\.1:(\d+)/v1/realtime", line)
    assert match, line
    return match.group(1)


def _run_serve_tls(command: DocCommand, tmp: Path) -> None:
    with _serving_tls(command.text, tmp, tmp / "cache") as (first, trust):
        ca = tmp / "cache" / "realtime-conformance" / "tls" / "ca.pem"
        assert trust == [f"NODE_EXTRA_CA_CERTS={ca}", f"SSL_CERT_FILE={ca}"]
        assert f"OPENAI_BASE_URL=https://127.0.0.1:{_port(first)}/v1" in first


def _run_serve_own_cert(command: DocCommand, tmp: Path) -> None:
    from mock_server.tls import local_tls

    made = local_tls(tmp / "made")
    shutil.copyfile(made.cert, tmp / "server.pem")
    shutil.copyfile(made.key, tmp / "server-key.pem")
    with _serving_tls(command.text, tmp, tmp / "cache") as (_, trust):
        assert trust[0] == f"NODE_EXTRA_CA_CERTS={tmp / 'server.pem'}"
    assert not (tmp / "cache").exists()  # nothing generated


def _run_on_tls_mock(command: DocCommand, tmp: Path) -> None:
    """A documented client command against `realtime-mock serve --tls`, trusting its CA."""
    from conformance.runner import screenshot_png

    if " node " in f" {command.text} " and _node_client() is None:
        pytest.skip("the Node example needs node and `npm install --prefix examples/node`")
    shot = tmp / "shot.png"
    shot.write_bytes(screenshot_png(64, 40))
    cache = tmp / "cache"
    with _serving_tls("realtime-mock serve --tls --port 8765", tmp, cache) as (first, _):
        text = (
            _cut_comment(command.text)
            .replace(_TLS_CACHE, str(cache / "realtime-conformance" / "tls"))
            .replace("127.0.0.1:8765", f"127.0.0.1:{_port(first)}")
            .replace("shot.png", str(shot))
        )
        done = _shell(text, ROOT, timeout=60, SSL_CERT_FILE="", NODE_EXTRA_CA_CERTS="")
    assert done.returncode == 0, f"{command.where}: `{command.text}` -> {done.stderr[-2000:]}"
    assert "PNG 64x40" in done.stdout


RUN.update(
    {
        "realtime-mock serve --tls --port 8765": _run_serve_tls,
        "realtime-mock serve --cert server.pem --key server-key.pem --port 8765": (
            _run_serve_own_cert
        ),
        f"NODE_EXTRA_CA_CERTS={_TLS_CACHE}/ca.pem OPENAI_API_KEY=sk-test "
        "OPENAI_BASE_URL=https://127.0.0.1:8765/v1 REALTIME_SCREENSHOT=shot.png "
        "node examples/node/sdk-notes.mjs": _run_on_tls_mock,
        f"SSL_CERT_FILE={_TLS_CACHE}/ca.pem OPENAI_API_KEY=sk-test realtime-notes shot.png "
        "--url wss://127.0.0.1:8765/v1/realtime": _run_on_tls_mock,
    }
)
RUN_ELSEWHERE.update(
    {
        'realtime-conformance run --tls --client "node examples/node/sdk-notes.mjs"': (
            "tests/integration/test_node_sdk_tls.py::test_node_clients_pass_over_wss_with_run_tls"
        ),
    }
)
NOT_RUN.update(
    {
        "python3 -m pip install './realtime-conformance[tls]'": (
            "installs from the package index; .ci/run installs the test extra, which holds "
            "the tls extra's package"
        ),
    }
)

# docs/runner.md: translation clients.
RUN_ELSEWHERE.update(
    {
        'realtime-conformance run --translation --client "python examples/translate_client.py"': (
            "tests/runner/test_translation_cases.py::test_the_documented_translation_command_passes"
        ),
        'realtime-conformance fuzz --translation --client "python examples/translate_client.py '
        '--frame-pause 0"': "tests/fuzzing/test_translation_fuzz.py::"
        "test_a_correct_translation_client_passes_the_generated_streams",
    }
)

# docs/relay.md: the example relays, run as written on real sockets.
_RELAY_TEST = "tests/runner/test_relay.py::"
RUN_ELSEWHERE.update(
    {
        'realtime-conformance run --relay "node examples/relay/relay.mjs" --relay-url '
        '"ws://127.0.0.1:{port}/relay"': _RELAY_TEST
        + "test_the_documented_correct_relay_passes_the_whole_catalog",
        'realtime-conformance run --relay "node examples/relay/broken-relay.mjs" --relay-url '
        '"ws://127.0.0.1:{port}/relay" --cases default,benign-errors-mid-session,'
        "accepted-then-closed": _RELAY_TEST
        + "test_the_documented_broken_relay_run_fails_and_names_its_bugs",
    }
)


# docs/rest.md: the REST side of a mock started as documented.
_REST_SERVE = "realtime-mock serve --api-keys sk-test --secret-key change-me --port 8765"


def _run_rest_curl(command: DocCommand, tmp: Path) -> None:
    import json

    with _serving(_REST_SERVE, tmp) as (_, url):
        port = re.search(r":(\d+)/", url)
        assert port, url
        done = _shell(command.text.replace("127.0.0.1:8765", f"127.0.0.1:{port.group(1)}"), tmp)
    assert done.returncode == 0, f"{command.where}: {done.stderr[-2000:]}"
    answer = json.loads(done.stdout)
    assert answer["value"].startswith("ek_"), answer
    assert answer["session"]["instructions"] == "Be brief."


RUN.update(
    {
        _REST_SERVE: _run_serve,
        "curl -s http://127.0.0.1:8765/v1/realtime/client_secrets -H "
        '"Authorization: Bearer sk-test" -H "Content-Type: application/json" -d '
        '\'{"expires_after": {"seconds": 120}, "session": {"type": "realtime", '
        '"instructions": "Be brief."}}\'': _run_rest_curl,
    }
)


# docs/sip.md: the SIP workflow as written (serve with a webhook, ring, accept, hangup).
_SIP_TEST = "tests/sip/test_docs_workflow.py::test_the_documented_workflow"
RUN_ELSEWHERE.update(
    {
        'REALTIME_MOCK_WEBHOOK_SECRET="$OPENAI_WEBHOOK_SECRET" realtime-mock serve '
        "--webhook-url http://127.0.0.1:8000/openai/webhook --scenario sip-basic": _SIP_TEST,
        "curl -s -X POST http://127.0.0.1:8765/mock/sip/incoming": _SIP_TEST,
        "curl -s -X POST http://127.0.0.1:8765/v1/realtime/calls/$CALL_ID/accept "
        '-H "Authorization: Bearer sk-test" -H "Content-Type: application/json" '
        '-d \'{"type": "realtime", "model": "gpt-realtime", "instructions": '
        '"You answer the phone."}\'': _SIP_TEST,
        "curl -s -X POST http://127.0.0.1:8765/v1/realtime/calls/$CALL_ID/hangup "
        '-H "Authorization: Bearer sk-test"': _SIP_TEST,
    }
)

# docs/proxy.md: the proxy in front of a fast mock, a client through it, Ctrl-C, `check`.
_PROXY_TEST = "tests/proxy/test_cli_proxy.py::test_the_documented_offline_workflow"
RUN_ELSEWHERE.update(
    {
        "realtime-conformance proxy --upstream ws://127.0.0.1:8765 --port 8766 --record "
        "transcripts/ --html proxy.html": _PROXY_TEST,
        "OPENAI_API_KEY=sk-test realtime-notes shot.png --url ws://127.0.0.1:8766/v1/realtime": (
            _PROXY_TEST
        ),
        "realtime-conformance check transcripts/*.jsonl --html again.html": _PROXY_TEST,
    }
)

# docs/live.md: every command run by tests/runner/test_live_mode.py, a mock standing in for
# the live API (the upstream URL and the key substituted); the live smoke job's needs a key.
_LIVE = "tests/runner/test_live_mode.py::"
_LIVE_WORKFLOW = _LIVE + "test_the_documented_workflow_with_a_mock_as_the_live_api"
RUN_ELSEWHERE.update(
    {
        "realtime-conformance run --live --upstream mock --client 'realtime-notes "
        '"$REALTIME_SCREENSHOT" --model "$REALTIME_MODEL" --timeout 5\'': (
            _LIVE + "test_the_documented_rehearsal_passes"
        ),
        'OPENAI_API_KEY=sk-... realtime-conformance run --live --client "node dist/hud.js" '
        "--timeout 60": _LIVE_WORKFLOW,
        "OPENAI_API_KEY=sk-... realtime-conformance proxy --upstream wss://api.openai.com "
        "--record live/ --junit live.xml": _LIVE_WORKFLOW,
        "realtime-conformance check live/*.jsonl --html live.html": _LIVE_WORKFLOW,
        "realtime-conformance scenario-from incident.jsonl -o "
        "regressions/error-mid-reply.yaml": _LIVE_WORKFLOW,
        "realtime-conformance replay incident.jsonl --scenario regressions/error-mid-reply.yaml "
        "--record reproduced.jsonl": _LIVE_WORKFLOW,
        "realtime-conformance diff incident.jsonl reproduced.jsonl": _LIVE_WORKFLOW,
        'realtime-conformance run --client "node dist/hud.js" --scenario regressions/': (
            _LIVE_WORKFLOW
        ),
        "realtime-conformance replay incident.jsonl --record on-mock.jsonl "
        "--end-timeout 2": _LIVE_WORKFLOW,
        "realtime-conformance diff incident.jsonl on-mock.jsonl": _LIVE_WORKFLOW,
    }
)
NOT_RUN.update(
    {
        'RUN_LIVE=1 OPENAI_API_KEY=sk-... REALTIME_LIVE_CLIENT="node dist/hud.js" '
        ".venv/bin/pytest -m live tests/live": NEEDS_LIVE,
    }
)


# docs/replay.md: replay and scenario-from on recordings of realtime-notes on the mock.
_REPLAY_TEST = (
    "tests/replay/test_docs_workflow.py::test_the_documented_replay_and_scenario_from_commands"
)
RUN_ELSEWHERE.update(
    {
        "realtime-conformance replay session.jsonl --timing fast --record again.jsonl": (
            _REPLAY_TEST
        ),
        "realtime-conformance replay session.jsonl --against ws://127.0.0.1:8765/v1/realtime": (
            _REPLAY_TEST
        ),
        "realtime-conformance scenario-from closed.jsonl -o closed-at-once.yaml": _REPLAY_TEST,
        "realtime-conformance replay closed.jsonl --scenario closed-at-once.yaml": _REPLAY_TEST,
        'realtime-conformance run --client "CMD" --scenario closed-at-once.yaml': _REPLAY_TEST,
        "realtime-mock serve --scenario closed-at-once.yaml": _REPLAY_TEST,
    }
)


# docs/transcripts.md (the minimal transcript judged by `check`) and docs/diff.md (record,
# replay on the mock, diff; the options), run as documented by tests/diff/test_docs.py.
_DIFF_DOCS = "tests/diff/test_docs.py::"
_DIFF_WORKFLOW = _DIFF_DOCS + "test_the_documented_diff_commands"
RUN_ELSEWHERE.update(
    {
        "realtime-conformance check example.jsonl": (
            _DIFF_DOCS + "test_the_minimal_transcript_is_judged_as_documented"
        ),
        "realtime-conformance replay live.jsonl --record mock.jsonl": _DIFF_WORKFLOW,
        "realtime-conformance diff live.jsonl mock.jsonl": _DIFF_WORKFLOW,
        "realtime-conformance diff live.jsonl mock.jsonl --json diff.json": _DIFF_WORKFLOW,
        "realtime-conformance diff run-1.jsonl run-2.jsonl --live none --strict-counts": (
            _DIFF_WORKFLOW
        ),
    }
)


# docs/browser.md: the page's back end (then the page in chromium), the reference client
# over WebRTC and `run --webrtc`, run as written (ports substituted) by its own test.
_BROWSER_DOCS = "tests/browser/test_docs_browser.py::"
RUN_ELSEWHERE.update(
    {
        "OPENAI_API_KEY=sk-test OPENAI_BASE_URL=http://127.0.0.1:8765/v1 python "
        "examples/browser/server.py --port 8000": (
            _BROWSER_DOCS + "test_the_documented_back_end_serves_the_page_that_gets_notes"
        ),
        "OPENAI_API_KEY=sk-test realtime-notes --webrtc shot.png --url "
        "ws://127.0.0.1:8765/v1/realtime": (
            _BROWSER_DOCS + "test_the_documented_notes_command_works_over_webrtc"
        ),
        "realtime-conformance run --webrtc --client 'realtime-notes \"$REALTIME_SCREENSHOT\"' "
        "--cases default,session-expired": (
            _BROWSER_DOCS + "test_the_documented_run_command_passes_over_webrtc"
        ),
    }
)
# docs/mutation.md: the whole-package mutation run takes an hour; its test plans the same
# command and runs the same entry point on a slice.
RUN_ELSEWHERE[".venv/bin/python -m scripts.mutate mock_server --every 20"] = (
    "tests/scripts/test_mutate.py::test_the_documented_command_runs_on_a_slice"
)


def _is_bench(text: str) -> bool:
    return "bench/" in text


def test_every_block_command_is_run_or_says_why_not() -> None:
    """A command in a code block runs here, runs in a named test, or says why it cannot."""
    unclassified = [
        f"{c.where}: {c.text}"
        for c in COMMANDS
        if c.block
        and (text := _cut_comment(c.text)) not in RUN
        and text not in RUN_ELSEWHERE
        and text not in NOT_RUN
        and not _is_bench(text)
    ]
    assert not unclassified, "add these to RUN, RUN_ELSEWHERE or NOT_RUN:\n" + "\n".join(
        unclassified
    )


def test_every_documented_benchmark_has_a_smoke_test() -> None:
    scripts = {
        word
        for c in COMMANDS
        if c.block and _is_bench(c.text)
        for word in c.text.split()
        if word.startswith("bench/")
    }
    tested = "".join(p.read_text(encoding="utf-8") for p in ROOT.glob("tests/**/*.py"))
    missing = sorted(s for s in scripts if Path(s).stem not in tested)
    assert not missing, f"benchmarks without a test that runs them: {missing}"


def _to_run() -> list[DocCommand]:
    return [c for c in COMMANDS if _cut_comment(c.text) in RUN]


@pytest.mark.integration
@pytest.mark.parametrize("command", _to_run(), ids=lambda c: f"{c.where} {c.text[:50]}")
def test_documented_command_runs(command: DocCommand, tmp_path: Path) -> None:
    RUN[_cut_comment(command.text)](command, tmp_path)


def test_commands_run_elsewhere_name_existing_tests() -> None:
    for text, where in RUN_ELSEWHERE.items():
        text = text
        if "::" not in where:
            continue
        path, function = where.split("::")
        source = (ROOT / path).read_text(encoding="utf-8")
        assert f"def {function}(" in source, f"{where} (for `{text}`) does not exist"


def test_the_readme_starts_with_the_install_and_test_commands() -> None:
    blocks = [c for c in COMMANDS if c.doc == "README.md" and c.block]
    assert blocks[0].text in RUN_ELSEWHERE
    assert blocks[1].text == "bash .ci/run"


def test_the_documents_count_the_scenarios_right() -> None:
    from mock_server.scenarios import builtin_scenarios

    count = len(builtin_scenarios())
    claims = {
        "README.md": re.compile(r"the (\d+) built-in scenarios"),
        "docs/troubleshooting.md": re.compile(r"`realtime-mock scenarios` lists all (\d+)"),
    }
    for doc, pattern in claims.items():
        found = pattern.findall((ROOT / doc).read_text(encoding="utf-8"))
        assert found, f"{doc} no longer says how many scenarios there are ({pattern.pattern})"
        assert {int(n) for n in found} == {count}, f"{doc} says {found}, there are {count}"
