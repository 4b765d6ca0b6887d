"""What the client under test is given: a test key, a screenshot, a prompt, the environment.

The environment contract (docs/runner.md) is the only interface between the runner and a
client written in any language::

    inputs = make_inputs(out_dir / "inputs")
    env = client_env(inputs, url=server.url, base_url=server.base_url, case_id="default")
"""

from __future__ import annotations

import fnmatch
import math
import os
import secrets
import shutil
import struct
import wave
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Final

from conformance.protocol.errors import UsageError
from conformance.transcript import redact

MODEL: Final = "gpt-realtime-1.5"
TRANSLATION_MODEL: Final = "gpt-realtime-translate"
TRANSLATIONS_PATH: Final = "/translations"  # `$REALTIME_TRANSLATION_URL` = realtime URL + this
AUDIO_RATE: Final = 24_000  # `$REALTIME_AUDIO`: 24 kHz PCM16 mono, what translation takes
AUDIO_MS: Final = 1_000  # 5 frames of 200 ms, every one of them speech-like (not silence)
PROMPT: Final = (
    "You are a heads-up display. Write terse notes about the screenshot: what is on "
    "screen and anything that needs attention. No preamble, at most five short lines."
)
SCREENSHOT_SIZE: Final = (320, 200)
# The variables a client under test gets (besides what it inherits: `inherited_env`).
CONTRACT: Final = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_REALTIME_URL",
    "REALTIME_MODEL",
    "REALTIME_SCREENSHOT",
    "REALTIME_SCREENSHOTS",
    "REALTIME_PROMPT",
    "REALTIME_PROMPT_TEXT",
    "REALTIME_CASE",
    "REALTIME_NOTES_FILE",
    "REALTIME_TRANSLATION_URL",
    "REALTIME_TRANSLATION_MODEL",
    "REALTIME_AUDIO",
)
# What a client inherits from the runner's environment (docs/runner.md, "The environment
# contract"): these names, and names with these prefixes unless they name a credential.
# Nothing else: no OPENAI_* (but the contract's), AZURE_*, AWS_*, no *KEY*, *SECRET*,
# *TOKEN*, *PASSWORD*. `run --pass-env NAME` adds more.
INHERITED: Final = frozenset(
    {
        *("PATH", "HOME", "USER", "LOGNAME", "SHELL", "PWD"),
        *("LANG", "LANGUAGE", "TZ", "TERM", "COLORTERM", "NO_COLOR", "FORCE_COLOR", "CI"),
        *("TMPDIR", "TEMP", "TMP"),
        *("SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "REQUESTS_CA_BUNDLE"),
        *("VIRTUAL_ENV", "CONDA_PREFIX", "JAVA_HOME", "GOPATH", "GOROOT", "GOCACHE"),
        *("GOMODCACHE", "CARGO_HOME", "RUSTUP_HOME", "DOTNET_ROOT"),
        *("DISPLAY", "WAYLAND_DISPLAY", "XAUTHORITY", "DBUS_SESSION_BUS_ADDRESS"),
        "BROKEN_CLIENT_BUG",  # examples/broken_client.py's switch (examples/README.md)
    }
)
INHERITED_PREFIXES: Final = ("LC_", "NODE_", "npm_", "PYTHON", "XDG_")
CREDENTIAL_WORDS: Final = ("KEY", "SECRET", "TOKEN", "PASSWORD", "PASSWD", "CREDENTIAL", "AUTH")
NOTES_FILE: Final = "notes.txt"  # `$REALTIME_NOTES_FILE`, in the case's folder
NOTES_LIMIT: Final = 1 << 20  # bytes of the notes file the checks read at most


@dataclass(frozen=True, slots=True, kw_only=True)
class RunInputs:
    """The files and the key one run hands every client (the key never shows in `repr`)."""

    api_key: str = field(repr=False)
    screenshot: Path
    prompt_file: Path
    prompt: str
    model: str = MODEL
    screenshots: tuple[Path, ...] = ()  # every screenshot (the first is `screenshot`)
    audio: Path | None = None  # `$REALTIME_AUDIO`: a WAV for translation clients
    translation_model: str = TRANSLATION_MODEL

    @property
    def all_screenshots(self) -> tuple[Path, ...]:
        """Every screenshot of the run, `screenshot` first."""
        return self.screenshots or (self.screenshot,)

    def redact(self, text: str) -> str:
        """`text` with the test key (and anything key-shaped) masked."""
        return redact(text, [self.api_key])


def new_test_key() -> str:
    """A fresh `sk-test-…` key: accepted by the mock, useless anywhere else."""
    return "sk-test-" + secrets.token_urlsafe(24).replace("-", "x").replace("_", "y")


def make_inputs(
    directory: Path,
    *,
    prompt: str = PROMPT,
    model: str = MODEL,
    screenshots: Sequence[Path] = (),
) -> RunInputs:
    """Write the screenshots and the prompt file into `directory`; pick a new key.

    Without `screenshots` a 320x200 test PNG is generated; with them, each is checked
    (`check_screenshot`) and copied as `screenshot.<ext>`, `screenshot-2.<ext>`, ….

    Raises:
        UsageError: a screenshot is missing, unreadable, or not a PNG or JPEG.
    """
    kinds = [check_screenshot(path) for path in screenshots]
    directory.mkdir(parents=True, exist_ok=True)
    copies: list[Path] = []
    for number, (path, kind) in enumerate(zip(screenshots, kinds, strict=True), 1):
        copy = directory / f"screenshot{'' if number == 1 else f'-{number}'}.{kind}"
        shutil.copyfile(path, copy)
        copies.append(copy.resolve())
    screenshot = directory / "screenshot.png"
    if not copies:
        screenshot.write_bytes(screenshot_png(*SCREENSHOT_SIZE))
    prompt_file = directory / "prompt.txt"
    prompt_file.write_text(prompt + "\n", encoding="utf-8")
    audio = directory / "speech.wav"
    write_speech_wav(audio)
    return RunInputs(
        api_key=new_test_key(),
        screenshot=copies[0] if copies else screenshot.resolve(),
        screenshots=tuple(copies),
        prompt_file=prompt_file.resolve(),
        prompt=prompt,
        model=model,
        audio=audio.resolve(),
    )


def inherited_env(base: Mapping[str, str], pass_env: Sequence[str] = ()) -> dict[str, str]:
    """The part of the runner's environment `base` a client under test gets.

    The names in `INHERITED`, and those starting with one of `INHERITED_PREFIXES` that do
    not hold a credential word (`CREDENTIAL_WORDS`, any case: `npm_config__authToken`
    stays out); plus every name matching one of `pass_env` (names or globs, `run
    --pass-env`), whatever it holds: the user asked for it.
    """
    return {
        name: value
        for name, value in base.items()
        if _inherited(name) or any(fnmatch.fnmatchcase(name, p) for p in pass_env)
    }


def _inherited(name: str) -> bool:
    if name in INHERITED:
        return True
    upper = name.upper()
    return name.startswith(INHERITED_PREFIXES) and not any(w in upper for w in CREDENTIAL_WORDS)


def client_env(
    inputs: RunInputs,
    *,
    url: str,
    base_url: str,
    case_id: str,
    base: Mapping[str, str] | None = None,
    notes_file: Path | None = None,
    pass_env: Sequence[str] = (),
) -> dict[str, str]:
    """The environment of one client process: what it inherits, then the contract.

    Without `base`, it inherits the runner's `os.environ` through `inherited_env` (an
    allow-list: no credential other than the test key reaches the client, so none can
    leak into its output and the reports), plus `pass_env`. A `base` given by the caller
    is taken as it is. `PYTHONUNBUFFERED=1` is set too, so a Python client killed at the
    time limit still leaves its output. `REALTIME_NOTES_FILE` is set when `notes_file` is
    given (the runner always gives one: a path in the case's folder the client may write
    its replies to).
    """
    env = inherited_env(os.environ, pass_env) if base is None else dict(base)
    env.update(
        OPENAI_API_KEY=inputs.api_key,
        OPENAI_BASE_URL=base_url,
        OPENAI_REALTIME_URL=url,
        REALTIME_MODEL=inputs.model,
        REALTIME_TRANSLATION_URL=url.rstrip("/") + TRANSLATIONS_PATH,
        REALTIME_TRANSLATION_MODEL=inputs.translation_model,
        REALTIME_SCREENSHOT=str(inputs.screenshot),
        REALTIME_SCREENSHOTS=os.pathsep.join(str(p) for p in inputs.all_screenshots),
        REALTIME_PROMPT=str(inputs.prompt_file),
        REALTIME_PROMPT_TEXT=inputs.prompt,
        REALTIME_CASE=case_id,
        PYTHONUNBUFFERED="1",
    )
    if notes_file is not None:
        env["REALTIME_NOTES_FILE"] = str(notes_file)
    if inputs.audio is not None:
        env["REALTIME_AUDIO"] = str(inputs.audio)
    return env


def read_notes(path: Path, limit: int = NOTES_LIMIT) -> str:
    """The first `limit` bytes of the notes file a client wrote, as text ("" if none)."""
    try:
        with path.open("rb") as file:
            data = file.read(limit)
    except OSError:  # not written (most clients print instead), or not a file
        return ""
    return data.decode("utf-8", errors="replace")


def check_screenshot(path: Path) -> str:
    """`png` or `jpg` for a readable PNG or JPEG file (by its magic bytes).

    Raises:
        UsageError: one line saying what is wrong with `--screenshot path`.
    """
    try:
        with path.open("rb") as file:
            head = file.read(8)
    except FileNotFoundError:
        raise UsageError(f"--screenshot {path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"--screenshot {path}: a folder, not an image file") from None
    except OSError as exc:
        raise UsageError(f"--screenshot {path}: cannot read it ({exc.strerror})") from None
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "jpg"
    found = "an empty file" if not head else f"a file starting with {head!r}"
    raise UsageError(
        f"--screenshot {path}: expected a PNG or JPEG image (the formats the Realtime API "
        f"takes), found {found}"
    )


def write_speech_wav(path: Path, *, ms: int = AUDIO_MS) -> Path:
    """Write `$REALTIME_AUDIO`: `ms` of 24 kHz PCM16 mono, a deterministic speech-like
    sound (a tone whose pitch and loudness move, never silence: every 200 ms frame of it
    is translated)."""
    count = AUDIO_RATE * ms // 1000
    samples = []
    for n in range(count):
        t = n / AUDIO_RATE
        pitch = 180.0 + 60.0 * math.sin(2 * math.pi * 3.0 * t)  # a voice-like glide
        level = 0.35 + 0.15 * math.sin(2 * math.pi * 4.0 * t)  # syllable-like loudness
        samples.append(int(32767 * level * math.sin(2 * math.pi * pitch * t)))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(AUDIO_RATE)
        out.writeframes(struct.pack(f"<{count}h", *samples))
    return path


def screenshot_png(width: int, height: int) -> bytes:
    """A deterministic RGB PNG that looks like a window: title bar, sidebar, text lines."""
    rows = b"".join(b"\x00" + _row(y, width, height) for y in range(height))
    return b"".join(
        (
            b"\x89PNG\r\n\x1a\n",
            _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
            _chunk(b"IDAT", zlib.compress(rows, 9)),
            _chunk(b"IEND", b""),
        )
    )


def _row(y: int, width: int, height: int) -> bytes:
    if y < height // 10:
        return bytes((40, 44, 52)) * width  # title bar
    sidebar = width // 5
    line = (y // 8) % 2 == 0 and y % 8 < 3 and y < height - height // 8
    pixels = bytearray()
    for x in range(width):
        if x < sidebar:
            pixels += bytes((230, 232, 236))
        elif line and x < width - (y * 7) % (width // 3) - 16:
            pixels += bytes((60, 60, 60))  # a line of "text"
        else:
            pixels += bytes((255, 255, 255))
    return bytes(pixels)


def _chunk(kind: bytes, data: bytes) -> bytes:
    crc = zlib.crc32(kind + data) & 0xFFFFFFFF
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)
