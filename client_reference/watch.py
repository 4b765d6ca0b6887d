"""`Watcher`: new image files in a folder, by polling (stdlib only, any OS)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

__all__ = ["Watcher"]


class Watcher:
    """Yields files that appear in `directory` after it was created, once fully written.

    A file counts once its size and modification time are the same on two polls in a
    row (screenshot tools may still be writing it). Hidden and temporary names (`.x`,
    `~x`) are skipped, as are suffixes not in `suffixes`.
    """

    def __init__(self, directory: Path, *, suffixes: Iterable[str], interval: float) -> None:
        self.directory = directory
        self.interval = interval
        self._suffixes = frozenset(s.lower() for s in suffixes)
        self._seen: set[str] = {path.name for path in self._candidates()}
        self._sizes: dict[str, tuple[int, int]] = {}

    async def new_files(self, *, limit: int | None = None) -> AsyncIterator[Path]:
        """Yield each new file, oldest name first; stop after `limit` files (None: never)."""
        count = 0
        while limit is None or count < limit:
            for path in self._ready():
                yield path
                count += 1
                if limit is not None and count >= limit:
                    return
            await asyncio.sleep(self.interval)

    def _candidates(self) -> list[Path]:
        try:
            entries = list(self.directory.iterdir())
        except OSError:
            return []
        return sorted(
            path
            for path in entries
            if path.suffix.lower() in self._suffixes and not path.name.startswith((".", "~"))
        )

    def _ready(self) -> list[Path]:
        ready = []
        for path in self._candidates():
            if path.name in self._seen:
                continue
            try:
                stat = path.stat()
            except OSError:
                continue  # vanished between listing and stat
            signature = (stat.st_size, stat.st_mtime_ns)
            if stat.st_size and self._sizes.get(path.name) == signature:
                self._seen.add(path.name)
                del self._sizes[path.name]
                ready.append(path)
            else:
                self._sizes[path.name] = signature
        return ready
