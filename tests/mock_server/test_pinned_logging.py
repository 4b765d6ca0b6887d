"""Pins of the mock's logging and recording helpers that the mutation run found unguarded.

Keys never reach a log handler, not even inside a traceback; a recording's file name is
safe whatever the session id holds (issue 13, point 6).
"""

from __future__ import annotations

import logging
import re

from conformance.transcript import Transcript
from mock_server._log import logger
from mock_server._recorder import unique_name

KEY = "sk-proj-logged0123456789abcdefghij"


class Keep(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))


def test_a_key_in_a_logged_traceback_is_masked() -> None:
    keep = Keep()
    logger.addHandler(keep)
    try:
        try:
            raise ValueError(f"bad key {KEY}")
        except ValueError:
            logger.error("app failed", exc_info=True)
    finally:
        logger.removeHandler(keep)
    (line,) = keep.lines
    assert "ValueError: bad key" in line  # the traceback is there
    assert KEY not in line
    assert KEY[8:] not in line


def test_a_recordings_name_keeps_only_safe_characters_of_the_session_id() -> None:
    transcript = Transcript(meta={"session_id": "sess_a/../b c:d"})
    name = unique_name(transcript, 3, now=1_800_000_000.5)
    assert re.fullmatch(r"20270115T080000\.500Z-[0-9a-f]{6}-sess_a_.._b_c_d\.jsonl", name), name
    assert unique_name(Transcript(), 3, now=1_800_000_000.5).endswith("-conn3.jsonl")


def test_a_key_in_a_header_line_logged_by_websockets_is_masked() -> None:
    """websockets logs each upgrade header as `< %s: %s` (request) or `> %s: %s`."""
    keep = Keep()
    logger.addHandler(keep)
    level = logger.level
    logger.setLevel(logging.DEBUG)
    try:
        for arrow in ("<", ">"):
            logger.debug(f"{arrow} %s: %s", "OpenAI-Insecure-Api-Key", "plainsecretvalue42")
    finally:
        logger.setLevel(level)
        logger.removeHandler(keep)
    assert len(keep.lines) == 2
    for line in keep.lines:
        assert "plainsecretvalue42" not in line
        assert "OpenAI-Insecure-Api-Key" in line
