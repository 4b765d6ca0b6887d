"""`run --screenshot FILE`: the user's own images, checked at start and judged by size."""

from __future__ import annotations

import os
import random
import struct
import zlib
from pathlib import Path

import pytest

from conformance.cli import main
from conformance.protocol.errors import UsageError
from conformance.runner import make_inputs, screenshot_png
from conformance.runner.inputs import check_screenshot

from .support import REFERENCE, checks_of, script, suite

RAW_CLIENT = """\
import asyncio, base64, json, os, sys
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

async def main():
    url = os.environ["OPENAI_REALTIME_URL"] + "?model=" + os.environ["REALTIME_MODEL"]
    headers = {"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]}
    data = open(os.environ["REALTIME_SCREENSHOT"], "rb").read()  # sent as it is
    image = "data:image/png;base64," + base64.b64encode(data).decode()
    async with connect(url, additional_headers=headers, max_size=None) as ws:
        part = {"type": "input_image", "image_url": image}
        item = {"type": "message", "role": "user", "content": [part]}
        await ws.send(json.dumps({"type": "conversation.item.create", "item": item}))
        await ws.send(json.dumps({"type": "response.create"}))
        try:
            async for frame in ws:
                event = json.loads(frame)
                if event["type"] == "response.output_text.delta":
                    print(event["delta"], end="", flush=True)
                if event["type"] == "response.done":
                    print(flush=True)
                    return 0
        except ConnectionClosed as exc:
            pass
        close = ws.close_rcvd
        print(f"error: closed {close.code if close else None} {close.reason if close else ''}",
              file=sys.stderr)
        return 1

sys.exit(asyncio.run(main()))
"""


def noisy_png(width: int, height: int, seed: int = 7) -> bytes:
    """A PNG of random RGB pixels: it does not compress, so it is about 3 x w x h bytes."""
    rng = random.Random(seed)
    raw = b"".join(b"\x00" + rng.randbytes(width * 3) for _ in range(height))

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body) & 0xFFFFFFFF
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            chunk(b"IHDR", header),
            chunk(b"IDAT", zlib.compress(raw, 1)),
            chunk(b"IEND", b""),
        )
    )


@pytest.fixture
def big_screenshot(tmp_path: Path) -> Path:
    """A ~1.5 MB PNG: as a data URL its frame is over 2 MB."""
    path = tmp_path / "full-screen.png"
    path.write_bytes(noisy_png(720, 700))
    assert 1_400_000 < path.stat().st_size < 1_600_000
    return path


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no such file"),
        (b"", "found an empty file"),
        (b"GIF89a\x01\x00", "expected a PNG or JPEG image"),
    ],
)
def test_a_screenshot_that_is_not_a_png_or_jpeg_is_refused_in_one_line(
    tmp_path: Path, content: bytes | None, message: str
) -> None:
    path = tmp_path / "shot.png"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UsageError, match=message) as info:
        check_screenshot(path)
    assert str(info.value).startswith(f"--screenshot {path}: ")
    assert "\n" not in str(info.value)
    with pytest.raises(UsageError, match="a folder"):
        check_screenshot(tmp_path)


def test_run_refuses_a_bad_screenshot_before_any_case(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "nope.png"
    out = tmp_path / "out"
    status = main(["run", "--client", "true", "--screenshot", str(missing), "--out", str(out)])
    _, err = capsys.readouterr()
    assert status == 2
    assert f"--screenshot {missing}: no such file" in err
    assert not out.exists()


def test_run_scenario_with_a_builtin_id_hints_at_cases(tmp_path: Path, capsys) -> None:
    os.chdir(tmp_path)  # no file of that name here
    status = main(["run", "--client", "true", "--scenario", "session-expired"])
    _, err = capsys.readouterr()
    assert status == 2
    assert "no such file or folder" in err
    assert "'session-expired' is a built-in case: run it with --cases session-expired" in err


def test_the_screenshots_are_copied_and_listed_in_the_environment(tmp_path: Path) -> None:
    png, jpeg = tmp_path / "a.png", tmp_path / "b.jpeg"
    png.write_bytes(screenshot_png(40, 30))
    jpeg.write_bytes(b"\xff\xd8\xff\xe0" + bytes(64))
    inputs = make_inputs(tmp_path / "inputs", screenshots=[png, jpeg])
    assert [p.name for p in inputs.all_screenshots] == ["screenshot.png", "screenshot-2.jpg"]
    assert inputs.screenshot == inputs.all_screenshots[0]
    assert inputs.screenshots[1].read_bytes() == jpeg.read_bytes()


async def test_the_client_gets_the_screenshot_variables(tmp_path: Path) -> None:
    first, second = tmp_path / "one.png", tmp_path / "two.png"
    first.write_bytes(screenshot_png(48, 30))
    second.write_bytes(screenshot_png(64, 40))
    dump = tmp_path / "env.txt"
    client = script(
        tmp_path,
        "dump.py",
        "import os\n"
        f"open({str(dump)!r}, 'w').write(os.environ['REALTIME_SCREENSHOT'] + '\\n' + "
        "os.environ['REALTIME_SCREENSHOTS'])\n",
    )
    await suite(client, tmp_path / "out", "default", screenshots=(first, second), timeout_s=10)
    shot, shots = dump.read_text().split("\n")
    assert shots.split(os.pathsep) == [shot, str(Path(shot).with_name("screenshot-2.png"))]
    assert Path(shot).name == "screenshot.png"  # the first, copied (see the test above)


async def test_a_full_size_screenshot_is_judged_on_image_too_large(
    tmp_path: Path, big_screenshot: Path
) -> None:
    shots = (big_screenshot,)
    reference = await suite(REFERENCE, tmp_path / "ref", "image-too-large", screenshots=shots)
    [result] = reference.results
    assert result.verdict.name != "FAILED", result.violations
    assert "limits_client_frame_size" in result.checks_run

    raw = script(tmp_path, "raw.py", RAW_CLIENT)
    sent_raw = await suite(raw, tmp_path / "raw", "image-too-large", screenshots=shots)
    [result] = sent_raw.results
    assert result.verdict.name == "FAILED"
    assert "limits_client_frame_size" in checks_of(result)
    [big] = [v for v in result.violations if v.check == "limits_client_frame_size"]
    assert "conversation.item.create frame of 2," in big.received
    [transcript] = result.transcripts
    closes = [(r.code, r.reason) for r in transcript if r.kind == "close"]
    assert closes[:1] == [(1009, "message too big")]
