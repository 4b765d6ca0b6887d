"""The reference client under every built-in mock scenario (the client failure catalog).

Each scenario gets a fresh `mock_server.serve(scenario=ID)`; the client does the
scenario's stimulus (`scenario.connect`) as far as its API allows and the test asserts
the behaviour `scenario.expect` asks of a correct client: errors and closes surface as
typed exceptions with their code and reason, every wait is bounded, permanent closes
are never retried, transient ones are retried with backoff and a limit. After each
scenario, every session the client opened is replayed through the protocol core: the
client never sent `response.create` while a response was active, nor anything before
`session.created`.

Scenarios the client cannot meet because it never sends what they react to are listed
in `SKIPPED` with the reason, so the coverage is visible in the test report (`-ra`).
Client bugs found here are fixed; their regression tests are at the end.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from client_reference import (
    ClientSettings,
    ConnectError,
    ConnectionClosed,
    RealtimeAPIError,
    RealtimeClient,
    ReconnectPolicy,
    ResponseFailed,
    Timeout,
    UsageError,
)
from client_reference.connection import USER_AGENT
from client_reference.settings import RECOVERABLE_CLOSE_CODES
from conformance.protocol import LocalProtocolError, replay
from conformance.transcript import Transcript
from mock_server import MockServer, serve
from mock_server.scenarios import Scenario, builtin_scenarios
from tests.live.shapes import noise_png, shapes_png
from tests.scenarios.wire import open_wire

pytestmark = pytest.mark.integration

API_KEY = "sk-test-scenarios-0123456789abcdef"
DEADLINE = 10.0  # seconds for one scenario, client and checks included

# Every wait of the client is short: the mock answers in milliseconds, so these only
# bound how long a broken client (or a scenario that withholds an answer) can take.
FAST = ClientSettings(
    open_timeout=2.0,
    session_created_timeout=2.0,
    ack_timeout=2.0,
    response_timeout=2.0,
    close_timeout=1.0,
    reconnect_timeout=3.0,
)


def quick(**timeouts: float | None) -> ClientSettings:
    """FAST with some waits changed."""
    return dataclasses.replace(FAST, **timeouts)  # type: ignore[arg-type]


def policy(**overrides: Any) -> ReconnectPolicy:
    """A reconnect policy with short, deterministic delays (no jitter)."""
    values: dict[str, Any] = {
        "max_attempts": 2,
        "initial_delay": 0.02,
        "max_delay": 1.0,
        "multiplier": 2.0,
        "jitter": 0.0,
    }
    values.update(overrides)
    return ReconnectPolicy(**values)


# ------------------------------------------------------------------ coverage table
_TRANSLATION = (
    "a translation session (/v1/realtime/translations): the reference client speaks the "
    "realtime endpoint only; tests/runner/test_translation_cases.py runs "
    "examples/translate_client.py through it"
)

SKIPPED: dict[str, str] = {
    "translation-basic": _TRANSLATION,
    "translation-drop-mid-stream": _TRANSLATION,
    "translation-server-error": _TRANSLATION,
    "long-session": (
        "the runner delivers its screenshots over time: tests/runner/test_long_session.py "
        "runs realtime-notes --stdin through it"
    ),
    "long-session-stale-note": (
        "the runner delivers its screenshots while a note streams: "
        "tests/runner/test_long_session.py runs realtime-notes --stdin through it"
    ),
    "commit-empty": (
        "the client never sends input audio or input_audio_buffer.commit (screenshots and "
        "text only); its handling of benign errors is covered by cancel-not-active and "
        "benign-errors-mid-session"
    ),
    "content-type-assistant-audio-replay": (
        "the client never creates assistant items or replays history: it only sends user "
        "messages (input_image, input_text)"
    ),
    "truncate-errors": (
        "the client never sends conversation.item.truncate: it does not play audio, so it "
        "has nothing to truncate"
    ),
    "unknown-tool-call-id": "the client has no tools and never sends function_call_output items",
}

Handler = Callable[["Run"], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}
SCENARIOS: dict[str, Scenario] = {s.id: s for s in builtin_scenarios()}


def handles(scenario_id: str) -> Callable[[Handler], Handler]:
    """Register the client-side test body of one scenario."""

    def register(handler: Handler) -> Handler:
        assert scenario_id not in HANDLERS, f"two handlers for {scenario_id}"
        HANDLERS[scenario_id] = handler
        return handler

    return register


# --------------------------------------------------------------------- harness
@dataclass
class Run:
    """One scenario run: the mock, the scenario, and the clients opened against it."""

    server: MockServer
    scenario: Scenario
    caplog: pytest.LogCaptureFixture
    clients: list[RealtimeClient] = field(default_factory=list)

    @property
    def loop_time(self) -> float:
        return asyncio.get_running_loop().time()

    def client(
        self,
        *,
        url: str | None = None,
        settings: ClientSettings = FAST,
        api_key: str | None = API_KEY,
        **kwargs: Any,
    ) -> RealtimeClient:
        """A client for this server (closed by the harness if the body does not)."""
        client = RealtimeClient(
            url or self.server.url, api_key=api_key, settings=settings, **kwargs
        )
        self.clients.append(client)
        return client

    async def ended(self, n: int) -> list[Transcript]:
        """The first `n` sessions, once they have all ended."""
        return await self.server.wait_for_sessions(n, timeout=5.0)

    def user_text(self) -> str:
        """The text of the scenario's first user message, if its stimulus has one."""
        for step in self.scenario.connect.send:
            item = step.get("item")
            if isinstance(item, dict) and item.get("role") == "user":
                for part in item.get("content", []):
                    if part.get("type") == "input_text":
                        return str(part["text"])
        return "Hello"

    def stimulus(self, kind: str) -> dict[str, Any]:
        """The first client event of type `kind` in the scenario's stimulus."""
        for step in self.scenario.connect.send:
            if step.get("type") == kind:
                return dict(step)
        raise AssertionError(f"{self.scenario.id} has no {kind} in connect.send")

    def reconnect_delays(self) -> list[float]:
        """The delays the client announced before each reconnect attempt, in order."""
        delays = []
        for record in self.caplog.records:
            if record.name == "client_reference.client" and record.msg.startswith("session ended"):
                assert isinstance(record.args, tuple)
                delays.append(float(str(record.args[1])))
        return delays


def client_sessions(transcripts: list[Transcript]) -> list[Transcript]:
    """Sessions opened by the reference client (not by a raw test websocket)."""
    return [t for t in transcripts if ["User-Agent", USER_AGENT] in t.meta["headers"]]


def client_frames(transcript: Transcript) -> list[dict[str, Any]]:
    return [r.event for r in transcript.client_events() if r.event is not None]


def server_events(transcript: Transcript, kind: str) -> list[dict[str, Any]]:
    return [r.event for r in transcript.server_events() if r.event_type == kind and r.event]


def text_done(transcript: Transcript) -> list[str]:
    return [e["text"] for e in server_events(transcript, "response.output_text.done")]


def check_client_conduct(transcripts: list[Transcript]) -> None:
    """What holds in every scenario: the client never broke a sequencing rule."""
    sessions = client_sessions(transcripts)
    assert sessions, "no session of the reference client to check"
    for transcript in sessions:
        frames = [(r.direction, r.text or "") for r in transcript.records if r.kind == "text"]
        problems = [str(p) for p in replay(frames) if p.direction == "client"]
        assert problems == [], f"the client broke protocol rules: {problems}"
        ours = {e.get("event_id") for e in client_frames(transcript)}
        raced = [
            e
            for e in server_events(transcript, "error")
            if e["error"].get("code") == "conversation_already_has_active_response"
            and e["error"].get("event_id") in ours
        ]
        assert raced == [], "the client sent response.create while a response was active"
        headers = {name.lower() for name, _ in transcript.meta["headers"]}
        assert "openai-beta" not in headers


def scenario_params() -> list[Any]:
    params = []
    for scenario_id in sorted(SCENARIOS):
        reason = SKIPPED.get(scenario_id)
        marks = [pytest.mark.skip(reason=f"{scenario_id}: {reason}")] if reason else []
        params.append(pytest.param(scenario_id, marks=marks, id=scenario_id))
    return params


def test_every_builtin_scenario_is_handled_or_skipped_with_a_reason() -> None:
    assert not set(HANDLERS) & set(SKIPPED)
    assert set(HANDLERS) | set(SKIPPED) == set(SCENARIOS)
    assert all(reason.strip() for reason in SKIPPED.values())


@pytest.mark.parametrize("scenario_id", scenario_params())
async def test_client_under_scenario(scenario_id: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="client_reference")
    # Fast: each handler checks what the client does, not when; a scenario about timing
    # sets its own pace, and tests/runner plays every scenario at the live pace.
    async with serve(port=0, scenario=scenario_id, close_timeout=1.0, pace="fast") as server:
        run = Run(server, SCENARIOS[scenario_id], caplog)
        try:
            async with asyncio.timeout(DEADLINE):
                await HANDLERS[scenario_id](run)
        finally:
            for client in run.clients:
                await client.close()
        async with asyncio.timeout(DEADLINE):
            transcripts = await run.ended(len(server.transcripts))
    check_client_conduct(transcripts)


# ------------------------------------------------------------- connect failures
async def _rejected_at_connect(
    run: Run, code: int, reason: str, error_code: str, **kwargs: Any
) -> ConnectionClosed:
    """The connect fails with the close (and its error event), once, even with a policy."""
    client = run.client(reconnect=policy(max_attempts=3), **kwargs)
    with pytest.raises(ConnectionClosed) as info:
        await client.connect()
    closed = info.value
    assert (closed.code, closed.reason) == (code, reason)
    assert not closed.by_client
    assert closed.error is not None
    assert closed.error.code == error_code
    assert client.connection is None
    assert ReconnectPolicy().should_retry(code) is False  # 3000-4999: permanent
    await run.ended(1)
    assert len(run.server.transcripts) == 1, "a permanent rejection was retried"
    return closed


@handles("accepted-then-closed")
async def accepted_then_closed(run: Run) -> None:
    client = run.client(reconnect=policy(max_attempts=3))
    started = run.loop_time
    with pytest.raises(ConnectionClosed) as info:
        await client.connect()
    assert (info.value.code, info.value.reason) == (1000, "")
    assert info.value.error is None
    assert run.loop_time - started < FAST.session_created_timeout  # no hang until a timeout
    assert client.connection is None
    # A failed first connect is reported, not retried (the policy covers ended sessions).
    await run.ended(1)
    assert len(run.server.transcripts) == 1


@handles("beta-header-rejected")
async def beta_header_rejected(run: Run) -> None:
    headers = dict(run.scenario.connect.headers)
    with pytest.raises(UsageError, match="OpenAI-Beta"):
        RealtimeClient(run.server.url, api_key=API_KEY, headers=headers)
    # The server side, with a raw websocket that does send the header.
    wire = await open_wire(run.server.url, run.scenario)
    await wire.until_closed()
    assert [e["code"] for e in wire.errors()] == ["beta_api_shape_disabled"]
    assert (wire.close_code, wire.close_reason) == (
        4000,
        "invalid_request_error.beta_api_shape_disabled",
    )
    # The client, which never sends the header, gets a normal GA session here.
    async with run.client() as client:
        session = await client.configure(instructions="Be brief.")
    assert session["type"] == "realtime"


@handles("ephemeral-key-rejected")
async def ephemeral_key_rejected(run: Run) -> None:
    secret = run.scenario.connect.headers["Authorization"].removeprefix("Bearer ")
    closed = await _rejected_at_connect(
        run,
        3000,
        "invalid_request_error.invalid_api_key",
        "invalid_api_key",
        api_key=secret,
        auth="subprotocol",  # how a browser-style client presents an ek_ secret
    )
    assert secret not in str(closed)
    assert closed.error is not None
    assert secret not in closed.error.message


@handles("no-realtime-access")
async def no_realtime_access(run: Run) -> None:
    client = run.client(reconnect=policy(max_attempts=3))
    with pytest.raises(ConnectError) as info:
        await client.connect()
    assert info.value.status == 403
    assert "refused the WebSocket upgrade with HTTP 403" in str(info.value)
    assert client.connection is None
    [transcript] = await run.ended(1)  # one refused upgrade, not retried
    assert [(r.kind, r.code) for r in transcript] == [("rejected", 403)]


@handles("invalid-api-key")
async def invalid_api_key(run: Run) -> None:
    headers = dict(run.scenario.connect.headers)  # the scenario's own Authorization header
    key = headers["Authorization"].removeprefix("Bearer ")
    closed = await _rejected_at_connect(
        run,
        3000,
        "invalid_request_error.invalid_api_key",
        "invalid_api_key",
        api_key=None,
        headers=headers,
    )
    assert closed.error is not None
    assert "Incorrect API key provided" in closed.error.message
    assert key not in str(closed)


@handles("missing-model")
async def missing_model(run: Run) -> None:
    assert run.scenario.connect.query == {"model": None}
    await _rejected_at_connect(
        run, 4000, "invalid_request_error.missing_model", "missing_model", model=None
    )


@handles("retired-model")
async def retired_model(run: Run) -> None:
    closed = await _rejected_at_connect(
        run, 4004, "invalid_request_error.model_not_found", "model_not_found"
    )
    assert closed.error is not None
    assert "gpt-realtime-1.5" in closed.error.message


@handles("unknown-model")
async def unknown_model(run: Run) -> None:
    model = str(run.scenario.connect.query["model"])
    closed = await _rejected_at_connect(
        run, 4000, "invalid_request_error.invalid_model", "invalid_model", model=model
    )
    assert closed.error is not None
    assert model in closed.error.message


@handles("transcription-model-rejected")
async def transcription_model_rejected(run: Run) -> None:
    query = dict(run.scenario.connect.query)
    url = f"{run.server.url}?intent={query['intent']}"  # the client adds ?model=
    await _rejected_at_connect(
        run,
        4000,
        "invalid_request_error.invalid_model",
        "invalid_model",
        url=url,
        model=str(query["model"]),
    )


@handles("silent-after-accept")
async def silent_after_accept(run: Run) -> None:
    client = run.client(settings=quick(session_created_timeout=0.2), reconnect=policy())
    with pytest.raises(Timeout) as info:
        await client.connect()
    assert info.value.what == "session.created"
    assert info.value.seconds == 0.2
    assert client.connection is None
    await run.ended(1)  # the client closed the socket it gave up on
    assert len(run.server.transcripts) == 1


@handles("session-updated-delayed")
async def session_updated_delayed(run: Run) -> None:
    # A session.created later than the client is willing to wait: a bounded failure.
    impatient = run.client(settings=quick(session_created_timeout=0.05))
    with pytest.raises(Timeout, match=r"session\.created"):
        await impatient.connect()
    # A patient client waits for session.created, then for session.updated, then turns.
    update = run.stimulus("session.update")
    async with run.client() as client:
        session = await client.configure(instructions=update["session"]["instructions"])
        await client.add_text("Bonjour")
        result = await (await client.respond(output_modalities=["text"])).done()
    assert session["instructions"] == update["session"]["instructions"]
    assert result.status == "completed"
    [_, transcript] = await run.ended(2)
    kinds = [(r.direction, r.event_type) for r in transcript.records if r.kind == "text"]
    assert kinds[0] == ("server", "session.created")
    assert kinds.index(("client", "response.create")) > kinds.index(("server", "session.updated"))


# ------------------------------------------------------------ session problems
@handles("active-response-conflict")
async def active_response_conflict(run: Run) -> None:
    async with run.client() as client:
        await client.add_text(run.user_text())
        first = await client.respond()
        second = await client.respond()  # queued, not sent
        assert (first.sent, second.sent) == (True, False)
        # Even the low-level connection refuses to race: the core knows one is pending.
        assert client.connection is not None
        with pytest.raises(LocalProtocolError, match=r"response\.create"):
            await client.connection.send({"type": "response.create", "event_id": "evt_race"})
        results = [await first.done(), await second.done()]
    assert [r.status for r in results] == ["completed", "completed"]
    assert results[0].text.startswith("One, two, three")
    [transcript] = await run.ended(1)
    assert server_events(transcript, "error") == []
    kinds = [(r.direction, r.event_type) for r in transcript.records]
    creates = [i for i, k in enumerate(kinds) if k == ("client", "response.create")]
    first_done = kinds.index(("server", "response.done"))
    assert len(creates) == 2
    assert creates[1] > first_done


@handles("audio-format-string")
async def audio_format_string(run: Run) -> None:
    stimulus = run.stimulus("session.update")
    async with run.client() as client:
        with pytest.raises(RealtimeAPIError) as info:
            await client.configure(extra={"audio": stimulus["session"]["audio"]})
        error = info.value
        assert error.code == "invalid_type"
        assert error.param == "session.audio.input.format"
        # The session survives and a GA object format is accepted.
        pcm = {"type": "audio/pcm", "rate": 24000}
        session = await client.configure(extra={"audio": {"input": {"format": pcm}}})
    assert session["audio"]["input"]["format"] == pcm
    [transcript] = await run.ended(1)
    updates = client_frames(transcript)
    assert error.event_id == updates[0]["event_id"]  # correlated to our session.update
    assert all(u["session"]["type"] == "realtime" for u in updates)


@handles("benign-errors-mid-session")
async def benign_errors_mid_session(run: Run) -> None:
    errors: list[RealtimeAPIError] = []
    four = asyncio.Event()

    def on_error(error: RealtimeAPIError) -> None:
        errors.append(error)
        if len(errors) == 4:
            four.set()

    async with run.client(on_error=on_error) as client:
        await client.add_text(run.user_text())
        # The four errors answer our response.create, ahead of the reply.
        result = await (await client.respond(output_modalities=["text"])).done()
        assert four.is_set()
        assert client.closed is None
    assert [e.code for e in errors] == [
        "response_cancel_not_active",
        "conversation_already_has_active_response",
        "input_audio_buffer_commit_empty",
        "unknown_parameter",
    ]
    assert result.status == "completed"
    assert result.text


@handles("beta-session-shape-rejected")
async def beta_session_shape_rejected(run: Run) -> None:
    beta = run.stimulus("session.update")["session"]
    async with run.client() as client:
        for key in ("modalities", "voice", "input_audio_format"):
            with pytest.raises(UsageError, match=f"'{key}' is beta-era"):
                await client.configure(extra={key: beta[key]})
        session = await client.configure(
            instructions=beta["instructions"], output_modalities=["text"], voice="alloy"
        )
    assert session["output_modalities"] == ["text"]
    assert session["audio"]["output"]["voice"] == "alloy"
    [transcript] = await run.ended(1)
    [update] = client_frames(transcript)  # the refused beta shapes were never sent
    assert update["session"]["type"] == "realtime"
    assert update["session"]["audio"] == {"output": {"voice": "alloy"}}


@handles("cancel-not-active")
async def cancel_not_active(run: Run) -> None:
    # The client has no public cancel(); the exact stimulus goes through its connection.
    cancel = run.stimulus("response.cancel")
    async with run.client() as client:
        assert client.connection is not None
        await client.connection.send(cancel)
        # The server answers in order, so once this item is acked the error has arrived.
        await client.add_text("Still there?")
        [error] = list(client.errors)
        assert error.code == "response_cancel_not_active"
        assert error.event_id == cancel["event_id"]
        result = await (await client.respond()).done()
        assert client.closed is None
    assert result.status == "completed"
    logged = [r for r in run.caplog.records if "response_cancel_not_active" in r.getMessage()]
    assert logged, "the benign error was not logged"
    assert max(r.levelno for r in logged) <= logging.WARNING


@handles("close-after-first-client-event")
async def close_after_first_client_event(run: Run) -> None:
    client = run.client(reconnect=policy())
    await client.connect()
    with pytest.raises(ConnectionClosed) as info:
        await client.configure(instructions="Be brief.")
    assert (info.value.code, info.value.reason) == (1000, "")
    assert not info.value.by_client
    final = await client.wait_closed()
    assert isinstance(final, ConnectionClosed)
    assert final.code == 1000
    # 1000 is not a recoverable close by default: no reconnect.
    assert client.reconnects == 0
    assert run.reconnect_delays() == []
    assert len(run.server.transcripts) == 1


@handles("events-out-of-order-duplicated")
async def events_out_of_order_duplicated(run: Run) -> None:
    async with run.client() as client:
        item = await client.add_text(run.user_text())
        result = await (await client.respond(output_modalities=["text"])).done()
    assert item["role"] == "user"
    assert result.status == "completed"
    [transcript] = await run.ended(1)
    kinds = [r.event_type for r in transcript.server_events()]
    # The mock really did reorder: response.created overtook the user item's item.done.
    assert kinds.index("response.created") < kinds.index("conversation.item.done")
    [final] = text_done(transcript)
    assert final in result.text  # the whole reply, the duplicated delta shown once


@handles("ga-event-names-only")
async def ga_event_names_only(run: Run) -> None:
    async with run.client() as client:
        await client.add_text(run.user_text())
        text = await (await client.respond(output_modalities=["text"])).done()
        audio = await (await client.respond(output_modalities=["audio"])).done()
        assert client.connection is not None
        assert client.connection.findings == []
    [transcript] = await run.ended(1)
    assert [text.text] == text_done(transcript)
    transcripts = server_events(transcript, "response.output_audio_transcript.done")
    assert [audio.text] == [e["transcript"] for e in transcripts]
    assert audio.text
    assert server_events(transcript, "response.output_audio.delta")


@handles("ga-payload-beta-upstream")
async def ga_payload_beta_upstream(run: Run) -> None:
    update = run.stimulus("session.update")["session"]
    async with run.client() as client:
        before = client.session
        with pytest.raises(RealtimeAPIError) as info:
            await client.configure(instructions=update["instructions"], output_modalities=["text"])
        assert (info.value.code, info.value.param) == ("unknown_parameter", "session.type")
        assert client.session == before  # nothing was applied
        assert client.closed is None
    [transcript] = await run.ended(1)
    frames = client_frames(transcript)
    assert [f["type"] for f in frames] == ["session.update"]  # no turn with defaults
    assert info.value.event_id == frames[0]["event_id"]


@handles("idle-drop")
async def idle_drop(run: Run) -> None:
    # Without a policy: the drop is noticed at once and reported as 1006.
    plain = run.client()
    await plain.connect()
    opened = run.loop_time
    final = await plain.wait_closed()
    assert isinstance(final, ConnectionClosed)
    assert (final.code, final.by_client) == (1006, False)
    assert run.loop_time - opened < 1.5  # the server drops at 0.5 s idle
    # With a policy: reconnects with backoff, re-sends the configuration, then gives up.
    client = run.client(reconnect=policy(max_attempts=2))
    await client.connect()
    await client.configure(instructions="Keep notes short.")
    final = await client.wait_closed()
    assert isinstance(final, ConnectionClosed)
    assert final.code == 1006
    assert "gave up reconnecting after 2 attempt(s)" in final.__notes__
    assert client.reconnects == 2
    assert run.reconnect_delays() == [0.02, 0.04]
    sessions = await run.ended(4)
    for reopened in sessions[2:]:
        first = client_frames(reopened)[0]
        assert first["type"] == "session.update"
        assert first["session"]["instructions"] == "Keep notes short."


@handles("image-empty-content")
async def image_empty_content(run: Run) -> None:
    shot = shapes_png(64, 48)
    async with run.client() as client:
        for bad in (b"", b"GIF89a-not-a-png"):
            with pytest.raises(UsageError):
                await client.add_screenshot(bad)  # refused before anything is sent
        item = await client.add_screenshot(shot.data)
    assert [part["type"] for part in item["content"]] == ["input_image"]
    [transcript] = await run.ended(1)
    [create] = client_frames(transcript)
    [part] = create["item"]["content"]
    assert part["type"] == "input_image"
    assert part["image_url"].startswith("data:image/png;base64,")
    assert server_events(transcript, "error") == []


@handles("image-too-large")
async def image_too_large(run: Run) -> None:
    big = noise_png(600, 600)  # ~1.08 MB of PNG: a frame of ~1.44 MB once base64-encoded
    client = run.client(reconnect=policy())
    await client.connect()
    item = await client.add_screenshot(big.data)  # halved to 300x300 first: accepted
    assert item["content"][0]["type"] == "input_image"
    with pytest.raises(ConnectionClosed) as info:
        await client.add_screenshot(big.data, max_bytes=None)  # as it is: refused
    assert (info.value.code, info.value.reason) == (1009, "message too big")
    final = await client.wait_closed()
    assert isinstance(final, ConnectionClosed)
    assert final.code == 1009
    assert client.reconnects == 0  # the same image would be refused again
    assert len(run.server.transcripts) == 1


@handles("model-not-found-late")
async def model_not_found_late(run: Run) -> None:
    async with run.client() as client:
        await client.add_text(run.user_text())
        with pytest.raises(ResponseFailed) as info:
            await (await client.respond()).done()
        assert client.closed is None
    failed = info.value
    assert (failed.status, failed.code) == ("failed", "model_not_found")
    assert "gpt-realtime-1.5" in failed.message
    [transcript] = await run.ended(1)
    creates = [f for f in client_frames(transcript) if f["type"] == "response.create"]
    assert len(creates) == 1  # the client does not retry on its own


@handles("oversized-server-frame")
async def oversized_server_frame(run: Run) -> None:
    async with run.client() as client:  # default max_size: 16 MiB
        await client.add_text(run.user_text())
        result = await (await client.respond(output_modalities=["audio"])).done()
    assert result.status == "completed"
    assert result.text
    [transcript] = await run.ended(1)
    assert max(len(r.text or "") for r in transcript.server_events()) >= 3_400_000
    # A client configured below the frame size fails the response at once, never stalls.
    small = run.client(max_size=1024 * 1024)
    await small.connect()
    await small.add_text(run.user_text())
    stream = await small.respond(output_modalities=["audio"])
    started = run.loop_time
    with pytest.raises(ConnectionClosed):
        await stream.done()
    assert run.loop_time - started < FAST.response_timeout
    # (which close code it reports: see test_a_frame_over_max_size_reports_1009 below)


@handles("pings-unanswered")
async def pings_unanswered(run: Run) -> None:
    settings = quick(ping_interval=0.1, ping_timeout=0.1)
    plain = run.client(settings=settings)
    await plain.connect()
    opened = run.loop_time
    final = await plain.wait_closed()
    assert isinstance(final, ConnectionClosed)
    assert not final.by_client
    assert final.code in (1006, 1011)  # 1011 "keepalive ping timeout" once the bug is fixed
    assert run.loop_time - opened < 1.0  # within ping_interval + ping_timeout (+ slack)
    # With a policy: a dead peer is a transient failure; reconnect, then give up.
    client = run.client(settings=settings, reconnect=policy(max_attempts=1))
    await client.connect()
    final = await client.wait_closed()
    assert isinstance(final, ConnectionClosed)
    assert client.reconnects == 1
    assert run.reconnect_delays() == [0.02]
    assert len(run.server.transcripts) == 3


@handles("quota-closes-after-connect")
async def quota_closes_after_connect(run: Run) -> None:
    # Default policy: a close 1000 is not a recoverable failure; report it and stop.
    plain = run.client(reconnect=policy())
    await plain.connect()
    final = await plain.wait_closed()
    assert isinstance(final, ConnectionClosed)
    assert (final.code, final.reason) == (1000, "")
    assert plain.reconnects == 0
    # Retrying 1000 as well: every accepted-then-closed session counts as an attempt, so
    # the loop ends after max_attempts, with growing delays.
    codes = RECOVERABLE_CLOSE_CODES | {1000}
    client = run.client(reconnect=policy(max_attempts=3, retry_codes=codes))
    await client.connect()
    final = await client.wait_closed()
    assert isinstance(final, ConnectionClosed)
    assert final.code == 1000
    assert "gave up reconnecting after 3 attempt(s)" in final.__notes__
    assert client.reconnects == 3
    assert run.reconnect_delays() == [0.02, 0.04, 0.08]
    assert len(run.server.transcripts) == 1 + 4


@handles("rate-limit-reached")
async def rate_limit_reached(run: Run) -> None:
    async with run.client() as client:
        await client.add_text(run.user_text())
        with pytest.raises(ResponseFailed) as info:
            await (await client.respond()).done()
        assert client.closed is None
    failed = info.value
    assert (failed.status, failed.code) == ("failed", "rate_limit_exceeded")
    assert "Please try again in 1m26.4s" in failed.message
    [transcript] = await run.ended(1)
    creates = [f for f in client_frames(transcript) if f["type"] == "response.create"]
    assert len(creates) == 1  # no immediate retry
    [limits] = server_events(transcript, "rate_limits.updated")
    assert limits["rate_limits"][0]["remaining"] == 0  # sent; the client has no API for it


@handles("response-failed-no-error-event")
async def response_failed_no_error_event(run: Run) -> None:
    async with run.client() as client:
        await client.add_text(run.user_text())
        stream = await client.respond()
        started = run.loop_time
        with pytest.raises(ResponseFailed) as info:
            await stream.done()
        assert run.loop_time - started < FAST.response_timeout  # from response.done
    failed = info.value
    assert failed.status == "failed"
    assert failed.status_details is not None
    assert failed.status_details["error"]["type"] == "server_error"
    [transcript] = await run.ended(1)
    assert server_events(transcript, "error") == []


@handles("server-error-mid-response")
async def server_error_mid_response(run: Run) -> None:
    # Without a policy: the response fails with the server_error, then the close is reported.
    plain = run.client()
    await plain.connect()
    await plain.add_text(run.user_text())
    stream = await plain.respond(output_modalities=["text"])
    with pytest.raises(RealtimeAPIError) as info:
        await stream.done()
    assert info.value.type == "server_error"
    assert "include session ID in your message: sess_" in info.value.message
    assert stream.text  # the three deltas before the error
    final = await plain.wait_closed()
    assert isinstance(final, ConnectionClosed)
    assert (final.code, final.reason) == (1011, "server_error")
    assert final.error is not None
    assert final.error.type == "server_error"
    # With a policy: 1011 is transient; the client reconnects and re-sends its config.
    client = run.client(reconnect=policy(max_attempts=1))
    await client.connect()
    await client.configure(instructions="Keep notes short.")
    await client.add_text(run.user_text())
    with pytest.raises(RealtimeAPIError):
        await (await client.respond(output_modalities=["text"])).done()
    # The close follows the error event: wait until the new session is open, then the
    # call waits (bounded) for the client to finish reconnecting.
    await run.server.wait_for_sessions(3, timeout=5.0, ended=False)
    session = await client.configure(instructions="Shorter still.")
    assert session["instructions"] == "Shorter still."
    assert client.reconnects == 1
    assert run.reconnect_delays() == [0.02]
    reopened = run.server.transcripts[2]
    assert client_frames(reopened)[0]["session"]["instructions"] == "Keep notes short."


@handles("server-error-persistent")
async def server_error_persistent(run: Run) -> None:
    async with run.client() as client:
        for _ in range(2):
            stream = await client.respond()
            with pytest.raises(RealtimeAPIError) as info:
                await stream.done()
            assert info.value.type == "server_error"
            assert info.value.event_id == stream.event_id  # settled by correlation
        assert list(client.errors) == []  # both were claimed by their response
        assert client.closed is None
    [transcript] = await run.ended(1)
    creates = [f for f in client_frames(transcript) if f["type"] == "response.create"]
    assert len(creates) == 2  # one per respond(): no retry loop of its own


@handles("session-expired")
async def session_expired(run: Run) -> None:
    plain = run.client()
    await plain.connect()
    final = await plain.wait_closed()
    assert isinstance(final, ConnectionClosed)
    assert final.code == 1001
    assert final.error is not None
    assert final.error.code == "session_expired"
    # With a policy: a new session after each expiry, configuration re-sent, bounded.
    client = run.client(reconnect=policy(max_attempts=2))
    await client.connect()
    await client.configure(instructions="Keep notes short.")
    final = await client.wait_closed()
    assert isinstance(final, ConnectionClosed)
    assert final.error is not None
    assert final.error.code == "session_expired"
    assert "gave up reconnecting after 2 attempt(s)" in final.__notes__
    assert client.reconnects == 2
    assert run.reconnect_delays() == [0.02, 0.04]
    sessions = await run.ended(4)
    for reopened in sessions[2:]:
        assert client_frames(reopened)[0]["session"]["instructions"] == "Keep notes short."


@handles("stalled-stream")
async def stalled_stream(run: Run) -> None:
    async with run.client(settings=quick(response_timeout=0.3)) as client:
        await client.add_text(run.user_text())
        stream = await client.respond(output_modalities=["text"])
        with pytest.raises(Timeout) as info:
            await stream.done()
        assert "response resp_" in info.value.what
        assert stream.text.startswith("The sea")  # the deltas before the stall
        # The stalled response never ended, so a new one is queued, not raced, and fails
        # in bounded time too.
        queued = await client.respond()
        assert not queued.sent
        with pytest.raises(Timeout, match=r"queued response\.create"):
            await queued.done()
    [transcript] = await run.ended(1)
    sent = [f["type"] for f in client_frames(transcript)]
    assert sent.count("response.create") == 1
    assert "response.cancel" in sent  # the client asked the server to stop the stalled one


@handles("tcp-drop-mid-response")
async def tcp_drop_mid_response(run: Run) -> None:
    client = run.client(reconnect=policy(max_attempts=1))
    await client.connect()
    await client.configure(instructions="Keep notes short.")
    await client.add_text(run.user_text())
    stream = await client.respond(output_modalities=["text"])
    started = run.loop_time
    with pytest.raises(ConnectionClosed) as info:
        await stream.done()
    assert run.loop_time - started < 1.0  # at once, not after a close timeout
    assert (info.value.code, info.value.by_client) == (1006, False)
    assert stream.text  # the deltas before the drop
    session = await client.configure(instructions="Shorter still.")  # after the reconnect
    assert session["instructions"] == "Shorter still."
    assert client.reconnects == 1
    assert run.reconnect_delays() == [0.02]
    reopened = run.server.transcripts[1]
    assert client_frames(reopened)[0]["session"]["instructions"] == "Keep notes short."


@handles("unknown-event-and-field")
async def unknown_event_and_field(run: Run) -> None:
    async with run.client() as client:
        await client.add_text(run.user_text())
        result = await (await client.respond(output_modalities=["text"])).done()
        assert client.closed is None
    assert result.status == "completed"
    [transcript] = await run.ended(1)
    assert server_events(transcript, "response.future_feature.delta")
    assert [result.text] == text_done(transcript)  # the unknown delta was not rendered
    assert not [r for r in run.caplog.records if r.levelno >= logging.ERROR]


@handles("unknown-item-id")
async def unknown_item_id(run: Run) -> None:
    missing = run.stimulus("conversation.item.delete")["item_id"]
    async with run.client() as client:
        with pytest.raises(UsageError):
            await client.add_text("x", item_id="bad id/with slash")  # refused locally
        # The client tracks the conversation: deleting an item it does not have is refused
        # before anything is sent, so the server's item_delete_invalid_item_id never comes.
        with pytest.raises(LocalProtocolError, match="does not exist"):
            await client.delete_item(missing)
        item = await client.add_text(run.user_text())
        await client.delete_item(item["id"])  # a known item is deleted as usual
        with pytest.raises(LocalProtocolError):
            await client.delete_item(item["id"])  # and only once
        result = await (await client.respond()).done()
        assert client.closed is None
    assert result.status == "completed"
    [transcript] = await run.ended(1)
    deletes = [f for f in client_frames(transcript) if f["type"] == "conversation.item.delete"]
    assert [d["item_id"] for d in deletes] == [item["id"]]
    assert server_events(transcript, "error") == []


@handles("voice-locked-after-audio")
async def voice_locked_after_audio(run: Run) -> None:
    change = run.stimulus("session.update")["session"]
    new_voice = change["audio"]["output"]["voice"]
    async with run.client() as client:
        await client.configure(voice="alloy")  # before any audio: accepted
        await client.add_text(run.user_text())
        spoken = await (await client.respond(output_modalities=["audio"])).done()
        assert spoken.text
        # The client knows assistant audio exists: the voice change is refused locally,
        # with the server's own wording, and nothing is sent.
        with pytest.raises(LocalProtocolError, match="Cannot update a conversation's voice"):
            await client.configure(voice=new_voice, instructions=change["instructions"])
        assert client.session is not None
        assert client.session.get("instructions") != change["instructions"]
        # The same update without the voice goes through.
        session = await client.configure(instructions=change["instructions"])
        assert client.closed is None
    assert session["instructions"] == change["instructions"]
    assert session["audio"]["output"]["voice"] == "alloy"
    [transcript] = await run.ended(1)
    updates = [f for f in client_frames(transcript) if f["type"] == "session.update"]
    assert [u["session"].get("audio", {}).get("output", {}).get("voice") for u in updates] == [
        "alloy",
        None,
    ]
    assert server_events(transcript, "error") == []


# ------------------------------------------------ permanent closes while reconnecting
@pytest.mark.parametrize(
    ("scenario_id", "code", "reason"),
    [
        ("invalid-api-key", 3000, "invalid_request_error.invalid_api_key"),
        ("retired-model", 4004, "invalid_request_error.model_not_found"),
    ],
)
async def test_a_permanent_close_while_reconnecting_ends_the_retries(
    scenario_id: str, code: int, reason: str
) -> None:
    # The first session expires (a transient close, retried); by the time the client
    # reconnects, the server rejects it for good. The client stops there, attempts left.
    async with (
        asyncio.timeout(DEADLINE),
        serve(port=0, close_timeout=1.0, session_max_duration=0.3) as server,
    ):
        client = RealtimeClient(
            server.url, api_key=API_KEY, settings=FAST, reconnect=policy(max_attempts=5)
        )
        try:
            await client.connect()
            server.config = dataclasses.replace(server.config, scenario=scenario_id)
            final = await client.wait_closed()
        finally:
            await client.close()
        transcripts = await server.wait_for_sessions(2, timeout=5.0)
    assert isinstance(final, ConnectionClosed)
    assert (final.code, final.reason) == (code, reason)
    assert "gave up reconnecting after 1 attempt(s)" in final.__notes__
    assert client.reconnects == 0
    assert len(transcripts) == len(server.transcripts) == 2


# ------------------------------------------------------------------ client bugs
async def test_a_duplicated_delta_is_rendered_once() -> None:
    async with (
        asyncio.timeout(DEADLINE),
        serve(port=0, scenario="events-out-of-order-duplicated", close_timeout=1.0) as server,
    ):
        async with RealtimeClient(server.url, api_key=API_KEY, settings=FAST) as client:
            await client.add_text("Hello there")
            result = await (await client.respond(output_modalities=["text"])).done()
        [transcript] = await server.wait_for_sessions(1)
    assert [result.text] == text_done(transcript)


async def test_benign_errors_during_a_response_do_not_fail_it() -> None:
    # The four errors answer the response.create, before response.created; a slow first
    # delta keeps the response active after them.
    async with (
        asyncio.timeout(DEADLINE),
        serve(
            port=0,
            scenario="benign-errors-mid-session",
            close_timeout=1.0,
            first_delta_delay=0.5,
        ) as server,
        RealtimeClient(server.url, api_key=API_KEY, settings=FAST) as client,
    ):
        await client.add_text("Still there?")
        result = await (await client.respond(output_modalities=["text"])).done()
        assert result.status == "completed"


@pytest.mark.parametrize(
    ("scenario_id", "code", "reason"),
    [
        pytest.param("oversized-server-frame", 1009, "exceeds limit", id="frame-too-big"),
        pytest.param("pings-unanswered", 1011, "keepalive ping timeout", id="ping-timeout"),
    ],
)
async def test_a_connection_the_client_fails_reports_its_own_close_code(
    scenario_id: str, code: int, reason: str
) -> None:
    settings = quick(ping_interval=0.1, ping_timeout=0.1)
    async with (
        asyncio.timeout(DEADLINE),
        serve(port=0, scenario=scenario_id, close_timeout=1.0) as server,
    ):
        client = RealtimeClient(
            server.url, api_key=API_KEY, settings=settings, max_size=1024 * 1024
        )
        try:
            await client.connect()
            if scenario_id == "oversized-server-frame":
                await client.add_text("Talk to me.")
                await client.respond(output_modalities=["audio"])
            final = await client.wait_closed()
        finally:
            await client.close()
    assert isinstance(final, ConnectionClosed)
    assert final.code == code
    assert reason in final.reason


@handles("sip-basic")
async def sip_basic(run: Run) -> None:
    # On a plain WebSocket the scenario's DTMF events reach the client as on a SIP call's
    # sideband: a GA event the client tracks (no event_id) without failing its response.
    async with run.client() as client:
        await client.add_text(run.user_text())
        result = await (await client.respond(output_modalities=["text"])).done()
        assert client.closed is None
    assert result.status == "completed"
    [transcript] = await run.ended(1)
    digits = server_events(transcript, "input_audio_buffer.dtmf_event_received")
    assert digits, "the scenario's DTMF events reached the client's session"
    assert all("event_id" not in e for e in digits)
    assert not [r for r in run.caplog.records if r.levelno >= logging.ERROR]
