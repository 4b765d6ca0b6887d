"""The container image (`Dockerfile`, docs/ci.md "The container image").

Static checks run everywhere: the Dockerfile is read against the repository (every `COPY`
source exists and is in the build context, the build copies what the wheel needs, the
install is this checkout's like the README's, the commands are the package's console
scripts with arguments their real parsers accept, the user is not root, the health check
works). Where a container engine answers `docker info` (or `podman info`;
`CONTAINER_ENGINE` chooses), the image is built and docs/ci.md's commands run for real;
elsewhere those tests skip and say why. No test starts a daemon.
"""

from __future__ import annotations

import contextlib
import fnmatch
import io
import json
import os
import re
import select
import shlex
import shutil
import socket
import subprocess
import sys
import tomllib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.test_docs_commands import TOOLS, _parser

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
CI_DOC = ROOT / "docs" / "ci.md"
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
SCRIPTS = PYPROJECT["project"]["scripts"]
IMAGE = "realtime-conformance"  # the tag docs/ci.md builds
MOCK_PORT = 8765


# --------------------------------------------------------------------------- the Dockerfile


@dataclass(frozen=True)
class Instruction:
    line: int
    keyword: str
    args: str

    def exec_form(self) -> list[str]:
        """The JSON array of an exec-form CMD/ENTRYPOINT/HEALTHCHECK CMD."""
        text = self.args
        if self.keyword == "HEALTHCHECK":
            text = text[text.index("CMD ") + 4 :].strip()
        assert text.startswith("["), f"Dockerfile:{self.line}: {self.keyword} not in exec form"
        words = json.loads(text)
        assert isinstance(words, list)
        return [str(w) for w in words]


@dataclass
class Stage:
    name: str
    base: str
    instructions: list[Instruction]


def instructions(text: str) -> list[Instruction]:
    """The Dockerfile's instructions, `\\` continuations joined, comments dropped."""
    found: list[Instruction] = []
    pending: tuple[int, str] | None = None
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue  # also inside a continuation, as Docker does
        start, body = (number, line) if pending is None else (pending[0], f"{pending[1]} {line}")
        if body.endswith("\\"):
            pending = (start, body[:-1].rstrip())
            continue
        pending = None
        keyword, _, args = body.partition(" ")
        found.append(Instruction(start, keyword.upper(), args.strip()))
    assert pending is None, "the Dockerfile ends inside a `\\` continuation"
    return found


def stages(text: str) -> list[Stage]:
    result: list[Stage] = []
    args = {}
    for instruction in instructions(text):
        if instruction.keyword == "FROM":
            words = instruction.args.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args.get(m.group(1), m.group(0)), words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else str(len(result))
            result.append(Stage(name, base, []))
        elif not result and instruction.keyword == "ARG":
            name, _, default = instruction.args.partition("=")
            args[name] = default
        elif result:
            result[-1].instructions.append(instruction)
    return result


STAGES = stages(DOCKERFILE.read_text(encoding="utf-8"))
BY_NAME = {stage.name: stage for stage in STAGES}


def _effective(stage: Stage, keyword: str) -> Instruction | None:
    """The last `keyword` instruction in effect in a stage, following `FROM <stage>`."""
    own = [i for i in stage.instructions if i.keyword == keyword]
    if own:
        return own[-1]
    parent = BY_NAME.get(stage.base)
    return _effective(parent, keyword) if parent is not None else None


def _copies(stage: Stage) -> list[list[str]]:
    """The sources of each `COPY` from the build context (not `--from=`) in a stage."""
    found = []
    for instruction in stage.instructions:
        if instruction.keyword != "COPY":
            continue
        words = shlex.split(instruction.args)
        if any(w.startswith("--from=") for w in words):
            continue
        found.append([w for w in words[:-1] if not w.startswith("--")])
    return found


def _dockerignore() -> list[str]:
    lines = (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether `.dockerignore` leaves `path` out of the context (no `!` patterns here)."""
    parts = Path(path).parts
    prefixes = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    for pattern in patterns:
        assert not pattern.startswith("!"), "update _ignored() for `!` patterns"
        bare = pattern.removeprefix("**/")
        for prefix in prefixes:
            if fnmatch.fnmatchcase(prefix, pattern):
                return True
            if pattern.startswith("**/") and fnmatch.fnmatchcase(Path(prefix).name, bare):
                return True
    return False


def _tracked(under: str) -> list[str]:
    done = subprocess.run(
        ["git", "ls-files", "--", under],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    return done.stdout.split()


def test_the_dockerfile_has_the_documented_stages() -> None:
    assert [s.name for s in STAGES] == ["build", "runtime", "node-dist", "node", "mock"]
    assert STAGES[-1].name == "mock"  # the last stage is what a plain `docker build` makes
    assert STAGES[-1].base == "runtime"
    assert BY_NAME["node"].base == "runtime"


def test_every_copy_source_exists_and_is_in_the_build_context() -> None:
    patterns = _dockerignore()
    copied = [source for stage in STAGES for sources in _copies(stage) for source in sources]
    assert copied, "the Dockerfile copies nothing from the repository"
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
        files = _tracked(source)
        assert files, f"COPY {source}: nothing tracked by git there"
        left_out = [f for f in files if _ignored(f, patterns)]
        assert not left_out, f"COPY {source}: .dockerignore leaves out {left_out[:5]}"


def test_the_build_context_leaves_out_local_state_and_secrets() -> None:
    patterns = _dockerignore()
    for path in (".git/config", ".venv/bin/python", "examples/node/node_modules/ws/index.js"):
        assert _ignored(path, patterns), f"{path} would be sent to the engine"
    assert _ignored("conformance/__pycache__/x.pyc", patterns)
    assert _ignored(".env", patterns)
    assert _ignored("certs/ca-key.pem", patterns)  # docs/ci.md's TLS folder, if made here
    assert not _ignored("conformance/cli.py", patterns)


def test_the_build_copies_everything_the_wheel_is_made_of() -> None:
    wheel = PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]
    needed = {
        "pyproject.toml",
        PYPROJECT["project"]["readme"],
        *wheel["packages"],
        *wheel["force-include"],
    }
    copied = {source.rstrip("/") for sources in _copies(BY_NAME["build"]) for source in sources}
    assert needed <= copied, f"the build stage does not copy {sorted(needed - copied)}"


def _pip_commands(text: str) -> list[list[str]]:
    """`pip install|wheel …` commands in a shell text, as argv after `pip`."""
    found = []
    for part in re.split(r"&&|\|\||;|\n", text):
        words = shlex.split(part, comments=True)
        if "pip" in words:
            found.append(words[words.index("pip") + 1 :])
        elif words and words[0].endswith("/pip"):
            found.append(words[1:])
    return found


def _targets(argv: list[str]) -> list[str]:
    return [w for w in argv[1:] if not w.startswith("-")]


def test_the_image_installs_this_checkout_as_the_readme_does() -> None:
    from tests.test_docs_commands import COMMANDS

    readme = "\n".join(c.text for c in COMMANDS if c.doc == "README.md" and c.block)
    readme_installs = [c for c in _pip_commands(readme) if c and c[0] == "install"]
    assert readme_installs, "the README shows no pip install line"
    for argv in readme_installs:  # the README installs a checkout (a path), no package name
        assert all(t == "." or t.startswith("./") for t in _targets(argv)), argv
    build = [
        argv
        for i in BY_NAME["build"].instructions
        if i.keyword == "RUN"
        for argv in _pip_commands(i.args)
    ]
    assert len(build) == 1, build
    [argv] = build
    assert argv[0] == "wheel"
    assert not {"-e", "--editable"} & set(argv)
    wheel_dir = argv[argv.index("--wheel-dir") + 1]
    [target] = _targets([w for w in argv if w != wheel_dir])
    checkout, _, extras = target.partition("[")
    assert checkout == ".", "the image builds the checkout, as the README installs"
    known = set(PYPROJECT["project"].get("optional-dependencies", {}))
    assert "tls" in extras.rstrip("]").split(",")  # `serve --tls` works in the image
    assert set(extras.rstrip("]").split(",")) <= known
    workdir = [i.args for i in BY_NAME["build"].instructions if i.keyword == "WORKDIR"]
    copies_pyproject = any("pyproject.toml" in s for s in _copies(BY_NAME["build"]))
    assert workdir, "the build stage has no WORKDIR for `.`"
    assert copies_pyproject  # `.` is the folder that holds pyproject.toml
    runtime = [
        argv
        for i in BY_NAME["runtime"].instructions
        if i.keyword == "RUN"
        for argv in _pip_commands(i.args)
    ]
    assert [argv[0] for argv in runtime] == ["install"]
    [install] = runtime
    assert "--no-index" in install  # only the wheels built from the checkout, no index
    # The runtime installs from where it copied the build's wheel folder to.
    copied = [
        shlex.split(i.args)[-2:]
        for i in BY_NAME["runtime"].instructions
        if i.keyword == "COPY" and "--from=build" in shlex.split(i.args)
    ]
    [wheels] = [dest for source, dest in copied if source == wheel_dir]
    assert install[install.index("--find-links") + 1] == wheels
    assert [t for t in _targets(install) if t != wheels] == [
        f"{PYPROJECT['project']['name']}[{extras}"
    ]


def _parses(argv: list[str]) -> str | None:
    """None when the program's real parser accepts argv, else why not."""
    program = argv[0]
    if program not in TOOLS:
        return f"{program} is not one of {TOOLS}"
    parser = _parser(program)
    try:
        with contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
            parser.parse_args(argv[1:])
    except SystemExit as exc:
        return None if exc.code in (0, None) else f"{program} refuses {argv[1:]}"
    return None


@pytest.mark.parametrize("target", ["mock", "node"])
def test_the_default_command_serves_the_mock_on_every_interface_of_the_container(
    target: str,
) -> None:
    from mock_server.config import MockConfig

    stage = BY_NAME[target]
    assert _effective(stage, "ENTRYPOINT") is None  # any command replaces the default one
    cmd = _effective(stage, "CMD")
    assert cmd is not None
    argv = cmd.exec_form()
    assert argv[0] in SCRIPTS, f"CMD {argv[0]} is not one of the package's console scripts"
    assert _parses(argv) is None, _parses(argv)
    assert argv[:2] == ["realtime-mock", "serve"]
    assert argv[argv.index("--host") + 1] == "0.0.0.0"
    port = int(argv[argv.index("--port") + 1])
    assert port == MockConfig().port == MOCK_PORT
    expose = _effective(stage, "EXPOSE")
    assert expose is not None
    assert expose.args == str(port)


@pytest.mark.parametrize("target", ["mock", "node"])
def test_the_image_runs_as_a_non_root_user(target: str) -> None:
    user = _effective(BY_NAME[target], "USER")
    assert user is not None
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit(), "a numeric USER: `runAsNonRoot` and the host can check it"
    assert int(uid) != 0
    assert gid == uid
    runtime = " ".join(i.args for i in BY_NAME["runtime"].instructions if i.keyword == "RUN")
    assert f"useradd --create-home --uid {uid} --user-group realtime" in runtime
    workdir = _effective(BY_NAME[target], "WORKDIR")
    assert workdir is not None
    assert f"chown realtime:realtime {workdir.args}" in runtime  # the runner writes there


def test_the_base_image_has_a_python_the_package_accepts() -> None:
    required = re.fullmatch(r">=(\d+)\.(\d+)", PYPROJECT["project"]["requires-python"])
    assert required
    for stage in (BY_NAME["build"], BY_NAME["runtime"]):
        match = re.fullmatch(r"python:(\d+)\.(\d+)-slim(?:-\w+)?", stage.base)
        assert match, f"{stage.name} is built on {stage.base}, not a slim python image"
        assert (int(match[1]), int(match[2])) >= (int(required[1]), int(required[2]))


@contextlib.contextmanager
def _listening() -> Iterator[int]:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        yield server.getsockname()[1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_the_health_check_says_whether_the_port_listens() -> None:
    health = _effective(BY_NAME["mock"], "HEALTHCHECK")
    assert health is not None
    argv = health.exec_form()
    assert argv[:2] == ["python", "-c"]
    assert f"('127.0.0.1', {MOCK_PORT})" in argv[2]

    def check(port: int) -> int:
        code = argv[2].replace(str(MOCK_PORT), str(port))
        return subprocess.run([sys.executable, "-c", code], timeout=30, check=False).returncode

    with _listening() as port:
        assert check(port) == 0
    assert check(_free_port()) != 0


# --------------------------------------------------------------------------- docs/ci.md


def _ci_doc_commands() -> list[str]:
    from tests.test_docs_commands import COMMANDS, _cut_comment

    return [_cut_comment(c.text) for c in COMMANDS if c.doc == "docs/ci.md" and c.block]


def _docker_commands() -> list[str]:
    return [c for c in _ci_doc_commands() if c.startswith("docker ")]


_RUN_VALUE_FLAGS = {"-p", "-v", "-w", "-e", "--user", "--name", "--network", "--entrypoint"}


def _split_docker_run(argv: list[str]) -> tuple[list[str], str, list[str]]:
    """(docker run options, image, command) of `docker run …` argv."""
    assert argv[:2] == ["docker", "run"], argv
    index = 2
    while argv[index].startswith("-"):
        index += 2 if argv[index] in _RUN_VALUE_FLAGS else 1
    return argv[2:index], argv[index], argv[index + 1 :]


def test_the_documented_docker_commands_use_the_image_and_the_packages_commands() -> None:
    commands = _docker_commands()
    builds = [shlex.split(c) for c in commands if c.startswith("docker build")]
    runs = [shlex.split(c) for c in commands if c.startswith("docker run")]
    assert (len(builds), len(runs)) == (2, 4), commands
    tags = {argv[argv.index("-t") + 1] for argv in builds}
    assert tags == {IMAGE, f"{IMAGE}:node"}
    targets = {argv[argv.index("--target") + 1] for argv in builds if "--target" in argv}
    assert targets <= set(BY_NAME)
    for argv in runs:
        options, image, command = _split_docker_run(argv)
        assert image in tags
        published = [options[i + 1] for i, o in enumerate(options) if o == "-p"]
        assert all(p.startswith("127.0.0.1:") for p in published), "publish on loopback only"
        if command:
            assert _parses(command) is None, _parses(command)
        if command[:1] == ["realtime-conformance"]:
            assert "--init" in options  # the runner's clients leave processes to reap


def test_0_0_0_0_is_shown_only_for_the_container() -> None:
    """`--host 0.0.0.0` appears only in the Dockerfile and docs/ci.md's container section."""
    texts = {
        p: p.read_text(encoding="utf-8")
        for p in (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
    }
    for path, text in texts.items():
        if path == CI_DOC:
            text = text.split("## The container image")[0]
        assert "--host 0.0.0.0" not in text, f"{path.name} shows --host 0.0.0.0 out of a container"


# --------------------------------------------------------------------------- the real image


def _engine_skip_reason(engine: str | None) -> str | None:
    if engine is None:
        return "no container engine (docker or podman) on PATH"
    try:
        done = subprocess.run(
            [engine, "info"], capture_output=True, text=True, timeout=15, check=False
        )
    except subprocess.TimeoutExpired:
        return f"`{engine} info` did not answer within 15 s (is its daemon stuck?)"
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"`{engine} info` failed, its daemon is not running or not reachable: {last}"
    return None


def _engine() -> str | None:
    chosen = os.environ.get("CONTAINER_ENGINE")
    if chosen:
        return shutil.which(chosen)
    return shutil.which("docker") or shutil.which("podman")


@pytest.fixture(scope="module")
def engine() -> str:
    found = _engine()
    reason = _engine_skip_reason(found)
    if reason is not None:
        pytest.skip(reason)
    assert found is not None
    return found


def _run(
    argv: list[str], timeout: float, cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        argv, capture_output=True, text=True, timeout=timeout, check=False, cwd=cwd, env=env
    )


def _documented_build(tag: str) -> list[str]:
    """docs/ci.md's `docker build -t TAG …`, as argv."""
    builds = [shlex.split(c) for c in _docker_commands() if c.startswith("docker build")]
    [argv] = [a for a in builds if a[a.index("-t") + 1] == tag]
    return argv


def _documented_run(image: str, program: str | None) -> str:
    """docs/ci.md's `docker run … IMAGE [PROGRAM …]` (None: the image's default command)."""
    found = []
    for text in _docker_commands():
        if text.startswith("docker run"):
            _, used, rest = _split_docker_run(shlex.split(text))
            if used == image and (rest[0] if rest else None) == program:
                found.append(text)
    [text] = found
    return text


@pytest.fixture(scope="module")
def images(engine: str) -> Iterator[dict[str, str]]:
    """docs/ci.md's two `docker build` commands, under tags of this test run."""
    suffix = f"test-{uuid.uuid4().hex[:8]}"
    tags = {IMAGE: f"{IMAGE}:{suffix}", f"{IMAGE}:node": f"{IMAGE}:{suffix}-node"}
    try:
        for documented, tag in tags.items():
            argv = _documented_build(documented)
            argv[0] = engine
            argv[argv.index("-t") + 1] = tag
            done = _run(argv, timeout=1200, cwd=ROOT)
            assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stderr[-4000:]}"
        yield tags
    finally:
        for tag in tags.values():
            _run([engine, "rmi", "-f", tag], timeout=120)


def _readline(process: subprocess.Popen[str], timeout: float) -> str:
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], timeout)
    assert ready, f"nothing printed within {timeout} s"
    return process.stdout.readline()


@contextlib.contextmanager
def _container_mock(
    engine: str, command: str, image: str, cwd: Path
) -> Iterator[tuple[str, str, int, subprocess.Popen[str]]]:
    """Run a documented `docker run … -p 127.0.0.1:8765:8765 …` serving the mock, on any free
    host port; yield its name, the line it printed first, the host port and the process."""
    name = f"realtime-mock-{uuid.uuid4().hex[:8]}"
    published = f"-p 127.0.0.1:{MOCK_PORT}:{MOCK_PORT}"
    assert published in command
    command = (
        command.replace(published, f"--name {name} -p 127.0.0.1::{MOCK_PORT}", 1)
        .replace(f" {IMAGE} ", f" {image} ", 1)
        .replace("docker", engine, 1)
    )
    if command.endswith(f" {IMAGE}"):
        command = command.removesuffix(IMAGE) + image
    process = subprocess.Popen(
        ["/bin/sh", "-c", command],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = _readline(process, timeout=60)
        port = _run([engine, "port", name, f"{MOCK_PORT}/tcp"], timeout=30).stdout
        host, _, number = port.split()[0].rpartition(":")
        assert host == "127.0.0.1", f"published on {host}, not on loopback only"
        yield name, line, int(number), process
    finally:
        if process.poll() is None:
            _run([engine, "rm", "-f", name], timeout=60)
            process.kill()
            process.wait(timeout=30)
        for stream in (process.stdout, process.stderr):
            if stream is not None:
                stream.close()


def _notes(url: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """The reference client, on the host, through the published port."""
    from conformance.runner import screenshot_png

    (tmp_path / "shot.png").write_bytes(screenshot_png(64, 40))
    program = str(Path(sys.executable).parent / "realtime-notes")
    return _run(
        [program, str(tmp_path / "shot.png"), "--url", url, "--timeout", "20"],
        timeout=60,
        env={**os.environ, "OPENAI_API_KEY": "sk-test-container", **env},
    )


@pytest.mark.integration
def test_the_image_serves_the_mock_on_the_published_loopback_port(
    engine: str, images: dict[str, str], tmp_path: Path
) -> None:
    command = _documented_run(IMAGE, None)
    with _container_mock(engine, command, images[IMAGE], tmp_path) as (name, line, port, process):
        assert f"ws://127.0.0.1:{MOCK_PORT}/v1/realtime" in line, line
        notes = _notes(f"ws://127.0.0.1:{port}/v1/realtime", tmp_path)
        assert notes.returncode == 0, notes.stderr
        assert "PNG 64x40" in notes.stdout
        uid = _run([engine, "exec", name, "id", "-u"], timeout=30).stdout.strip()
        assert uid not in ("", "0")
        health = _effective(BY_NAME["mock"], "HEALTHCHECK")
        assert health is not None
        assert _run([engine, "exec", name, *health.exec_form()], timeout=30).returncode == 0
        stopped = _run([engine, "stop", "--time", "20", name], timeout=60)
        assert stopped.returncode == 0, stopped.stderr
        assert process.wait(timeout=30) == 0  # SIGTERM: the mock stopped cleanly
        assert process.stderr is not None
        assert "realtime-mock stopped" in process.stderr.read()


@pytest.mark.integration
def test_the_image_serves_tls_with_its_ca_in_a_mounted_folder(
    engine: str, images: dict[str, str], tmp_path: Path
) -> None:
    commands = _ci_doc_commands()
    mkdir = commands[commands.index(_documented_run(IMAGE, "realtime-mock")) - 1]
    assert mkdir == "mkdir -p certs"
    assert _run(["/bin/sh", "-c", mkdir], timeout=30, cwd=tmp_path).returncode == 0
    command = _documented_run(IMAGE, "realtime-mock")
    with _container_mock(engine, command, images[IMAGE], tmp_path) as (name, line, port, _):
        assert f"wss://127.0.0.1:{MOCK_PORT}/v1/realtime" in line, line
        ca = tmp_path / "certs" / "ca.pem"
        assert ca.is_file(), "the CA is not in the mounted folder"
        url = f"wss://127.0.0.1:{port}/v1/realtime"
        untrusted = _notes(url, tmp_path, SSL_CERT_FILE=os.devnull)
        assert untrusted.returncode != 0
        notes = _notes(url, tmp_path, SSL_CERT_FILE=str(ca))
        assert notes.returncode == 0, notes.stderr
        assert "PNG 64x40" in notes.stdout
        assert _run([engine, "stop", "--time", "20", name], timeout=60).returncode == 0


@pytest.mark.integration
def test_the_image_runs_the_documented_gate(
    engine: str, images: dict[str, str], tmp_path: Path
) -> None:
    command = _documented_run(IMAGE, "realtime-conformance")
    command = command.replace(f" {IMAGE} ", f" {images[IMAGE]} ", 1).replace("docker", engine, 1)
    done = _run(["/bin/sh", "-c", command], timeout=300, cwd=tmp_path)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
    assert "2 cases: 2 OK" in done.stdout
    assert "<testsuite" in (tmp_path / "junit.xml").read_text(encoding="utf-8")
    assert (tmp_path / "realtime-conformance-report" / "report.html").is_file()


@pytest.mark.integration
def test_the_node_image_gates_the_sdk_example(
    engine: str, images: dict[str, str], tmp_path: Path
) -> None:
    node_dir = ROOT / "examples" / "node"
    if not (node_dir / "node_modules" / "openai" / "package.json").is_file():
        pytest.skip("examples/node has no openai package: npm ci --prefix examples/node")
    command = _documented_run(f"{IMAGE}:node", "realtime-conformance")
    mount = f"-v {node_dir}:/examples:ro"
    command = (
        command.replace(f" {IMAGE}:node ", f" {mount} {images[IMAGE + ':node']} ", 1)
        .replace("docker", engine, 1)
        .replace("node dist/hud.js", "node /examples/sdk-notes.mjs")
    )
    done = _run(["/bin/sh", "-c", command + " --cases default,tolerant"], timeout=300, cwd=tmp_path)
    assert done.returncode == 0, f"{command}:\n{done.stdout[-3000:]}{done.stderr[-2000:]}"
    assert "2 cases: 2 OK" in done.stdout
