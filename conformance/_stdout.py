"""Command-line output into a pipe that closes early (`realtime-mock scenarios | head`).

Like `cat` or `ls`, a command whose reader went away stops quietly: no traceback, and
no second `BrokenPipeError` when the interpreter flushes stdout at exit.

    try:
        return handler(args)
    except BrokenPipeError:
        return broken_pipe_exit()
"""

from __future__ import annotations

import os
import sys
from typing import Final

EXIT_BROKEN_PIPE: Final = 141  # 128 + SIGPIPE: what a shell reports for `yes | head`


def broken_pipe_exit() -> int:
    """Point stdout at /dev/null (nothing more can reach the reader) and return 141."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        finally:
            os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass  # stdout has no file descriptor (replaced by a test); nothing to flush there
    return EXIT_BROKEN_PIPE
