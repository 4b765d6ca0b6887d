"""Cost of `parse_client_frame` (parse + validate) against a bare `orjson.loads`, per event.

Run: `python bench/bench_validate.py [--repeat 7] [--min-time 0.1]`. Both functions are
timed in the same run on the same frames (str, as `recv()` returns them); each figure is the
median over `--repeat` timings of at least `--min-time` seconds each.
Targets (perf-anchors.md §2c): <= 10 us median for the session.update and the 40 ms audio
append, <= 100 us for the item with a ~300 KB PNG data URL.
"""

from __future__ import annotations

import argparse
import base64
import random
import statistics
import timeit
from collections.abc import Callable
from typing import Any

import orjson

from conformance import _json
from conformance.schemas import parse_client_frame

TARGETS_US = {
    "session.update": 10.0,
    "input_audio_buffer.append": 10.0,
    "item.create(image)": 100.0,
}
# orjson.loads(str) in perf-anchors.md §2a for the same event kinds and sizes: the machine's speed.
ANCHOR_ORJSON_US = {
    "session.update": 4.37,
    "input_audio_buffer.append": 0.74,
    "item.create(image)": 63.17,
    "response.create": 0.87,
}


def _session_update() -> dict[str, Any]:
    weather = {
        "type": "object",
        "properties": {
            "city": {"type": "string", "description": "City name, e.g. Paris"},
            "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        },
        "required": ["city"],
    }
    return {
        "type": "session.update",
        "event_id": "evt_bench_0001",
        "session": {
            "type": "realtime",
            "model": "gpt-realtime",
            "output_modalities": ["audio"],
            "instructions": "You are a helpful, concise voice assistant for a travel desk. " * 9,
            "audio": {
                "input": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "transcription": {"model": "gpt-4o-mini-transcribe", "language": "en"},
                    "noise_reduction": {"type": "near_field"},
                    "turn_detection": {
                        "type": "server_vad",
                        "threshold": 0.5,
                        "prefix_padding_ms": 300,
                        "silence_duration_ms": 200,
                        "create_response": True,
                        "interrupt_response": True,
                    },
                },
                "output": {
                    "format": {"type": "audio/pcm", "rate": 24000},
                    "voice": "marin",
                    "speed": 1.0,
                },
            },
            "tools": [
                {
                    "type": "function",
                    "name": f"tool_{i}",
                    "description": "Look up data.",
                    "parameters": weather,
                }
                for i in range(3)
            ],
            "tool_choice": "auto",
            "max_output_tokens": 4096,
            "tracing": None,
            "truncation": "auto",
        },
    }


def _events() -> dict[str, str]:
    rng = random.Random(7)
    audio = base64.b64encode(rng.randbytes(1920)).decode()  # 40 ms of 24 kHz PCM16 mono
    png = base64.b64encode(b"\x89PNG\r\n\x1a\n" + rng.randbytes(225_000)).decode()
    events: dict[str, dict[str, Any]] = {
        "session.update": _session_update(),
        "input_audio_buffer.append": {"type": "input_audio_buffer.append", "audio": audio},
        "item.create(image)": {
            "type": "conversation.item.create",
            "item": {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "What is in this picture?"},
                    {
                        "type": "input_image",
                        "image_url": f"data:image/png;base64,{png}",
                        "detail": "auto",
                    },
                ],
            },
        },
        "response.create": {
            "type": "response.create",
            "event_id": "evt_bench_0002",
            "response": {
                "output_modalities": ["text"],
                "instructions": "Answer in one short sentence.",
                "conversation": "none",
                "metadata": {"topic": "bench"},
                "max_output_tokens": 256,
            },
        },
    }
    return {name: _json.dumps(event) for name, event in events.items()}


def _invalid_session_update() -> str:
    event = _session_update()
    event["session"]["modalities"] = ["text", "audio"]
    event["session"]["audio"]["input"]["format"]["rate"] = 16000
    return _json.dumps(event)


def _median_us(func: Callable[[str], object], frame: str, repeat: int, min_time: float) -> float:
    timer = timeit.Timer(lambda: func(frame))
    number, elapsed = timer.autorange()
    while elapsed < min_time:
        number *= 2
        elapsed = timer.timeit(number)
    runs = timer.repeat(repeat=repeat, number=number)
    return statistics.median(runs) / number * 1e6


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--min-time", type=float, default=0.1)
    args = parser.parse_args()

    frames = _events()
    for frame in frames.values():  # warm up: compile the validators, check validity
        _, findings = parse_client_frame(frame)
        assert not findings, findings

    columns = f"{'orjson.loads':>13} {'parse_client_frame':>19} {'added':>9} {'ratio':>6}"
    print(f"{'event (median us)':26} {'bytes':>7} {columns}  target")
    failed = False
    speed: list[float] = []
    for name, frame in frames.items():
        bare = _median_us(orjson.loads, frame, args.repeat, args.min_time)
        ours = _median_us(parse_client_frame, frame, args.repeat, args.min_time)
        speed.append(bare / ANCHOR_ORJSON_US[name])
        target = TARGETS_US.get(name)
        verdict = "-" if target is None else ("PASS" if ours <= target else "FAIL")
        failed |= verdict == "FAIL"
        limit = f"<= {target:g} us {verdict}" if target is not None else "-"
        print(
            f"{name:26} {len(frame):7d} {bare:10.2f} us {ours:16.2f} us {ours - bare:6.2f} us"
            f" {ours / bare:6.2f}  {limit}"
        )
    print(
        f"\nmachine: bare orjson.loads runs {statistics.median(speed):.2f}x its time in "
        "perf-anchors.md §2a (1.00 = as fast as the machine the targets came from)"
    )

    invalid = _invalid_session_update()
    _, findings = parse_client_frame(invalid)
    error_path = _median_us(parse_client_frame, invalid, args.repeat, args.min_time)
    print(
        f"error path: invalid session.update ({len(findings)} findings: "
        f"{', '.join(f.code or '' for f in findings)}): {error_path:.2f} us per frame"
    )
    bad_type = _json.dumps({"type": "response.text.delta"})
    unknown = _median_us(parse_client_frame, bad_type, args.repeat, args.min_time)
    print(f"error path: unknown type: {unknown:.2f} us")
    print("\nall targets met" if not failed else "\nsome targets missed")


if __name__ == "__main__":
    main()
