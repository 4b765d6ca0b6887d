"""Deterministic responses: what the mock says, in the live event order, and what it bills.

A response is a *plan* (what to say, which modality, which tool call) turned into a
*stream*: a generator of `(delay_ms, event)` pairs in the order of protocol notes
§5d (text), §5e (audio) and §5f (function calls). The generator checks `plan.stop`
before every delta, so a `response.cancel` or a barge-in ends the response early with
the terminal events the spec describes (§5h), `status: "cancelled"`.

Usage rules (stated here because the live ones for text and images are not published):
text tokens = ceil(characters / 4) per text, plus 3 per conversation item; image tokens
= `MockConfig.image_tokens` per `input_image`; input audio 1 token per 100 ms; output
audio 1 token per 50 ms [docs: realtime-costs]; each output text delta token counts 1.
"""

from __future__ import annotations

import difflib
import json
import math
import random
import re
from collections.abc import Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from conformance.protocol.errors import ConfigError

from .media import G711_FORMATS, synth_audio_b64

Stream = Iterator[tuple[float, dict[str, Any]]]
Counted = Generator[tuple[float, dict[str, Any]], None, tuple[int, int, bool]]
# A token: a word and its trailing space, at most 16 + 16 characters (a longer run is
# several tokens), so one token is never a large share of a reply and a reply of N tokens
# is at most 32 N characters. Tokens are found lazily (`finditer`), never all at once.
_MAX_WORD = 16
_WORD = re.compile(r"\S{1,16}\s{0,16}|\s{1,16}")
_NOTE_WORDS = (
    "layout", "contrast", "legible", "aligned", "crowded", "balanced", "readable",
    "dense", "clear", "compact", "spacious", "sharp",
)  # fmt: skip
AUDIO_MS_PER_WORD = 200
AUDIO_TOKENS_PER_WORD = AUDIO_MS_PER_WORD // 50  # output audio: 1 token per 50 ms
# Without a number in `max_output_tokens` ("inf") and without a model limit in the registry.
DEFAULT_TOKEN_LIMIT: Final = 4096
# Reply-text inputs longer than this are cut before the reply is built (the reply is cut
# at `max_output_tokens` anyway; 32 characters per token at the largest model limit).
MAX_ECHO_CHARS: Final = 32 * 32_000
# `MockConfig.reply_template` (`--reply-template`): `{name}` is replaced, per response.
REPLY_PLACEHOLDERS: Final = {
    "reply": "the reply the mock sends without a template",
    "screenshots": "one sentence per image of the turn: format, pixel size, digest",
    "text": "the text the user sent in the turn",
    "turn": "the number of this response in the session: 1, 2, ...",
}
_REPLY_PLACEHOLDER = re.compile(r"\{([A-Za-z_]\w*)\}")


# `MockConfig.pace = "live"`. INFERRED: no first-delta latency or token rate of the live
# server is published or captured (protocol notes §5, §7, §8 give none); these are the
# figures clients commonly report for gpt-realtime, and wide enough that a response is
# active for about a second. The transcription delay is observed once: the first delta
# ~1.2 s after the commit (protocol notes §5(g), [LIVE-3P] probe 7).
LIVE_FIRST_DELTA_MS: Final = (300.0, 600.0)  # per response, uniform, drawn from the seed
LIVE_TOKENS_PER_SECOND: Final = (30.0, 60.0)  # per response, uniform, drawn from the seed
LIVE_DELTA_JITTER: Final = 0.25  # each gap between deltas: +-25% around the response's rate
LIVE_TRANSCRIPTION_MS: Final = (900.0, 1500.0)  # commit to the first transcription delta


@dataclass(frozen=True, slots=True, kw_only=True)
class Pace:
    """How fast a stream goes: (low, high) ranges, drawn once per stream from its seed.

    Zeros mean as fast as possible; a range whose ends are equal is exact (nothing drawn).
    """

    first_delta_ms: tuple[float, float] = (0.0, 0.0)
    tokens_per_second: tuple[float, float] = (0.0, 0.0)  # 0: no wait between deltas
    jitter: float = 0.0  # each gap varies by up to this fraction either way
    transcription_ms: tuple[float, float] = (0.0, 0.0)  # commit to the first delta
    audio_realtime: bool = False

    def clock(self, key: str, *, transcription: bool = False) -> PaceClock:
        """The delays of one stream (a response, or one item's transcription)."""
        return PaceClock(self, key, transcription=transcription)


class PaceClock:
    """The delays of one stream, reproducible from `key` (the seed and the stream's id)."""

    __slots__ = ("_jitter", "_ms_per_token", "_rng", "first_ms")

    def __init__(self, pace: Pace, key: str, *, transcription: bool = False) -> None:
        first = pace.transcription_ms if transcription else pace.first_delta_ms
        drawn = first[0] != first[1] or pace.tokens_per_second[0] != pace.tokens_per_second[1]
        self._rng = random.Random(key) if drawn or pace.jitter else None
        self.first_ms = self._draw(first)
        rate = self._draw(pace.tokens_per_second)
        self._ms_per_token = 1000.0 / rate if rate > 0 else 0.0
        self._jitter = pace.jitter

    def _draw(self, bounds: tuple[float, float]) -> float:
        low, high = bounds
        if low == high or self._rng is None:
            return low
        return self._rng.uniform(low, high)

    def gap_ms(self, tokens: int) -> float:
        """The wait before a delta of `tokens` tokens that follows another one."""
        gap = self._ms_per_token * tokens
        if gap and self._jitter and self._rng is not None:
            gap *= 1.0 + self._rng.uniform(-self._jitter, self._jitter)
        return gap


@dataclass(slots=True, kw_only=True)
class ResponsePlan:
    """Everything one response will send; `stop` ends it early when set."""

    response_id: str
    item_id: str
    conversation_id: str | None
    modalities: list[str]
    text: str
    voice: str
    output_format: dict[str, Any]
    max_output_tokens: int | str
    metadata: Mapping[str, Any] | None
    input_usage: dict[str, int]
    call: tuple[str, str, str] | None = None  # (call_id, name, arguments)
    mcp: Any = None  # an `mcp.McpStep`: an approval request or an MCP call (mock_server/mcp.py)
    failure: Mapping[str, Any] | None = None  # status_details of a failed response
    tokens_per_delta: int = 1
    token_limit: int = DEFAULT_TOKEN_LIMIT  # output tokens (text + audio) this response may make
    seed: int = 0
    stop: str | None = None  # "client_cancelled" | "turn_detected"
    item_deleted: bool = False  # the client deleted an item while it was being written
    # Ids of the output items the client deleted while they streamed: their events stop
    # (no further deltas, no .done events) and the response ends cancelled [INFERRED].
    deleted: set[str] = field(default_factory=set)
    # Parallel function calls after `call` (models with parallel_tool_calls): (item id, call).
    more_calls: list[tuple[str, tuple[str, str, str]]] = field(default_factory=list)
    audio_chunks: list[str] = field(default_factory=list)  # the output audio deltas (base64)
    output_items: list[dict[str, Any]] = field(default_factory=list)


def words(text: str) -> list[str]:
    """Split text into the tokens the mock streams (a word and its trailing space)."""
    return _WORD.findall(text) or [text]


def iter_words(text: str) -> Iterator[str]:
    """`words(text)`, one at a time (a long text is never split all at once)."""
    found = False
    for match in _WORD.finditer(text):
        found = True
        yield match.group()
    if not found:
        yield text


def _clip(text: str) -> str:
    return text if len(text) <= MAX_ECHO_CHARS else text[:MAX_ECHO_CHARS] + "..."


def reply_text(
    *,
    images: Sequence[str],
    texts: Sequence[str],
    function_output: tuple[str, str] | None,
    seed: int,
    turn: int,
    template: str | None = None,
) -> str:
    """The deterministic reply: names every image's format, size and digest, and the text.

    With `template` (`MockConfig.reply_template`), the template with its
    `REPLY_PLACEHOLDERS` filled in, e.g. `"Seen: {screenshots}"`.
    """
    shots = [f"Screenshot {number}: {image}." for number, image in enumerate(images, 1)]
    parts = list(shots)
    if texts:
        parts.append(f"You wrote: {_clip(' '.join(_clip(t) for t in texts))!r}.")
    if function_output is not None:
        parts.append(f"The function {function_output[0]} returned {_clip(function_output[1])!r}.")
    if not parts:
        parts.append("Hello from the realtime-conformance mock server.")
    first = _NOTE_WORDS[(seed + turn) % len(_NOTE_WORDS)]
    second = _NOTE_WORDS[(seed * 7 + turn * 3 + 1) % len(_NOTE_WORDS)]
    parts.append(f"Note {turn}: {first}, {second}.")
    reply = " ".join(parts)
    if template is None:
        return reply
    values = {"reply": reply, "screenshots": " ".join(shots), "text": _clip(" ".join(texts))}
    values["turn"] = str(turn)
    return _REPLY_PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def check_reply_template(template: str | None) -> None:
    """Refuse a reply template with an unknown `{placeholder}` (with a did-you-mean).

    Raises:
        ConfigError: a placeholder is not one of `REPLY_PLACEHOLDERS`, or the reply
            would be empty.
    """
    if template is None:
        return
    if not template.strip():
        raise ConfigError("reply_template: an empty reply; leave the setting out instead")
    for found in _REPLY_PLACEHOLDER.finditer(template):
        name = found.group(1)
        if name in REPLY_PLACEHOLDERS:
            continue
        close = difflib.get_close_matches(name, REPLY_PLACEHOLDERS, n=1)
        hint = f"did you mean {{{close[0]}}}? " if close else ""
        known = ", ".join(f"{{{known}}}" for known in REPLY_PLACEHOLDERS)
        raise ConfigError(
            f"reply_template: unknown placeholder {found.group(0)}; {hint}(known: {known})"
        )


def sample_arguments(parameters: object) -> str:
    """Arguments for a tool call: a sample value for every required parameter."""
    if not isinstance(parameters, Mapping):
        return "{}"
    properties = parameters.get("properties")
    props = properties if isinstance(properties, Mapping) else {}
    required = parameters.get("required")
    names = [n for n in required if n in props] if isinstance(required, list) else list(props)
    samples = {"string": "example", "number": 1.5, "integer": 1, "boolean": True, "array": []}
    result: dict[str, Any] = {}
    for name in names:
        spec = props[name] if isinstance(props[name], Mapping) else {}
        enum = spec.get("enum")
        result[name] = (
            enum[0] if isinstance(enum, list) and enum else samples.get(str(spec.get("type")), {})
        )
    return json.dumps(result, separators=(",", ":"))


def _response_body(plan: ResponsePlan, status: str, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "object": "realtime.response",
        "id": plan.response_id,
        "status": status,
        "status_details": None,
        "output": [],
        "conversation_id": plan.conversation_id,
        "output_modalities": plan.modalities,
        "max_output_tokens": plan.max_output_tokens,
        "audio": {"output": {"format": plan.output_format, "voice": plan.voice}},
        "usage": None,
        "metadata": dict(plan.metadata) if plan.metadata is not None else None,
    }
    body.update(extra)
    return body


def stream_response(plan: ResponsePlan, pace: Pace) -> Stream:
    """All events of one response, in live order, each with the delay before it."""
    yield 0.0, {"type": "response.created", "response": _response_body(plan, "in_progress")}
    if plan.failure is not None:
        status = str(plan.failure.get("type") or "failed")  # failed | incomplete | cancelled
        yield from _finish(plan, status, dict(plan.failure), 0, 0)
        return
    clock = pace.clock(f"{plan.seed}/{plan.response_id}")
    if plan.call is not None:
        counts = yield from _function_call(plan, clock)
        for index, (item_id, call) in enumerate(plan.more_calls, 1):
            if plan.stop is not None:
                break
            more = yield from _function_call(plan, clock, item_id, call, index)
            counts = (counts[0] + more[0], counts[1], False)
    elif plan.mcp is not None:
        from .mcp import stream_mcp  # only sessions that name an MCP server load it

        counts = yield from stream_mcp(plan, pace, clock)
    else:
        counts = yield from _message(plan, pace, clock)
    if plan.stop is not None:
        details: dict[str, Any] = {"type": "cancelled", "reason": plan.stop}
        yield from _finish(plan, "cancelled", details, counts[0], counts[1])
    elif counts[2]:
        details = {"type": "incomplete", "reason": "max_output_tokens"}
        yield from _finish(plan, "incomplete", details, counts[0], counts[1])
    else:
        yield from _finish(plan, "completed", None, counts[0], counts[1])


def stream_transcription(
    item_id: str,
    transcript: str,
    seconds: float,
    clock: PaceClock,
    *,
    usage: Mapping[str, Any] | None = None,
    segment_id: str | None = None,
) -> Stream:
    """The input transcription of one committed item, on its own clock (protocol notes
    §5(g): asynchronous, so it may land before, among or after the response's events):
    one delta per word, then `completed`. With `segment_id` (a diarizing model such as
    gpt-4o-transcribe-diarize) the utterance is one speaker's segment: a `.segment` event
    follows its deltas, as the streaming transcription API sends `transcript.text.segment`
    when a segment completes [order INFERRED]."""
    ids = {"item_id": item_id, "content_index": 0}
    delay = clock.first_ms
    for word in iter_words(transcript):
        yield delay, {"type": "conversation.item.input_audio_transcription.delta", **ids,
                      "delta": word, "obfuscation": "mock"}  # fmt: skip
        delay = clock.gap_ms(1)
    if segment_id is not None:
        yield 0.0, {"type": "conversation.item.input_audio_transcription.segment", **ids,
                    "text": transcript, "id": segment_id, "speaker": "A", "start": 0.0,
                    "end": round(seconds, 3)}  # fmt: skip
    billed = dict(usage) if usage is not None else {"type": "duration", "seconds": seconds}
    yield 0.0, {"type": "conversation.item.input_audio_transcription.completed", **ids,
                "transcript": transcript, "usage": billed}  # fmt: skip


# The spec's own example of a failed input transcription (RealtimeServerEvent
# ConversationItemInputAudioTranscriptionFailed); `param` is left out: its schema says
# string, the example's null would not validate.
TRANSCRIPTION_FAILED: Final = {
    "type": "transcription_error",
    "code": "audio_unintelligible",
    "message": "The audio could not be transcribed.",
}


def stream_transcription_failed(item_id: str, clock: PaceClock) -> Stream:
    """Input that cannot be transcribed (a committed buffer with no speech in it):
    `.failed` instead of deltas and `.completed`, as late as a first delta would be."""
    yield clock.first_ms, {"type": "conversation.item.input_audio_transcription.failed",
                           "item_id": item_id, "content_index": 0,
                           "error": dict(TRANSCRIPTION_FAILED)}  # fmt: skip


def _ids(plan: ResponsePlan, output_index: int = 0) -> dict[str, Any]:
    return {"response_id": plan.response_id, "item_id": plan.item_id, "output_index": output_index}


def _item_events(plan: ResponsePlan, item: dict[str, Any], output_index: int = 0) -> Stream:
    yield 0.0, {"type": "response.output_item.added", "response_id": plan.response_id,
                "output_index": output_index, "item": item}  # fmt: skip
    if plan.conversation_id is not None:
        yield 0.0, {"type": "conversation.item.added", "item": item}


def _end_item(plan: ResponsePlan, item: dict[str, Any], output_index: int = 0) -> Stream:
    if item.get("id") in plan.deleted:
        return  # deleted while it streamed: its events stopped there, and it is no output
    plan.output_items.append(item)
    if plan.conversation_id is not None:
        yield 0.0, {"type": "conversation.item.done", "item": item}
    if item.get("id") in plan.deleted:
        return  # deleted between the two .done events
    yield 0.0, {"type": "response.output_item.done", "response_id": plan.response_id,
                "output_index": output_index, "item": item}  # fmt: skip


def _message(plan: ResponsePlan, pace: Pace, clock: PaceClock, output_index: int = 0) -> Counted:
    audio = "audio" in plan.modalities
    item = {"id": plan.item_id, "type": "message", "status": "in_progress",
            "role": "assistant", "content": []}  # fmt: skip
    yield from _item_events(plan, item, output_index)
    empty = {"type": "audio", "transcript": ""} if audio else {"type": "text", "text": ""}
    ids = {**_ids(plan, output_index), "content_index": 0}
    yield 0.0, {"type": "response.content_part.added", **ids, "part": empty}
    # Tokens are taken one at a time and counted against the response's limit (text and
    # audio tokens, as the live server counts `max_output_tokens`), so a huge input never
    # makes a huge list, and the reply ends `incomplete` at the limit.
    per_word = 1 + (AUDIO_TOKENS_PER_WORD if audio else 0)
    budget = max(0, plan.token_limit)
    tokens = iter_words(plan.text)
    truncated = False
    sent: list[str] = []
    audio_bytes = 0
    step = max(1, plan.tokens_per_delta)
    index = 0
    while plan.stop is None:
        chunk_words: list[str] = []
        for word in tokens:
            if budget < per_word:
                truncated = True
                break
            budget -= per_word
            chunk_words.append(word)
            if len(chunk_words) == step:
                break
        if not chunk_words:
            break
        chunk = "".join(chunk_words)
        delay = clock.first_ms if index == 0 else clock.gap_ms(len(chunk_words))
        if audio:
            ms = AUDIO_MS_PER_WORD * len(chunk_words)
            pcm_b64, pcm_size = synth_audio_b64(ms, seed=index, fmt=plan.output_format.get("type"))
            if pace.audio_realtime and index:
                delay = max(delay, AUDIO_MS_PER_WORD * step)
            yield delay, {"type": "response.output_audio_transcript.delta", **ids,
                          "delta": chunk, "obfuscation": _obfuscation(plan, index)}  # fmt: skip
            if plan.item_id in plan.deleted:
                break  # deleted while its transcript delta waited: no audio for it
            yield 0.0, {"type": "response.output_audio.delta", **ids, "delta": pcm_b64}
            plan.audio_chunks.append(pcm_b64)
            audio_bytes += pcm_size
        else:
            yield delay, {"type": "response.output_text.delta", **ids, "delta": chunk,
                          "obfuscation": _obfuscation(plan, index)}  # fmt: skip
        sent.append(chunk)
        index += len(chunk_words)
        if truncated:
            break
    text = "".join(sent)
    audio_tokens = math.ceil(audio_bytes / _bytes_per_ms(plan.output_format) / 50)
    if plan.item_id in plan.deleted:
        return (index if text else 0), audio_tokens, False
    status = "incomplete" if plan.stop is not None or truncated else "completed"
    if audio:
        yield 0.0, {"type": "response.output_audio.done", **ids}
        yield 0.0, {"type": "response.output_audio_transcript.done", **ids, "transcript": text}
        done_part = {"type": "audio", "transcript": text}
        content = [{"type": "output_audio", "transcript": text}]
    else:
        yield 0.0, {"type": "response.output_text.done", **ids, "text": text}
        done_part = {"type": "text", "text": text}
        content = [{"type": "output_text", "text": text}]
    yield 0.0, {"type": "response.content_part.done", **ids, "part": done_part}
    final = {**item, "status": status, "content": content}
    yield from _end_item(plan, final, output_index)
    text_tokens = index if text else 0
    return text_tokens, audio_tokens, truncated and plan.stop is None


def _function_call(
    plan: ResponsePlan,
    clock: PaceClock,
    item_id: str | None = None,
    call: tuple[str, str, str] | None = None,
    output_index: int = 0,
) -> Counted:
    """One function_call item: the plan's first call, or a parallel one (`item_id`, `call`)."""
    item_id = item_id or plan.item_id
    call = call or plan.call
    assert call is not None
    call_id, name, arguments = call
    item = {"id": item_id, "type": "function_call", "status": "in_progress",
            "call_id": call_id, "name": name, "arguments": ""}  # fmt: skip
    yield from _item_events(plan, item, output_index)
    ids = {"response_id": plan.response_id, "item_id": item_id, "output_index": output_index}
    sent = []
    for start in range(0, len(arguments), 8):
        if plan.stop is not None:
            break
        delay = clock.first_ms if start == 0 else clock.gap_ms(plan.tokens_per_delta)
        delta = arguments[start : start + 8]
        yield delay, {"type": "response.function_call_arguments.delta", **ids,
                      "call_id": call_id, "delta": delta}  # fmt: skip
        sent.append(delta)
    done_args = "".join(sent)
    if item_id in plan.deleted:
        return math.ceil(len(done_args) / 4), 0, False
    yield 0.0, {"type": "response.function_call_arguments.done", **ids,
                "call_id": call_id, "name": name, "arguments": done_args}  # fmt: skip
    status = "incomplete" if plan.stop is not None else "completed"
    final = {**item, "status": status, "arguments": done_args}
    yield from _end_item(plan, final, output_index)
    return math.ceil(len(done_args) / 4), 0, False


def _finish(
    plan: ResponsePlan,
    status: str,
    details: dict[str, Any] | None,
    text_out: int,
    audio_out: int,
) -> Stream:
    if plan.failure is not None:
        usage = _usage({"text_tokens": 0, "audio_tokens": 0, "image_tokens": 0}, 0, 0)
    else:
        usage = _usage(plan.input_usage, text_out, audio_out)
    body = _response_body(
        plan, status, status_details=details, output=list(plan.output_items), usage=usage
    )
    yield 0.0, {"type": "response.done", "response": body}


def _usage(inputs: Mapping[str, int], text_out: int, audio_out: int) -> dict[str, Any]:
    text_in = inputs.get("text_tokens", 0)
    audio_in = inputs.get("audio_tokens", 0)
    image_in = inputs.get("image_tokens", 0)
    input_tokens = text_in + audio_in + image_in
    output_tokens = text_out + audio_out
    cached = {
        k: inputs.get(f"cached_{k}", 0) for k in ("text_tokens", "audio_tokens", "image_tokens")
    }
    return {
        "total_tokens": input_tokens + output_tokens,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "input_token_details": {
            "text_tokens": text_in,
            "audio_tokens": audio_in,
            "image_tokens": image_in,
            "cached_tokens": sum(cached.values()),
            "cached_tokens_details": cached,
        },
        "output_token_details": {"text_tokens": text_out, "audio_tokens": audio_out},
    }


def cached_input(previous: Mapping[str, int] | None, current: Mapping[str, int]) -> dict[str, int]:
    """`current` with the `cached_*` counts of a prompt whose prefix the previous response
    of the conversation read: the shorter of the two inputs, in whole 64-token blocks
    (live: 64 -> 128 over two turns, protocol notes §5(j), §7; the block size INFERRED),
    taken from text first, then audio, then images."""
    kinds = ("text_tokens", "audio_tokens", "image_tokens")
    total = sum(current.get(k, 0) for k in kinds)
    before = sum(previous.get(k, 0) for k in kinds) if previous else 0
    left = min(before, total) // 64 * 64
    result = {k: current.get(k, 0) for k in kinds}
    for kind in kinds:
        take = min(left, result[kind])
        result[f"cached_{kind}"] = take
        left -= take
    return result


def _bytes_per_ms(output_format: Mapping[str, Any]) -> int:
    return 8 if output_format.get("type") in G711_FORMATS else 48


_LETTERS = "abcdefghijklmnopqrstuvwxyz" * 2


def _obfuscation(plan: ResponsePlan, index: int) -> str:
    # Live deltas carry a random padding string; ours is derived from the ids, cheaply.
    start = (len(plan.response_id) * 7 + index * 5 + plan.seed) % 26
    return _LETTERS[start : start + 8]
