"""Deciding what a response says: context, reply text, tool calls and input usage."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from . import session_config as sc
from .responder import (
    DEFAULT_TOKEN_LIMIT,
    ResponsePlan,
    cached_input,
    reply_text,
    sample_arguments,
)

if TYPE_CHECKING:
    from .behaviour import Behaviour

# Items a response answers besides user messages (an MCP approval answer starts one).
_TURN_ITEM_TYPES = frozenset({"function_call_output", "mcp_approval_response"})
_ITEM_OVERHEAD_TOKENS = 3  # special tokens per item (a 10-token message counts ~12-13)


def _context(b: Behaviour, params: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The items a response reads: `response.input` if given, else the conversation."""
    given = params.get("input")
    if isinstance(given, list):
        items = []
        for item in given:
            if isinstance(item, Mapping) and item.get("type") == "item_reference":
                found = b.items.get(str(item.get("id")))
                if found is not None:
                    items.append(found)
            elif isinstance(item, Mapping):
                items.append(dict(item))
        return items
    return [b.items[i] for i in b.app.session.conversation.item_ids if i in b.items]


def _last_user_turn(items: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    for item in reversed(items):
        if item.get("role") == "user" or item.get("type") in _TURN_ITEM_TYPES:
            found: Mapping[str, Any] = item
            return found
    return None


def _texts(item: Mapping[str, Any] | None) -> list[str]:
    if item is None:
        return []
    return [
        str(part.get("text"))
        for part in item.get("content") or ()
        if isinstance(part, Mapping) and part.get("type") == "input_text"
    ]


def _tool_call(
    b: Behaviour, params: Mapping[str, Any], last: Mapping[str, Any] | None
) -> tuple[str, str, str] | None:
    """A function call when tool_choice forces one, or the user names a function tool."""
    if last is not None and last.get("type") == "function_call_output":
        return None  # answer the tool result in text, never loop
    tools = params.get("tools", b.session.get("tools")) or []
    functions = [t for t in tools if isinstance(t, Mapping) and t.get("type") == "function"]
    if not functions:
        return None
    choice = params.get("tool_choice", b.session.get("tool_choice", "auto"))
    chosen: Mapping[str, Any] | None = None
    if isinstance(choice, Mapping) and choice.get("type") == "function":
        chosen = next((f for f in functions if f.get("name") == choice.get("name")), None)
    elif choice == "required":
        chosen = functions[0]
    elif choice == "auto":
        said = " ".join(_texts(last))
        chosen = next((f for f in functions if str(f.get("name")) in said), None)
    if chosen is None:
        return None
    name = str(chosen.get("name"))
    return b.app.ids.new("call"), name, sample_arguments(chosen.get("parameters"))


def _input_usage(
    b: Behaviour, items: Sequence[Mapping[str, Any]], instructions: str
) -> dict[str, int]:
    text = math.ceil(len(instructions) / 4)
    audio = 0
    images = 0
    for item in items:
        text += _ITEM_OVERHEAD_TOKENS
        item_id = str(item.get("id"))
        audio += int(b.audio_ms.get(item_id, 0) // 100)  # 1 token per 100 ms of user audio
        images += len(b.images.get(item_id, ())) * b.app.config.image_tokens
        for part in item.get("content") or ():
            if isinstance(part, Mapping):
                for key in ("text", "transcript"):
                    if isinstance(part.get(key), str):
                        text += math.ceil(len(part[key]) / 4)
        for key in ("arguments", "output"):
            if isinstance(item.get(key), str):
                text += math.ceil(len(item[key]) / 4)
    return {"text_tokens": text, "audio_tokens": audio, "image_tokens": images}


def plan_response(
    b: Behaviour, params: Mapping[str, Any], *, failure: Mapping[str, Any] | None
) -> ResponsePlan:
    """Everything the next response will send, decided up front and reproducibly."""
    items = _context(b, params)
    last = _last_user_turn(items)
    instructions = str(params.get("instructions", b.session.get("instructions", "")))
    modalities = params.get("output_modalities") or sc.output_modalities(b.session)
    output = b.session.get("audio", {}).get("output", {})
    audio_params = params.get("audio", {}).get("output", {}) if params.get("audio") else {}
    images = [info.describe() for info in b.images.get(str(last.get("id")), ())] if last else []
    function_output = None
    if last is not None and last.get("type") == "function_call_output":
        name = _call_name(b, str(last.get("call_id")))
        function_output = (name, str(last.get("output", "")))
    call = _tool_call(b, params, last)
    more_calls = _parallel_calls(b, params, last, call)
    mcp = b.mcp.plan_step(b, params, last) if call is None else None
    text = b.reply_override or reply_text(
        images=images,
        texts=_texts(last),
        function_output=function_output,
        seed=b.app.config.seed,
        turn=b.turn,
        template=b.app.config.reply_template,
    )
    if mcp is not None and mcp.kind != "approval" and b.reply_override is None:
        text = mcp.reply(seed=b.app.config.seed, turn=b.turn)  # about the call's result
    conversation = params.get("conversation", "auto")
    max_output_tokens = params.get("max_output_tokens", b.session.get("max_output_tokens", "inf"))
    return ResponsePlan(
        response_id=b.app.ids.new("resp"),
        item_id=b.app.ids.new("item"),
        conversation_id=None if conversation == "none" else b.conversation_id,
        modalities=list(modalities),
        text=text,
        voice=sc.voice_name(audio_params.get("voice", output.get("voice", "alloy"))),
        output_format=dict(audio_params.get("format", output.get("format", sc.PCM))),
        max_output_tokens=max_output_tokens,
        token_limit=token_limit(b, max_output_tokens),
        metadata=params.get("metadata"),
        input_usage=_cached(b, conversation, _input_usage(b, items, instructions)),
        call=call,
        more_calls=more_calls,
        mcp=mcp,
        failure=failure,
        tokens_per_delta=b.app.config.tokens_per_delta,
        seed=b.app.config.seed,
    )


def token_limit(b: Behaviour, max_output_tokens: object) -> int:
    """How many output tokens a response may make: its `max_output_tokens`, or for "inf"
    the model's limit (models.yaml), or `DEFAULT_TOKEN_LIMIT` for a model without one."""
    info = b.app.registry.get(str(b.session.get("model") or b.app.request.model or ""))
    model_limit = info.max_output_tokens if info and info.max_output_tokens else None
    limit = model_limit or DEFAULT_TOKEN_LIMIT
    if isinstance(max_output_tokens, (int, float)) and not isinstance(max_output_tokens, bool):
        return max(0, min(int(max_output_tokens), limit))
    return limit


def _parallel_calls(
    b: Behaviour,
    params: Mapping[str, Any],
    last: Mapping[str, Any] | None,
    first: tuple[str, str, str] | None,
) -> list[tuple[str, tuple[str, str, str]]]:
    """More function calls in the same response, as (item id, call): on a model with
    reasoning (the ones that take `parallel_tool_calls`), when the session or the response
    allows parallel calls, every other function the user's text names, in tool order
    [SPEC: several function_call items in one response; which ones, INFERRED]."""
    if first is None or not params.get("parallel_tool_calls", b.parallel_tool_calls):
        return []
    info = b.app.registry.get(str(b.session.get("model") or ""))
    if info is None or not info.reasoning:
        return []
    tools = params.get("tools", b.session.get("tools")) or []
    said = " ".join(_texts(last))
    calls = []
    for tool in tools:
        if not (isinstance(tool, Mapping) and tool.get("type") == "function"):
            continue
        name = str(tool.get("name"))
        if name != first[1] and name in said:
            call = (b.app.ids.new("call"), name, sample_arguments(tool.get("parameters")))
            calls.append((b.app.ids.new("item"), call))
    return calls


def _cached(b: Behaviour, conversation: object, usage: dict[str, int]) -> dict[str, int]:
    """Input usage with the prompt-cache counts: a default-conversation response reads
    the previous one's prompt again, so that prefix counts as cached (live: cached_tokens
    grows turn by turn, protocol notes §5(j))."""
    if conversation == "none":
        return cached_input(None, usage)
    result = cached_input(b.last_input_usage, usage)
    b.last_input_usage = usage
    return result


def _call_name(b: Behaviour, call_id: str) -> str:
    for item in b.items.values():
        if item.get("type") == "function_call" and item.get("call_id") == call_id:
            return str(item.get("name"))
    return "function"
