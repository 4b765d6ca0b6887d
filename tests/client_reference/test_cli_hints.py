"""`realtime-notes` hints lead to a command that works (no key against a local mock)."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from client_reference import cli
from mock_server.server import serve
from tests.client_reference.support import PNG


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_REALTIME_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)


def test_the_missing_key_hint_names_a_key_for_the_mock(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(PNG)
    assert cli.main([str(shot)]) == cli.EXIT_USAGE
    err = capsys.readouterr().err
    assert "set OPENAI_API_KEY to any value (sk-test)" in err
    assert "--url ws://127.0.0.1:PORT/v1/realtime" in err


async def test_no_key_against_the_mock_hints_how_to_send_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(PNG)
    async with serve(port=0) as server:
        status = await cli.amain([str(shot), "--url", server.url, "--timeout", "5"])
    assert status == cli.EXIT_CLOSED
    err = capsys.readouterr().err
    assert "3000" in err
    assert "no key was sent: set OPENAI_API_KEY" in err
    assert "OPENAI_API_KEY=sk-test" in err


async def test_with_any_key_the_mock_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    shot = tmp_path / "shot.png"
    shot.write_bytes(PNG)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    async with serve(port=0) as server:
        status = await asyncio.wait_for(
            cli.amain([str(shot), "--url", server.url, "--timeout", "5"]), 20
        )
    assert status == cli.EXIT_OK
    assert "Screenshot 1: PNG" in capsys.readouterr().out
