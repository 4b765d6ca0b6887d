"""`realtime-notes`: argument checks before connecting, streamed output, exit codes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from client_reference import cli
from client_reference.watch import Watcher
from tests.client_reference.fake_server import (
    Close,
    Expect,
    FakeServer,
    Send,
    Signal,
    Stall,
    Step,
)
from tests.client_reference.support import API_KEY, JPEG, PNG
from tests.client_reference.wire import (
    configured,
    echo_error,
    echo_item,
    error_event,
    failed_response,
    text_turn,
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_REALTIME_URL", "OPENAI_BASE_URL", "MY_KEY"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "shot.png"
    path.write_bytes(PNG)
    return path


# ------------------------------------------------- before any connection (sync)
def test_a_missing_key_for_the_live_api_is_reported_before_connecting(
    png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([str(png)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: missing_api_key: $OPENAI_API_KEY is not set")
    assert "--url" in err


def test_the_key_variable_can_be_renamed(png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main([str(png), "--api-key-env", "MY_KEY"]) == 2
    assert "$MY_KEY is not set" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("content", "fragment"), [(None, "no such file"), (b"GIF89a....", "a GIF file")]
)
def test_a_bad_image_is_reported_before_connecting(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    content: bytes | None,
    fragment: str,
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    path = tmp_path / "shot.png"
    if content is not None:
        path.write_bytes(content)
    # Port 9 (discard) on loopback: any connection attempt would fail loudly with exit 4.
    assert cli.main([str(path), "--url", "ws://127.0.0.1:9/v1/realtime"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: invalid_image: ")
    assert fragment in err
    assert API_KEY not in err


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        ([], "give at least one IMAGE"),
        (["--watch", "/nonexistent/dir", "--url", "ws://127.0.0.1:9/v1"], "not a directory"),
        (["x.png", "--timeout", "0"], "--timeout must be a positive"),
        (["x.png", "--url", "http://127.0.0.1:9/v1/realtime"], "did you mean ws://"),
        (["--stdin", "--watch", "/tmp", "--url", "ws://127.0.0.1:9/v1"], "exclude each other"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], fragment: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(argv) == 2
    assert fragment in capsys.readouterr().err


def test_argparse_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["--auth", "cookie", "x.png"]) == 2
    assert "invalid choice" in capsys.readouterr().err


# ----------------------------------------------------------- against a server
@pytest.mark.integration
async def test_notes_stream_to_stdout_and_exit_0(
    png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = [*configured(), *text_turn("resp_0201", "Editor open. 3 errors.", deltas=3)]
    async with FakeServer(script) as server:
        code = await cli.amain([str(png), "--url", server.url, "--instructions", "Be terse."])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == "Editor open. 3 errors.\n"
    update = server.connections[0].received[0]
    assert update["session"]["instructions"] == "Be terse."
    assert update["session"]["output_modalities"] == ["text"]
    assert "OpenAI-Beta" not in server.connections[0].headers
    assert server.problems == []


@pytest.mark.integration
async def test_several_images_get_a_title_each_and_forget_deletes_them(
    png: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jpeg = tmp_path / "b.jpg"
    jpeg.write_bytes(JPEG)
    deleted = Send(
        lambda ctx: {
            "type": "conversation.item.deleted",
            "event_id": "event_d" + ctx.last["item_id"][-1],
            "item_id": ctx.last["item_id"],
        }
    )
    script = [
        *configured(),
        *text_turn("resp_0301", "one", deltas=1),
        Expect("conversation.item.delete"),
        deleted,
        *text_turn("resp_0302", "two", deltas=1),
        Expect("conversation.item.delete"),
        deleted,
    ]
    async with FakeServer(script) as server:
        code = await cli.amain([str(png), str(jpeg), "--url", server.url, "--forget"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == f"== {png} ==\none\n== {jpeg} ==\ntwo\n"
    assert server.problems == []


@pytest.mark.integration
async def test_an_api_error_exits_3_with_code_and_message(
    png: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = [
        *configured(),
        Expect("conversation.item.create"),
        echo_error("invalid_value", "Invalid 'item.content[0].image_url'.", param="x"),
    ]
    async with FakeServer(script) as server:
        code = await cli.amain([str(png), "--url", server.url])
    assert code == 3
    assert capsys.readouterr().err.startswith(
        "error: invalid_value: Invalid 'item.content[0].image_url'."
    )


@pytest.mark.integration
async def test_a_close_exits_4_and_the_key_is_never_printed(
    png: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", API_KEY)
    # A server that quotes the key back (as "Incorrect API key provided: …" does).
    message = f"Incorrect API key provided: {API_KEY}."
    script: list[Step] = [
        Send(error_event("invalid_api_key", message)),
        Close(3000, "invalid_request_error.invalid_api_key"),
    ]
    async with FakeServer(script) as server:
        code = await cli.amain([str(png), "--url", server.url, "-vv"])
    out, err = capsys.readouterr()
    assert code == 4
    assert "error: connection_closed: server closed the connection: 3000" in err
    assert "hint: the server rejected the credentials: check the key in OPENAI_API_KEY" in err
    assert API_KEY not in err
    assert API_KEY not in out
    assert server.connections[0].headers["Authorization"] == f"Bearer {API_KEY}"


@pytest.mark.integration
async def test_a_stalled_server_exits_5(png: Path, capsys: pytest.CaptureFixture[str]) -> None:
    async with FakeServer([*configured(), Expect("conversation.item.create"), Stall()]) as server:
        code = await cli.amain([str(png), "--url", server.url, "--timeout", "0.2"])
    assert code == 5
    err = capsys.readouterr().err
    assert "error: timeout: timed out after 0.2 s waiting for response.created" in err


@pytest.mark.integration
async def test_openai_base_url_is_honoured(
    png: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    script = [*configured(), *text_turn("resp_0401", "ok", deltas=1)]
    async with FakeServer(script) as server:
        base = server.url.replace("ws://", "http://").removesuffix("/realtime")
        monkeypatch.setenv("OPENAI_BASE_URL", base)
        assert await cli.amain([str(png)]) == 0
    assert capsys.readouterr().out == "ok\n"


@pytest.mark.integration
async def test_watch_sends_each_new_image_until_the_limit(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "shots"
    folder.mkdir()
    (folder / "old.png").write_bytes(PNG)  # present before the start: not sent
    script = [
        *configured(),
        Signal("watching"),
        *text_turn("resp_0501", "new shot", deltas=2),
    ]
    async with FakeServer(script) as server:
        args = [
            "--watch",
            str(folder),
            "--watch-limit",
            "1",
            "--poll",
            "0.01",
            "--url",
            server.url,
        ]
        run = asyncio.create_task(cli.amain(args))
        await asyncio.wait_for(server.signals["watching"].wait(), 5)
        (folder / "notes.txt").write_text("not an image suffix: ignored")
        (folder / "new.png").write_bytes(PNG)
        code = await asyncio.wait_for(run, 10)
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out == f"== {folder / 'new.png'} ==\nnew shot\n"
    assert server.problems == []


async def test_the_watcher_skips_hidden_files_and_waits_for_a_stable_size(tmp_path: Path) -> None:
    watcher = Watcher(tmp_path, suffixes={".png"}, interval=0.01)
    (tmp_path / ".hidden.png").write_bytes(PNG)
    (tmp_path / "a.PNG").write_bytes(PNG)
    found = [path async for path in watcher.new_files(limit=1)]
    assert found == [tmp_path / "a.PNG"]


@pytest.mark.integration
async def test_watch_reports_a_failed_note_and_goes_on(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    details = {"type": "incomplete", "reason": "content_filter"}
    script = [
        *configured(),
        Signal("watching"),
        Expect("conversation.item.create"),
        Send(echo_item),
        Expect("response.create"),
        Send(*failed_response("resp_0601", "incomplete", details)),
        Signal("first_done"),
        *text_turn("resp_0602", "second is fine", deltas=1),
    ]
    async with FakeServer(script) as server:
        args = ["--watch", str(tmp_path), "--watch-limit", "2", "--poll", "0.01"]
        run = asyncio.create_task(cli.amain([*args, "--url", server.url]))
        await asyncio.wait_for(server.signals["watching"].wait(), 5)
        (tmp_path / "a.png").write_bytes(PNG)
        await asyncio.wait_for(server.signals["first_done"].wait(), 5)
        (tmp_path / "b.png").write_bytes(PNG)
        code = await asyncio.wait_for(run, 10)
    out, err = capsys.readouterr()
    assert code == 3
    assert "error: content_filter: " in err
    assert err.rstrip().endswith("error: watch: 1 screenshot(s) got no notes")
    assert out.endswith(f"== {tmp_path / 'b.png'} ==\nsecond is fine\n")
