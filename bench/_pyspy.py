"""Sample a running server with py-spy (optional) and summarise the collapsed stacks.

`bench_mock.py --py-spy DIR` records every mock cell into `DIR/<cell>.txt` (py-spy's raw
"collapsed stack" format) and prints the top functions by own and by inclusive samples.
py-spy must be installed (`pip install py-spy` into the venv); sampling uses
`--nonblocking`, so the server is not paused, but the numbers are a profile, not a benchmark.

    python bench/_pyspy.py DIR/cell.txt [--top 25] [--filter mock_server,conformance]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout: paths are shown relative to it

_FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


class PySpy:
    """`py-spy record` attached to one PID until `stop()` (SIGINT, bounded wait, SIGKILL)."""

    def __init__(self, pid: int, out: Path, rate: int = 400) -> None:
        exe = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
        self.out = out
        self.proc = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--rate",
                str(rate),
                "--nonblocking",
                "--format",
                "raw",
                "--output",
                str(out),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )

    def stop(self) -> None:
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.proc.pid, signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(5)
        if self.proc.stderr is not None:
            self.proc.stderr.close()


def _short(frame: str) -> str:
    found = _FRAME.match(frame.strip())
    if not found:
        return frame.strip()
    path = found.group("file")
    for marker in ("site-packages/", f"{ROOT}/", "lib/python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{found.group('func')} ({path})"


def summarise(path: Path, top: int = 25, only: tuple[str, ...] = ()) -> str:
    """Top functions by own samples and by inclusive samples (% of all samples)."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_short(f) for f in stack.split(";") if f and not f.startswith("process ")]
        frames = [f for f in frames if not f.startswith("thread ")]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if not total:
        return f"{path}: no samples"

    def keep(name: str) -> bool:
        return not only or any(o in name for o in only)

    lines = [f"{path.name}: {total} samples", "  own time:"]
    for name, count in own.most_common(top):
        lines.append(f"    {100 * count / total:5.1f}%  {name}")
    lines.append("  inclusive (mock_server / conformance / websockets / asyncio frames):")
    shown = 0
    for name, count in inclusive.most_common():
        if keep(name):
            lines.append(f"    {100 * count / total:5.1f}%  {name}")
            shown += 1
            if shown >= top:
                break
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", type=Path)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--filter", default="mock_server,conformance,websockets,asyncio")
    args = parser.parse_args()
    print(summarise(args.path, args.top, tuple(f for f in args.filter.split(",") if f)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
