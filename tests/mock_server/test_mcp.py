"""MCP in the mock (mock_server/mcp.py, protocol notes §5(j)): simulated servers from
`fixtures/mcp/`, tools listed when a session names a server, calls made by responses,
approvals honoured; and the core's rules for the MCP events (machines 3 and 6)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from conformance.protocol import Session, Side
from conformance.protocol.errors import ConfigError
from mock_server.mcp import McpTool, allowed, builtin_servers, load_servers, needs_approval
from tests.scenarios.wire import Wire, fast_mock_wire

DOCS = "https://mcp.example.com/docs"
DOWN = "https://mcp.example.com/unreachable"
WAIT = 10.0


@pytest.fixture
async def wire() -> AsyncIterator[Wire]:
    """A real mock server (fast pace) and one raw client connection to it."""
    async with fast_mock_wire(WAIT) as client:
        yield client


def docs_tool(**extra: Any) -> dict[str, Any]:
    return {"type": "mcp", "server_label": "docs", "server_url": DOCS, **extra}


async def update(wire: Wire, *tools: dict[str, Any]) -> None:
    await wire.send({"type": "session.update", "session": {
        "type": "realtime", "output_modalities": ["text"], "tools": list(tools)}})  # fmt: skip
    await wire.until("session.updated")


async def say(wire: Wire, text: str) -> dict[str, Any]:
    """A user message and a response.create; returns the response.done body."""
    content = [{"type": "input_text", "text": text}]
    item = {"type": "message", "role": "user", "content": content}
    await wire.send({"type": "conversation.item.create", "item": item})
    await wire.send({"type": "response.create"})
    return (await wire.until("response.done"))["response"]


def after(wire: Wire, kind: str, **fields: Any) -> list[str]:
    """The types received after the last event of type `kind` (matching `fields`)."""
    index = max(
        i
        for i, e in enumerate(wire.events)
        if e["type"] == kind and all(e.get(k) == v for k, v in fields.items())
    )
    return wire.types()[index + 1 :]


# ------------------------------------------------------------------------- listing
@pytest.mark.integration
async def test_naming_a_server_lists_its_allowed_tools_in_an_mcp_list_tools_item(wire):
    async with asyncio.timeout(WAIT):
        await update(wire, docs_tool(allowed_tools=["search_docs"]))
        done = await wire.until("conversation.item.done")
    item_id = done["item"]["id"]
    assert wire.types()[-4:] == [
        "conversation.item.added", "mcp_list_tools.in_progress", "mcp_list_tools.completed",
        "conversation.item.done",
    ]  # fmt: skip
    assert all(e.get("item_id", item_id) == item_id for e in wire.events[-3:-1])
    added = wire.of_type("conversation.item.added")[-1]["item"]
    assert added == {"id": item_id, "type": "mcp_list_tools", "server_label": "docs", "tools": []}
    assert [t["name"] for t in done["item"]["tools"]] == ["search_docs"]
    assert done["item"]["tools"][0]["input_schema"]["required"] == ["query"]


@pytest.mark.integration
async def test_an_unknown_or_unreachable_server_fails_to_list_and_each_label_lists_once(wire):
    unknown = {"type": "mcp", "server_label": "nope", "server_url": "https://nowhere.example"}
    down = {"type": "mcp", "server_label": "down", "server_url": DOWN}
    async with asyncio.timeout(WAIT):
        await update(wire, unknown, down)
        await wire.until_count("mcp_list_tools.failed", 2)
        await wire.until_count("conversation.item.done", 2)
        await update(wire, unknown, down, docs_tool())  # only the new label is listed
        await wire.until("mcp_list_tools.completed")
        await wire.sentinel()
    assert len(wire.of_type("mcp_list_tools.in_progress")) == 3
    failed = [e["item"] for e in wire.of_type("conversation.item.done")[:2]]
    assert [(i["server_label"], i["tools"]) for i in failed] == [("nope", []), ("down", [])]


# --------------------------------------------------------------------------- calls
@pytest.mark.integration
async def test_a_call_without_approval_runs_then_a_message_reports_its_output(wire):
    async with asyncio.timeout(WAIT):
        await update(wire, docs_tool(require_approval="never"))
        await wire.until("mcp_list_tools.completed")
        response = await say(wire, "please search_docs for the realtime API")
    call, message = response["output"]
    assert call["type"] == "mcp_call"
    assert call["output"].startswith('Found 2 pages for {"query":"example"}')
    assert call["error"] is None
    assert call["approval_request_id"] is None
    assert message["type"] == "message"
    assert "search_docs returned" in message["content"][0]["text"]
    names = after(wire, "response.created")
    calls = [n for n in names if "mcp_call" in n]
    assert calls[0] == "response.mcp_call_arguments.delta"
    assert calls[-3:] == [
        "response.mcp_call_arguments.done", "response.mcp_call.in_progress",
        "response.mcp_call.completed",
    ]  # fmt: skip
    added = [e["output_index"] for e in wire.of_type("response.output_item.added")]
    assert added[-2:] == [0, 1]


@pytest.mark.integration
async def test_a_failing_tool_ends_with_mcp_call_failed_and_its_error_on_the_item(wire):
    async with asyncio.timeout(WAIT):
        await update(wire, docs_tool(require_approval="never"))
        await wire.until("mcp_list_tools.completed")
        response = await say(wire, "delete_page the old one")
    call = response["output"][0]
    assert call["output"] is None
    assert call["error"] == {
        "type": "tool_execution_error",
        "message": "Permission denied: the documentation is read-only.",
    }
    assert "response.mcp_call.failed" in after(wire, "response.created")
    assert "response.mcp_call.completed" not in after(wire, "response.created")


@pytest.mark.integration
async def test_approval_is_requested_by_default_and_an_approval_runs_the_call(wire):
    async with asyncio.timeout(WAIT):
        await update(wire, docs_tool())  # require_approval defaults to "always"
        await wire.until("mcp_list_tools.completed")
        first = await say(wire, "search_docs please")
        (request,) = first["output"]
        assert request["type"] == "mcp_approval_request"
        assert first["status"] == "completed"
        assert "response.mcp_call.in_progress" not in wire.types()
        answer = {"type": "mcp_approval_response", "id": "item_approval0001",
                  "approval_request_id": request["id"], "approve": True}  # fmt: skip
        await wire.send({"type": "conversation.item.create", "item": answer})
        # No response.create: the server goes on by itself after the answer.
        second = (await wire.until("response.done"))["response"]
    call = second["output"][0]
    assert call["type"] == "mcp_call"
    assert call["approval_request_id"] == request["id"]
    assert call["arguments"] == request["arguments"]
    assert call["output"] is not None


@pytest.mark.integration
async def test_a_denied_approval_gives_a_message_and_no_call(wire):
    async with asyncio.timeout(WAIT):
        await update(wire, docs_tool(require_approval="always"))
        await wire.until("mcp_list_tools.completed")
        (request,) = (await say(wire, "search_docs please"))["output"]
        answer = {"type": "mcp_approval_response", "id": "item_approval0002",
                  "approval_request_id": request["id"], "approve": False,
                  "reason": "not now"}  # fmt: skip
        await wire.send({"type": "conversation.item.create", "item": answer})
        second = (await wire.until("response.done"))["response"]
    (message,) = second["output"]
    assert (
        message["content"][0]["text"]
        == "The call to search_docs was not approved. Reason: not now."
    )
    assert "response.mcp_call.in_progress" not in wire.types()


# ------------------------------------------------------------------ configuration
def tool(name: str, *, read_only: bool) -> McpTool:
    return McpTool(name=name, input_schema={}, annotations={"read_only": read_only})


def test_allowed_tools_takes_names_or_a_filter():
    search, delete = tool("search", read_only=True), tool("delete", read_only=False)
    assert allowed({}, delete)
    assert allowed({"allowed_tools": ["search"]}, search)
    assert not allowed({"allowed_tools": ["search"]}, delete)
    assert not allowed({"allowed_tools": {"tool_names": ["search"]}}, delete)
    assert allowed({"allowed_tools": {"read_only": True}}, search)
    assert not allowed({"allowed_tools": {"read_only": True}}, delete)


def test_require_approval_defaults_to_always_and_honours_never_filters():
    search, delete = tool("search", read_only=True), tool("delete", read_only=False)
    assert needs_approval({}, search)
    assert needs_approval({"require_approval": None}, search)
    assert not needs_approval({"require_approval": "never"}, search)
    rule = {"require_approval": {"never": {"tool_names": ["search"]}}}
    assert not needs_approval(rule, search)
    assert needs_approval(rule, delete)
    assert not needs_approval({"require_approval": {"never": {"read_only": True}}}, search)


def test_the_builtin_servers_load_and_bad_files_are_refused_with_their_name(tmp_path: Path):
    servers = builtin_servers()
    assert servers[DOCS.lower()].name == "docs"
    assert not servers[DOWN.lower()].reachable
    (tmp_path / "bad.yaml").write_text("server_urls: []\ntools: []\n")
    with pytest.raises(ConfigError, match=r"bad\.yaml: server_urls must be a non-empty list"):
        load_servers(tmp_path)
    (tmp_path / "bad.yaml").write_text(
        "server_urls: [https://x.example]\ntools: [{name: t, error: {type: oops}}]\n"
    )
    with pytest.raises(ConfigError, match=r"tools\[0\]: error.type must be one of"):
        load_servers(tmp_path)


# ------------------------------------------------------------------- the core
def listing_session(*events: dict[str, Any]) -> list[list[str]]:
    """Feed server events to a client-side core; the problems of each."""
    session = Session(Side.CLIENT)
    session.receive_text('{"type":"session.created","event_id":"e0","session":{}}')
    results = []
    for event in events:
        received = session.receive(json.dumps({"event_id": "e", **event}))
        results.append([f.message for f in received.findings])
    return results


LIST_ITEM = {"id": "item_list01", "type": "mcp_list_tools", "server_label": "docs", "tools": []}


def test_the_core_accepts_a_listing_in_order():
    assert listing_session(
        {"type": "conversation.item.added", "item": LIST_ITEM, "previous_item_id": None},
        {"type": "mcp_list_tools.in_progress", "item_id": "item_list01"},
        {"type": "mcp_list_tools.failed", "item_id": "item_list01"},
        {"type": "conversation.item.done", "item": LIST_ITEM},
    ) == [[], [], [], []]


def test_the_core_reports_a_listing_out_of_order():
    problems = listing_session(
        {"type": "mcp_list_tools.in_progress", "item_id": "item_list01"},
        {"type": "conversation.item.added", "item": LIST_ITEM, "previous_item_id": None},
        {"type": "mcp_list_tools.completed", "item_id": "item_list01"},
        {"type": "mcp_list_tools.in_progress", "item_id": "item_list01"},
        {"type": "conversation.item.done", "item": LIST_ITEM},
    )
    assert problems == [
        ["mcp_list_tools.in_progress for 'item_list01', not an mcp_list_tools item"],
        [],
        ["mcp_list_tools.completed for 'item_list01' in state added; expected in_progress"],
        ["mcp_list_tools.in_progress for 'item_list01' in state ended; expected added"],
        ["conversation.item.done for 'item_list01' while its tools are listed"],
    ]
