"""Simulated MCP servers: tools listed when a session names a server, called by responses.

The servers are data (`fixtures/mcp/*.yaml`, one server per file, found by the
`server_url` of a session's MCP tool). The flow follows protocol notes §5(j), whose order
is INFERRED from the spec's events (and from the Agents SDK, which retrieves the item on
each `.in_progress`, so the item is in the conversation by then):

* `session.update` naming an MCP server: `conversation.item.added` (an `mcp_list_tools`
  item, no tools yet) -> `mcp_list_tools.in_progress` -> `.completed` (or `.failed` for a
  server the mock does not know or that is down) -> `conversation.item.done` (the tools,
  filtered by `allowed_tools`). Each `server_label` is listed once per session.
* A response that picks an MCP tool (the user names it, or `tool_choice` forces it):
  with `require_approval` (the spec's default is `always`) an `mcp_approval_request` item
  and the response ends; the client's `mcp_approval_response` item then starts the next
  response by itself (the Agents SDK sends no `response.create` after it): an `mcp_call`
  when approved, a message saying so when denied. Without approval: the `mcp_call` item
  (`response.mcp_call_arguments.delta`/`.done`, `response.mcp_call.in_progress` ->
  `.completed`/`.failed`), then a message item (output_index 1) about its result.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from conformance.protocol.errors import ConfigError
from conformance.resources import mcp_dir

from .responder import (
    Counted,
    Pace,
    PaceClock,
    ResponsePlan,
    _end_item,
    _item_events,
    _message,
    _obfuscation,
    reply_text,
    sample_arguments,
)

if TYPE_CHECKING:
    from .behaviour import Behaviour

_ERROR_TYPES = frozenset({"protocol_error", "tool_execution_error", "http_error"})


@dataclass(frozen=True, slots=True, kw_only=True)
class McpTool:
    """One tool of a simulated server: what `tools/list` says, what a call returns."""

    name: str
    input_schema: Mapping[str, Any]
    description: str | None = None
    annotations: Mapping[str, Any] | None = None
    output: str = "ok"  # `{arguments}` is replaced by the call's JSON arguments
    error: Mapping[str, Any] | None = None  # every call fails with this error

    def listed(self) -> dict[str, Any]:
        """The tool as an `mcp_list_tools` item lists it (`MCPListToolsTool`)."""
        entry: dict[str, Any] = {"name": self.name, "input_schema": dict(self.input_schema)}
        if self.description is not None:
            entry["description"] = self.description
        if self.annotations is not None:
            entry["annotations"] = dict(self.annotations)
        return entry


@dataclass(frozen=True, slots=True, kw_only=True)
class McpServer:
    """One simulated MCP server (one file of `fixtures/mcp/`)."""

    name: str
    urls: tuple[str, ...]
    tools: tuple[McpTool, ...]
    reachable: bool = True
    description: str = ""

    def tool(self, name: str) -> McpTool | None:
        """The tool named `name`, or None."""
        return next((t for t in self.tools if t.name == name), None)


def _url_key(url: str) -> str:
    return url.strip().rstrip("/").lower()


def load_servers(folder: Path) -> dict[str, McpServer]:
    """Every server of `folder` (`*.yaml`), by normalised URL.

    Raises:
        ConfigError: a file is not a server description (says which and why).
    """
    servers: dict[str, McpServer] = {}
    for path in sorted(folder.glob("*.yaml")):
        server = _server(path)
        for url in server.urls:
            if _url_key(url) in servers:
                raise ConfigError(f"{path}: server_url {url!r} is also in another file")
            servers[_url_key(url)] = server
    return servers


def _server(path: Path) -> McpServer:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    if not isinstance(data, Mapping):
        raise ConfigError(f"{path}: expected a mapping with server_urls and tools")
    urls = data.get("server_urls")
    tools = data.get("tools")
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ConfigError(f"{path}: server_urls must be a non-empty list of URLs")
    if not isinstance(tools, list):
        raise ConfigError(f"{path}: tools must be a list")
    return McpServer(
        name=path.stem,
        urls=tuple(urls),
        tools=tuple(_tool(path, index, t) for index, t in enumerate(tools)),
        reachable=bool(data.get("reachable", True)),
        description=str(data.get("description", "")),
    )


def _tool(path: Path, index: int, data: object) -> McpTool:
    where = f"{path}: tools[{index}]"
    if not isinstance(data, Mapping) or not isinstance(data.get("name"), str):
        raise ConfigError(f"{where}: expected a mapping with a name")
    schema = data.get("input_schema", {"type": "object", "properties": {}})
    if not isinstance(schema, Mapping):
        raise ConfigError(f"{where}: input_schema must be a JSON schema object")
    error = data.get("error")
    if error is not None and (
        not isinstance(error, Mapping) or error.get("type") not in _ERROR_TYPES
    ):
        raise ConfigError(f"{where}: error.type must be one of {sorted(_ERROR_TYPES)}")
    annotations = data.get("annotations")
    return McpTool(
        name=data["name"],
        input_schema=schema,
        description=data.get("description"),
        annotations=annotations if isinstance(annotations, Mapping) else None,
        output=str(data.get("output", "ok")),
        error=error,
    )


@cache
def builtin_servers() -> dict[str, McpServer]:
    """The servers of `fixtures/mcp/`, loaded once."""
    return load_servers(mcp_dir())


def server_for(tool: Mapping[str, Any]) -> McpServer | None:
    """The simulated server a session's MCP tool names by `server_url`, or None."""
    url = tool.get("server_url")
    return builtin_servers().get(_url_key(url)) if isinstance(url, str) else None


def _names(value: object) -> list[str] | None:
    """Tool names of an `allowed_tools` / approval filter: a list, or `{tool_names: [...]}`."""
    if isinstance(value, list):
        return [str(v) for v in value]
    if isinstance(value, Mapping) and isinstance(value.get("tool_names"), list):
        return [str(v) for v in value["tool_names"]]
    return None


def _read_only_filter(value: object) -> bool | None:
    return value.get("read_only") if isinstance(value, Mapping) else None


def allowed(config: Mapping[str, Any], tool: McpTool) -> bool:
    """Whether the session's MCP tool object lets the model see `tool` (`allowed_tools`)."""
    rule = config.get("allowed_tools")
    if rule is None:
        return True
    names = _names(rule)
    if names is not None and tool.name not in names:
        return False
    read_only = _read_only_filter(rule)
    if read_only is not None:
        return bool((tool.annotations or {}).get("read_only")) == read_only
    return True


def needs_approval(config: Mapping[str, Any], tool: McpTool) -> bool:
    """`require_approval`: "always" (the spec's default), "never", or a filter object."""
    rule = config.get("require_approval", "always")
    if rule is None or rule == "always":
        return True
    if rule == "never":
        return False
    if isinstance(rule, Mapping):
        never = _names(rule.get("never"))
        if never is not None and tool.name in never:
            return False
        if _read_only_filter(rule.get("never")) is True and (tool.annotations or {}).get(
            "read_only"
        ):
            return False
    return True


@dataclass(slots=True)
class Listing:
    """One MCP server named by the session, and what listing its tools found."""

    label: str
    config: Mapping[str, Any]
    server: McpServer | None
    tools: tuple[McpTool, ...] = ()

    @property
    def ok(self) -> bool:
        """The server answered (a known, reachable server)."""
        return self.server is not None and self.server.reachable


@dataclass(frozen=True, slots=True, kw_only=True)
class McpStep:
    """What a response does with MCP: ask for approval, call a tool, or report a denial."""

    kind: str  # "approval" | "call" | "denied"
    item_id: str  # the approval request's or the call's item id (unused for "denied")
    server_label: str
    name: str
    arguments: str
    approval_request_id: str | None = None
    output: str | None = None
    error: Mapping[str, Any] | None = None
    reason: str | None = None

    def reply(self, *, seed: int, turn: int) -> str:
        """The message that follows a call or a denial (deterministic, like every reply)."""
        if self.kind == "denied":
            why = f" Reason: {self.reason}." if self.reason else ""
            return f"The call to {self.name} was not approved.{why}"
        result = str(self.output if self.error is None else self.error.get("message", "error"))
        return reply_text(
            images=(), texts=(), function_output=(self.name, result), seed=seed, turn=turn
        )


@dataclass(slots=True)
class McpState:
    """The MCP side of one session: servers listed, approvals answered."""

    listings: dict[str, Listing] = field(default_factory=dict)
    answered: set[str] = field(default_factory=set)

    # --------------------------------------------------------------- listing
    def list_new_servers(self, b: Behaviour) -> None:
        """List the tools of every MCP server the session names for the first time."""
        for config in _mcp_tools(b.session.get("tools")):
            label = str(config.get("server_label", ""))
            if label in self.listings:
                continue
            server = server_for(config)
            listing = Listing(label=label, config=config, server=server)
            if listing.ok and server is not None:
                listing.tools = tuple(t for t in server.tools if allowed(config, t))
            self.listings[label] = listing
            self._send_listing(b, listing)

    def _send_listing(self, b: Behaviour, listing: Listing) -> None:
        item_id = b.app.ids.new("item")
        item = {"id": item_id, "type": "mcp_list_tools", "server_label": listing.label,
                "tools": []}  # fmt: skip
        b.app.send_event({"type": "conversation.item.added", "item": item})
        b.app.send_event({"type": "mcp_list_tools.in_progress", "item_id": item_id})
        ended = "mcp_list_tools.completed" if listing.ok else "mcp_list_tools.failed"
        b.app.send_event({"type": ended, "item_id": item_id})
        done = {**item, "tools": [t.listed() for t in listing.tools]}
        b.app.send_event({"type": "conversation.item.done", "item": done})

    # ----------------------------------------------------------------- calls
    def awaits(self, b: Behaviour, item: Mapping[str, Any]) -> bool:
        """An `mcp_approval_response` item answers a pending approval request."""
        request = b.items.get(str(item.get("approval_request_id")))
        return (
            item.get("type") == "mcp_approval_response"
            and request is not None
            and request.get("type") == "mcp_approval_request"
            and request.get("id") not in self.answered
        )

    def plan_step(
        self, b: Behaviour, params: Mapping[str, Any], last: Mapping[str, Any] | None
    ) -> McpStep | None:
        """The MCP step of the next response, or None (no MCP tool is involved)."""
        if last is not None and last.get("type") == "mcp_approval_response":
            return self._answer(b, last)
        available = [listing for listing in self.listings.values() if listing.ok]
        if not available:
            return None
        choice = params.get("tool_choice", b.session.get("tool_choice", "auto"))
        picked = _pick(available, choice, _said(last))
        if picked is None:
            return None
        listing, tool = picked
        arguments = sample_arguments(tool.input_schema)
        if needs_approval(listing.config, tool):
            item_id = b.app.ids.new("item")
            return McpStep(kind="approval", item_id=item_id, server_label=listing.label,
                           name=tool.name, arguments=arguments)  # fmt: skip
        return _call(b, listing, tool, arguments, approval_request_id=None)

    def _answer(self, b: Behaviour, answer: Mapping[str, Any]) -> McpStep | None:
        request = b.items.get(str(answer.get("approval_request_id")))
        if request is None or request.get("type") != "mcp_approval_request":
            return None
        request_id = str(request.get("id"))
        if request_id in self.answered:
            return None
        self.answered.add(request_id)
        label, name = str(request.get("server_label")), str(request.get("name"))
        arguments = str(request.get("arguments", "{}"))
        listing = self.listings.get(label)
        tool = listing.server.tool(name) if listing is not None and listing.server else None
        if answer.get("approve") is not True or listing is None or tool is None:
            reason = answer.get("reason")
            return McpStep(kind="denied", item_id="", server_label=label, name=name,
                           arguments=arguments, approval_request_id=request_id,
                           reason=reason if isinstance(reason, str) else None)  # fmt: skip
        return _call(b, listing, tool, arguments, approval_request_id=request_id)


def _mcp_tools(tools: object) -> list[Mapping[str, Any]]:
    if not isinstance(tools, list):
        return []
    return [t for t in tools if isinstance(t, Mapping) and t.get("type") == "mcp"]


def _said(last: Mapping[str, Any] | None) -> str:
    if last is None:
        return ""
    parts = last.get("content") or ()
    return " ".join(
        str(p.get("text"))
        for p in parts
        if isinstance(p, Mapping) and p.get("type") == "input_text"
    )


def _pick(listings: Sequence[Listing], choice: object, said: str) -> tuple[Listing, McpTool] | None:
    """The tool a response calls: forced by `tool_choice`, or named by the user."""
    candidates = [(listing, tool) for listing in listings for tool in listing.tools]
    if isinstance(choice, Mapping) and choice.get("type") == "mcp":
        label, name = choice.get("server_label"), choice.get("name")
        for listing, tool in candidates:
            if listing.label == label and (name is None or tool.name == name):
                return listing, tool
        return None
    if choice == "required":
        return candidates[0] if candidates else None
    if choice == "auto":
        return next(((lt, t) for lt, t in candidates if t.name in said), None)
    return None


def _call(
    b: Behaviour,
    listing: Listing,
    tool: McpTool,
    arguments: str,
    *,
    approval_request_id: str | None,
) -> McpStep:
    """Run `tool` on the simulated server: its output, or its error."""
    output = None if tool.error is not None else tool.output.replace("{arguments}", arguments)
    return McpStep(kind="call", item_id=b.app.ids.new("item"), server_label=listing.label,
                   name=tool.name, arguments=arguments, approval_request_id=approval_request_id,
                   output=output, error=dict(tool.error) if tool.error else None)  # fmt: skip


def stream_mcp(plan: ResponsePlan, pace: Pace, clock: PaceClock) -> Counted:
    """The output items of a response with an MCP step, in the order of §5(j)."""
    step: McpStep = plan.mcp
    if step.kind == "approval":
        item = {"id": step.item_id, "type": "mcp_approval_request",
                "server_label": step.server_label, "name": step.name,
                "arguments": step.arguments}  # fmt: skip
        yield from _item_events(plan, item)
        yield from _end_item(plan, item)
        return math.ceil(len(step.arguments) / 4), 0, False
    tokens = 0
    index = 0
    if step.kind == "call":
        tokens = yield from _mcp_call(plan, step, clock)
        if plan.stop is not None:
            return tokens, 0, False
        index = 1
    text, audio, truncated = yield from _message(plan, pace, clock, output_index=index)
    return text + tokens, audio, truncated


def _mcp_call(plan: ResponsePlan, step: McpStep, clock: PaceClock) -> Any:
    item: dict[str, Any] = {"id": step.item_id, "type": "mcp_call",
                            "server_label": step.server_label, "name": step.name,
                            "arguments": "", "approval_request_id": step.approval_request_id,
                            "output": None, "error": None}  # fmt: skip
    yield from _item_events(plan, item)
    ids = {"response_id": plan.response_id, "item_id": step.item_id, "output_index": 0}
    sent: list[str] = []
    for start in range(0, len(step.arguments), 8):
        if plan.stop is not None:
            break
        delay = clock.first_ms if start == 0 else clock.gap_ms(plan.tokens_per_delta)
        delta = step.arguments[start : start + 8]
        yield delay, {"type": "response.mcp_call_arguments.delta", **ids, "delta": delta,
                      "obfuscation": _obfuscation(plan, start)}  # fmt: skip
        sent.append(delta)
    arguments = "".join(sent)
    yield 0.0, {"type": "response.mcp_call_arguments.done", **ids, "arguments": arguments}
    final = {**item, "arguments": arguments}
    if plan.stop is None:
        running = {"item_id": step.item_id, "output_index": 0}
        yield 0.0, {"type": "response.mcp_call.in_progress", **running}
        # The server runs the tool: about as long as a model's first delta takes.
        if step.error is None:
            yield clock.first_ms, {"type": "response.mcp_call.completed", **running}
            final["output"] = step.output
        else:
            yield clock.first_ms, {"type": "response.mcp_call.failed", **running}
            final["error"] = dict(step.error)
    yield from _end_item(plan, final)
    return math.ceil(len(arguments) / 4)


__all__ = [
    "McpServer",
    "McpState",
    "McpStep",
    "McpTool",
    "builtin_servers",
    "load_servers",
    "server_for",
    "stream_mcp",
]
