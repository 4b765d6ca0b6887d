"""Configuration of the mock server: one frozen dataclass, the same names everywhere.

Every field can be given as a keyword argument (`MockConfig(port=0)`), as a CLI flag
(`--ping-interval 5`) and as a key of a YAML file (`ping_interval: 5`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from conformance.protocol.errors import UsageError

# `MockConfig.pace`: "live" (the default: responses take live-like time, so races happen)
# or "fast" (everything as soon as possible: for tests that do not care about timing).
PACES: Final = ("live", "fast")
# String fields with a fixed set of values (`--pace live|fast` on the command line).
CHOICES: Final = {"pace": PACES}


@dataclass(frozen=True, slots=True, kw_only=True)
class MockConfig:
    """Everything that shapes one mock server and the sessions it serves."""

    # --- where and how it listens (the asyncio adapter) ---
    host: str = "127.0.0.1"
    port: int = 8765
    path_prefix: str = ""  # e.g. "/relay" serves /relay/v1/realtime
    ping_interval: float | None = 20.0  # seconds between server pings; None disables
    ping_timeout: float | None = 20.0
    compression: bool = True  # negotiate permessage-deflate as the live server does
    max_message_size: int | None = 16 * 1024 * 1024  # largest client frame accepted (bytes)
    record: str | None = None  # folder for per-session JSONL transcripts, appended frame by frame
    # In-memory transcripts (`server.transcripts`) of ended sessions: the most recent ones
    # are kept, live sessions always. None keeps every one (the default from Python);
    # `realtime-mock serve` defaults to 100 sessions and 64 MiB, and to 0 with --record.
    keep_sessions: int | None = None  # ended sessions kept in memory; none: all (serve: 100)
    keep_bytes: int | None = None  # approximate bytes of ended transcripts kept; none: no limit
    # Each session's transcript holds frames in full up to about this many bytes; later
    # frames keep only their direction, type, size and time (runner cases and the pytest
    # plugin: 64 MiB, so a flooding client cannot fill the memory). None: no limit.
    transcript_max_bytes: int | None = None  # per session; none: every frame kept in full
    close_timeout: float = 5.0  # seconds to wait for the peer's close frame, then abort
    send_timeout: float | None = 30.0  # a peer that reads nothing this long is dropped

    # --- handshake ---
    api_keys: tuple[str, ...] = ()  # accepted keys; empty = any non-empty key
    ephemeral_keys: tuple[str, ...] = ()  # accepted `ek_` client secrets; empty = any `ek_` key
    # Signs the `ek_` keys POST /v1/realtime/client_secrets mints, so every mock with the
    # same secret accepts them (docs/rest.md); none: $REALTIME_MOCK_SECRET_KEY, else random
    secret_key: str | None = field(default=None, repr=False)  # signs ek_ keys; none: env/random
    # Not live: accept a beta header/subprotocol and a missing or unknown model (recorded in
    # the transcript, model gpt-realtime-1.5) and hold session.created 200 ms, so one run
    # shows every client bug instead of the first fatal one
    tolerant: bool = False  # accept the client's fatal handshake mistakes, record them (not live)

    # --- behaviour ---
    seed: int = 0  # ids and generated content are reproducible from it
    session_max_duration: float = 3600.0  # seconds; then session_expired + close 1001
    # How long a response stays active, and when input transcription arrives. "live": a
    # first delta 0.3-0.6 s after response.created, 30-60 tokens/s, the first transcription
    # delta 0.9-1.5 s after the commit, each drawn per response from `seed` (INFERRED
    # figures, but for the 1.2 s transcription observed once); "fast": no waiting at all.
    pace: str = "live"  # live: live-like latency and token rate (seeded); fast: no waiting
    first_delta_delay: float | None = None  # seconds to a response's first delta; none: pace's
    text_tokens_per_second: float | None = None  # none: the pace's; 0: as fast as possible
    transcription_delay: float | None = None  # seconds, commit to transcription; none: pace's
    audio_realtime: bool = False  # pace audio deltas in real time instead of at once
    tokens_per_delta: int = 1  # words per text delta
    image_tokens: int = 194  # image tokens billed per input_image (documented data point)
    reply_template: str | None = None  # override the deterministic reply text
    scenario: str | None = None  # scenario name or file applied to every connection

    # --- SIP (docs/sip.md): a simulated incoming call POSTs realtime.call.incoming ---
    webhook_url: str | None = None  # where the signed webhook goes; none: not sent
    webhook_secret: str | None = field(default=None, repr=False)  # signs it: whsec_ + base64
    webhook_timeout: float = 5.0  # seconds per delivery attempt (connect, send, status line)
    webhook_retries: int = 3  # more attempts after a failed one (0.5 s, 1 s, 2 s apart)
    extra: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.pace not in PACES:
            raise UsageError(f"pace: expected one of {', '.join(PACES)}, got {self.pace!r}")
