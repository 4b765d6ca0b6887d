"""TLS: the cached local CA, `MockServer(tls=...)`, `realtime-mock serve --tls`, `run --tls`.

Every test keeps its certificates in its own folder (`XDG_CACHE_HOME` or `--tls-dir`
under tmp_path): nothing is written to the user's cache.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import http.client
import os
import re
import shlex
import ssl
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography import x509
from websockets.asyncio.client import connect

from conformance import _json
from conformance.protocol.errors import UsageError
from conformance.runner.inputs import screenshot_png
from mock_server import serve
from mock_server.cli import main
from mock_server.tls import (
    CA_FILE,
    CA_KEY_FILE,
    CERT_FILE,
    EXTRA_MESSAGE,
    KEY_FILE,
    TlsFiles,
    local_tls,
    own_tls,
    tls_dir,
    trust_env,
)
from tests.processes import finished, reaped

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 20.0
KEY = "sk-test-tls-000000000"
LINE = re.compile(r"listening on (wss://127\.0\.0\.1:(\d+)/v1/realtime) \(OPENAI_BASE_URL=(\S+)\)")


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The default certificate folder of every test: under its tmp_path."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "realtime-conformance" / "tls"


def _client_context(files: TlsFiles) -> ssl.SSLContext:
    """Python's default client context trusting `files.ca`, X.509-strict (the default of
    Python 3.13+: the CA needs key usage, the leaf an authority key identifier)."""
    context = ssl.create_default_context(cafile=files.ca)
    context.verify_flags |= ssl.VERIFY_X509_STRICT
    return context


async def _first_event_type(url: str, context: ssl.SSLContext) -> str:
    """Connect to the mock at wss `url` trusting `context`; the first event's type."""
    async with connect(
        f"{url}?model=gpt-realtime",
        additional_headers={"Authorization": f"Bearer {KEY}"},
        ssl=context,
        open_timeout=TIMEOUT,
        proxy=None,
    ) as ws:
        return str(_json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["type"])


def _names(path: Path) -> set[str]:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    return {str(name.value) for name in names}


# --------------------------------------------------------------------------- the cache


def test_local_tls_makes_a_ca_and_a_server_certificate_private_keys_0600(cache: Path) -> None:
    files = local_tls()
    assert files == TlsFiles(cert=cache / CERT_FILE, key=cache / KEY_FILE, ca=cache / CA_FILE)
    assert tls_dir() == cache
    assert cache.stat().st_mode & 0o777 == 0o700
    for private in (KEY_FILE, CA_KEY_FILE):
        assert (cache / private).stat().st_mode & 0o777 == 0o600, private
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert _names(files.cert) == {"localhost", "127.0.0.1", "::1"}
    path = str(files.ca)
    assert trust_env(files) == {"NODE_EXTRA_CA_CERTS": path, "SSL_CERT_FILE": path}


def test_local_tls_reuses_valid_files_and_tightens_key_permissions(cache: Path) -> None:
    local_tls()
    before = {p.name: p.read_bytes() for p in cache.glob("*.pem")}
    (cache / KEY_FILE).chmod(0o644)
    local_tls()
    assert {p.name: p.read_bytes() for p in cache.glob("*.pem")} == before
    assert (cache / KEY_FILE).stat().st_mode & 0o777 == 0o600


def test_an_expiring_server_certificate_is_replaced_by_the_same_ca(cache: Path) -> None:
    local_tls()
    ca, cert = (cache / CA_FILE).read_bytes(), (cache / CERT_FILE).read_bytes()
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=364)  # the leaf lasts 365 days
    files = local_tls(now=later)
    assert files.ca.read_bytes() == ca  # clients that trust the CA keep trusting the mock
    assert files.cert.read_bytes() != cert
    new = x509.load_pem_x509_certificate(files.cert.read_bytes())
    assert new.not_valid_after_utc > later + dt.timedelta(days=300)


def test_an_expiring_ca_is_replaced_with_its_certificate(cache: Path) -> None:
    local_tls()
    ca = (cache / CA_FILE).read_bytes()
    files = local_tls(now=dt.datetime.now(dt.UTC) + dt.timedelta(days=3640))
    assert files.ca.read_bytes() != ca


@pytest.mark.parametrize("broken", [CERT_FILE, KEY_FILE, CA_FILE, CA_KEY_FILE])
def test_a_corrupt_or_missing_file_is_regenerated(cache: Path, broken: str) -> None:
    local_tls()
    (cache / broken).write_bytes(b"-----BEGIN CERTIFICATE-----\nnot base64\n")
    files = local_tls()
    own_tls(files.cert, files.key)  # the key and the certificate match again
    x509.load_pem_x509_certificate(files.ca.read_bytes())
    (cache / broken).unlink()
    files = local_tls()
    assert (cache / broken).is_file()
    own_tls(files.cert, files.key)


def test_a_server_certificate_from_another_ca_is_replaced(tmp_path: Path, cache: Path) -> None:
    other = local_tls(tmp_path / "other")
    local_tls()
    for name in (CERT_FILE, KEY_FILE):  # a leaf that does not chain to this folder's CA
        (cache / name).write_bytes((other.cert.parent / name).read_bytes())
    files = local_tls()
    assert files.cert.read_bytes() != other.cert.read_bytes()
    ca = x509.load_pem_x509_certificate(files.ca.read_bytes())
    x509.load_pem_x509_certificate(files.cert.read_bytes()).verify_directly_issued_by(ca)


def test_tls_dir_follows_xdg_cache_home_else_home(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere/cache")
    assert tls_dir() == Path("/somewhere/cache/realtime-conformance/tls")
    monkeypatch.setenv("XDG_CACHE_HOME", "relative")  # ignored, as the XDG spec says
    assert tls_dir() == Path.home() / ".cache" / "realtime-conformance" / "tls"


def test_without_cryptography_generation_says_which_extra_but_own_files_work(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    files = local_tls(tmp_path / "made")  # made while the package is there
    monkeypatch.setitem(sys.modules, "cryptography", None)  # import cryptography fails
    with pytest.raises(UsageError) as caught:
        local_tls(tmp_path / "new")
    assert str(caught.value) == EXTRA_MESSAGE
    assert "\n" not in EXTRA_MESSAGE
    assert "'tls' extra" in EXTRA_MESSAGE
    assert "--cert" in EXTRA_MESSAGE
    assert own_tls(files.cert, files.key).ca == files.cert


def test_own_files_that_do_not_match_are_refused_in_one_line(tmp_path: Path) -> None:
    one, two = local_tls(tmp_path / "one"), local_tls(tmp_path / "two")
    with pytest.raises(UsageError, match=r"cannot serve the certificate .* with the key"):
        own_tls(one.cert, two.key)
    with pytest.raises(UsageError, match="no such file"):
        own_tls(tmp_path / "nowhere.pem", one.key)


# --------------------------------------------------------------------------- the server


@pytest.mark.integration
async def test_a_tls_mock_serves_wss_and_https_to_a_client_trusting_its_ca() -> None:
    async with serve(port=0, tls=True, pace="fast") as server:
        assert server.url.startswith("wss://127.0.0.1:")
        assert server.base_url == f"https://127.0.0.1:{server.port}/v1"
        files = TlsFiles(
            cert=Path(), key=Path(), ca=Path(server.tls_env["SSL_CERT_FILE"])
        )  # only the CA matters to a client
        assert await _first_event_type(server.url, _client_context(files)) == "session.created"
        status, body = await asyncio.to_thread(_https_get, server.port, _client_context(files))
        assert status == 404  # an unknown path gets OpenAI's JSON error, over TLS
        assert "error" in _json.loads(body)
        with pytest.raises(ssl.SSLCertVerificationError):  # a client that trusts another CA
            async with connect(
                f"{server.url}?model=gpt-realtime",
                ssl=_untrusting(),
                open_timeout=TIMEOUT,
                proxy=None,
            ):
                pass


def _untrusting() -> ssl.SSLContext:
    """A verifying client context that trusts no CA at all."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = True
    context.verify_mode = ssl.CERT_REQUIRED
    return context


def _https_get(port: int, context: ssl.SSLContext) -> tuple[int, bytes]:
    connection = http.client.HTTPSConnection("127.0.0.1", port, context=context, timeout=TIMEOUT)
    try:
        connection.request("GET", "/v1/nothing-here")
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


async def test_a_plain_mock_has_no_tls_env() -> None:
    async with serve(port=0) as server:
        assert server.tls_env == {}
        assert server.url.startswith("ws://")
        assert server.base_url.startswith("http://")


# --------------------------------------------------------------------------- realtime-notes


async def _notes(url: str, env: dict[str, str], screenshot: Path) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "client_reference.cli", str(screenshot), "--url", url,
        "--timeout", "10",
        cwd=ROOT,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    status, out, err = await finished(proc, within_s=TIMEOUT)
    return status, out.decode(), err.decode()


@pytest.mark.integration
async def test_realtime_notes_over_wss_trusts_the_mock_through_ssl_cert_file(
    tmp_path: Path,
) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(screenshot_png(320, 200))
    base = {k: v for k, v in os.environ.items() if k not in ("SSL_CERT_FILE", "SSL_CERT_DIR")}
    base["OPENAI_API_KEY"] = KEY
    async with serve(port=0, tls=True, pace="fast") as server:
        trusted = {**base, "SSL_CERT_FILE": server.tls_env["SSL_CERT_FILE"]}
        code, out, err = await _notes(server.url, trusted, shot)
        assert code == 0, err
        assert "PNG 320x200" in out  # the mock's reply names the screenshot
        code, out, err = await _notes(server.url, base, shot)
    assert code != 0
    assert out == ""
    [line] = [line for line in err.splitlines() if line.startswith("error:")]
    assert "the server's TLS certificate is not trusted" in line, err
    assert "SSL_CERT_FILE=" in line
    assert KEY not in err


@pytest.mark.integration
async def test_the_python_sdk_reaches_a_tls_mock_ws_and_rest_with_base_url_and_ssl_cert_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    openai = pytest.importorskip("openai")
    async with serve(port=0, tls=True, pace="fast") as server:
        # OpenSSL reads SSL_CERT_FILE when a default context loads its CAs: websockets'
        # (the SDK's WebSocket) and httpx's (its REST calls) alike.
        monkeypatch.setenv("SSL_CERT_FILE", server.tls_env["SSL_CERT_FILE"])
        client = openai.AsyncOpenAI(api_key=KEY, base_url=server.base_url)
        async with (
            asyncio.timeout(TIMEOUT),
            client.realtime.connect(model="gpt-realtime-1.5") as connection,
        ):
            event = await connection.recv()
        assert event.type == "session.created"
        # REST on the same port over https: a back end mints a key, a browser-like client
        # opens a wss:// session with it.
        async with asyncio.timeout(TIMEOUT):
            secret = await client.realtime.client_secrets.create(
                session={"type": "realtime", "model": "gpt-realtime-1.5"}
            )
        assert secret.value.startswith("ek_")
        browser = openai.AsyncOpenAI(api_key=secret.value, base_url=server.base_url)
        async with (
            asyncio.timeout(TIMEOUT),
            browser.realtime.connect(model="gpt-realtime-1.5") as connection,
        ):
            event = await connection.recv()
        assert event.type == "session.created"


# --------------------------------------------------------------------------- realtime-mock serve


@pytest.mark.integration
async def test_serve_tls_prints_the_wss_url_and_the_trust_lines(tmp_path: Path) -> None:
    folder = tmp_path / "certs"
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "mock_server", "serve", "--tls", "--tls-dir", str(folder),
        "--port", "0", "--pace", "fast",
        cwd=ROOT,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    async with reaped(proc):
        assert proc.stdout is not None
        lines = [
            (await asyncio.wait_for(proc.stdout.readline(), TIMEOUT)).decode().strip()
            for _ in range(3)
        ]
        match = LINE.search(lines[0])
        assert match, lines
        url, port, base_url = match.groups()
        assert base_url == f"https://127.0.0.1:{port}/v1"
        ca = str((folder / CA_FILE).resolve())
        assert lines[1:] == [f"NODE_EXTRA_CA_CERTS={ca}", f"SSL_CERT_FILE={ca}"]
        trusting = ssl.create_default_context(cafile=ca)
        assert await _first_event_type(url, trusting) == "session.created"
        proc.terminate()
        _, err = await asyncio.wait_for(proc.communicate(), TIMEOUT)
        assert proc.returncode == 0, err.decode()


@pytest.mark.integration
def test_serve_with_own_cert_and_key(tmp_path: Path) -> None:
    files = local_tls(tmp_path / "mine")
    proc = subprocess.Popen(
        [sys.executable, "-m", "mock_server", "serve", "--port", "0",
         "--cert", str(files.cert), "--key", str(files.key)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        first, second = proc.stdout.readline(), proc.stdout.readline()
        assert LINE.search(first), first
        assert second.strip() == f"NODE_EXTRA_CA_CERTS={files.cert.resolve()}"
    finally:
        proc.terminate()
        proc.communicate(timeout=TIMEOUT)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cert", "c.pem"], "--cert needs --key too"),
        (["--key", "k.pem"], "--key needs --cert too"),
        (["--tls-dir", "somewhere"], "--tls-dir goes with --tls"),
        (["--cert", "nowhere.pem", "--key", "nowhere.pem"], "TLS: no such file: "),
    ],
)
def test_serve_tls_usage_errors_are_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--port", "0", *args]) == 2
    out, err = capsys.readouterr()
    assert "listening" not in out
    assert err.count("\n") == 1, err
    assert message in err


def test_serve_tls_without_the_extra_names_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "cryptography", None)
    assert main(["serve", "--port", "0", "--tls"]) == 2
    err = capsys.readouterr().err
    assert err == f"realtime-mock: error: {EXTRA_MESSAGE}\n"


# --------------------------------------------------------------------------- run --tls


@pytest.mark.integration
def test_run_tls_judges_realtime_notes_ok_over_wss(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], cache: Path
) -> None:
    from conformance.cli import main as conformance_main

    python = shlex.quote(sys.executable)
    client = (
        'printf "%s|%s|%s|%s\\n" "$OPENAI_REALTIME_URL" "$OPENAI_BASE_URL" '
        '"$SSL_CERT_FILE" "$NODE_EXTRA_CA_CERTS"; '
        f'{python} -m client_reference.cli "$REALTIME_SCREENSHOT" --timeout 10'
    )
    status = conformance_main(
        ["run", "--tls", "--cases", "default,tolerant,benign-errors-mid-session",
         "--out", str(tmp_path / "out"), "--client", client, "--jobs", "2"]
    )  # fmt: skip
    out, err = capsys.readouterr()
    assert status == 0, out + err
    assert "3 cases: 3 OK" in out
    assert "over TLS" in err
    ca = str(cache / CA_FILE)
    for case in ("default", "tolerant"):
        stdout = (tmp_path / "out" / "cases" / case / "stdout.txt").read_text()
        url, base_url, cert_file, node_file = stdout.splitlines()[0].split("|")
        assert url.startswith("wss://127.0.0.1:"), stdout
        assert base_url.startswith("https://127.0.0.1:"), stdout
        assert cert_file == node_file == ca


# --------------------------------------------------------------------------- pytest plugin


class _Node:
    """What `_mock_config` and `_marked_tls` read of a test item: its `realtime_scenario`
    markers, closest first (this repository's runs disable the plugin and its marker)."""

    def __init__(self, *marks: dict[str, Any]) -> None:
        self.marks = [SimpleNamespace(name="realtime_scenario", args=(), kwargs=m) for m in marks]

    def iter_markers(self, name: str) -> list[SimpleNamespace]:
        return [mark for mark in self.marks if mark.name == name]


@pytest.mark.integration
def test_the_plugin_marker_tls_true_serves_wss() -> None:
    from conformance.pytest_plugin import RealtimeMock, _marked_tls, _mock_config

    function, module = {"tls": True, "pace": "fast"}, {"tls": False}
    node = _Node(function, module)
    assert _marked_tls(node) is True  # type: ignore[arg-type]
    assert _marked_tls(_Node(module)) is False  # type: ignore[arg-type]
    options = SimpleNamespace(getoption=lambda name, default: None, getini=lambda name: "")
    config = _mock_config(node, options)  # type: ignore[arg-type]
    assert config.pace == "fast"
    mock = RealtimeMock(config, tls=True)
    try:
        assert mock.url.startswith("wss://")
        trusting = ssl.create_default_context(cafile=mock.tls_env["SSL_CERT_FILE"])
        assert asyncio.run(_first_event_type(mock.url, trusting)) == "session.created"
    finally:
        mock.close()
