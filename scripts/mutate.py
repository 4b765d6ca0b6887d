"""A small AST mutator: how many one-token bugs in a module does the test suite catch?

    .venv/bin/python -m scripts.mutate mock_server/behaviour.py [more modules]
        [--every K] [--offset N] [--lines A-B] [--tests PATH ...] [--timeout S] [--list]

Each mutant changes one node of the module's syntax tree (see `OPERATORS`):

* comparison swaps (== / !=, < / >=, > / <=, in / not in, is / is not);
* boolean swaps (and / or), `not x` -> `x`, an `if`/`while` test negated;
* arithmetic swaps (+ / -, * / /, // / /, % / *);
* constant changes (True / False, n -> n + 1, a string -> "XX" + string + "XX");
* statement deletion (an expression, assignment or augmented assignment -> `pass`);
* return-value changes (`return x` -> `return None`).

Docstrings, annotations, `Literal[...]` types, `if TYPE_CHECKING:` blocks, `__all__`,
log calls, `hint=` texts (advice for humans, never on the wire) and lines marked
`# pragma: no mutate` are left alone. Mutants are applied one at a time to a temporary
copy of the tree (no bytecode written, so a same-size edit is never served from a stale
.pyc), and a targeted subset of tests runs per module (`TESTS`, or `--tests`) with
`pytest -x` and a time bound (3x the clean run + 10 s; a run over it is run again with
three times the bound, so a busy machine does not pass for a hang). Tests that already fail on the
unmutated tree (another change in progress) are deselected and listed. A mutant is *killed* when the
tests fail, *timeout* when they hang (counted as killed), *survived* when they pass.
Mutants listed in `EQUIVALENT` (no test can tell them apart from the original) are
reported but left out of the kill rate. On a shared machine, `--every K` runs every
K-th mutant only (`--offset` picks which), and the report says so.

The report ends with the survivors as unified diffs. Exit status: 0 when the kill rate
is at least `--min-rate` (default 0.9), else 1.
"""

from __future__ import annotations

import argparse
import ast
import difflib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# What is copied into the temporary tree (the rest of the checkout is not needed).
# (The docs and the README too: some tests check that they name real scenarios and checks;
# the examples without their node_modules: tests load examples/keyserver.py.)
COPIED = (
    "conformance", "mock_server", "client_reference", "fixtures", "tests", "docs",
    "examples", "pyproject.toml", "README.md",
)  # fmt: skip

# module -> the tests that exercise it (in-memory app harness first: they fail fastest;
# then the wire tests; no CLI subprocess tests unless the module is the CLI). Paths that do
# not exist are skipped. A directory given on the command line expands to every module under
# it that has mutants; each must be mapped here (`UNMAPPED` names the ones left out, and why).
_PINS = (
    "tests/mock_server/test_pinned_behaviour.py",
    "tests/mock_server/test_pinned_behaviour_2.py",
)
_APP_TESTS = (
    *_PINS,
    "tests/conformance/checks/test_golden.py",
    "tests/mock_server/test_app_flows.py",
    "tests/mock_server/test_divergences.py",
    "tests/mock_server/test_pace.py",
    "tests/mock_server/test_transcription_outcomes.py",
    "tests/mock_server/test_mcp.py",
    "tests/mock_server/test_translation.py",
    "tests/mock_server/test_server_event_coverage.py",
    "tests/mock_server/test_multi_turn_append.py",
    "tests/mock_server/test_settings.py",
    "tests/mock_server/test_timers.py",
    "tests/scenarios/test_runtime_actions.py",
    "tests/scenarios/test_runtime_triggers.py",
    "tests/scenarios/test_terminal_ordering.py",
    "tests/scenarios/test_per_connection.py",
    "tests/mock_server/test_driver_paths.py",
    "tests/integration/test_flows_on_sockets.py",
    "tests/mock_server/test_pace_on_sockets.py",
    "tests/mock_server/test_server.py",
    "tests/mock_server/test_idle_timeout.py",  # the slow ones last (seconds each)
    "tests/scenarios/test_catalog_wire.py",
)
# The socket side: frames, the driver, the server, the handshake on the wire.
_WIRE_TESTS = (
    "tests/mock_server/test_pinned_sockets.py",
    "tests/mock_server/test_frames.py",
    "tests/mock_server/test_driver_paths.py",
    "tests/mock_server/test_server.py",
    "tests/mock_server/test_handshake.py",
    "tests/mock_server/test_request.py",
    "tests/abuse/test_frame_steps.py",
    "tests/abuse/test_huge_frames.py",
    "tests/abuse/test_accept_errors.py",
    "tests/abuse/test_fairness.py",
    "tests/abuse/test_redaction.py",
    "tests/abuse/test_recordings.py",
    "tests/abuse/test_serve_memory.py",
    "tests/mock_server/test_translation.py",
    "tests/integration/test_flows_on_sockets.py",
    "tests/mock_server/test_idle_timeout.py",
    "tests/scenarios/test_catalog_wire.py",
)
_SCENARIO_TESTS = (
    "tests/mock_server/test_pinned_scenarios.py",
    "tests/scenarios/test_matcher.py",
    "tests/scenarios/test_loader_errors.py",
    "tests/scenarios/test_catalog.py",
    "tests/scenarios/test_runtime_actions.py",
    "tests/scenarios/test_runtime_triggers.py",
    "tests/scenarios/test_terminal_ordering.py",
    "tests/scenarios/test_per_connection.py",
    "tests/scenarios/test_pace_scenarios.py",
    "tests/abuse/test_yaml_bomb.py",
    "tests/scenarios/test_catalog_wire.py",
)
_TRANSLATION_TESTS = (
    "tests/mock_server/test_pinned_translation.py",
    "tests/conformance/protocol/test_translation.py",
    "tests/mock_server/test_translation.py",
)
# Issue 14's REST side: the sans-I/O handler first, then httpx through respx, then sockets.
_PINNED_REST = ("tests/mock_server/test_pinned_rest.py",)
_REST_TESTS = (
    "tests/mock_server/test_rest.py",
    "tests/webrtc/test_calls_rest.py",
    "tests/sip/test_sip_model.py",
    "tests/conformance/test_respx_router.py",
    "tests/conformance/test_respx_keyserver.py",
    "tests/mock_server/test_rest_sockets.py",
    "tests/browser/test_cors.py",
    "tests/proxy/test_rest.py",
    "tests/sip/test_sip_calls.py",
)
# A call's registry and driver: in-memory SIP sessions first, then calls on sockets.
_CALL_TESTS = (
    "tests/sip/test_pinned_sip.py",
    "tests/webrtc/test_pinned_webrtc.py",
    "tests/sip/test_sip_session.py",
    "tests/webrtc/test_output_audio_buffer.py",
    "tests/webrtc/test_calls_rest.py",
    "tests/sip/test_sip_model.py",
    "tests/sip/test_sip_calls.py",
    "tests/webrtc/test_sideband.py",
    "tests/webrtc/test_call_flow.py",
    "tests/sip/test_webhooks.py",
)
_SCENARIO_MODULES = (
    "__init__", "_actions", "_checks", "_schema_errors", "_transforms", "_vocabulary",
    "_yaml", "loader", "matcher", "model", "runtime", "templating",
)  # fmt: skip
TESTS: dict[str, tuple[str, ...]] = {
    "mock_server/behaviour.py": _APP_TESTS,
    "mock_server/responder.py": _APP_TESTS,
    "mock_server/app.py": _APP_TESTS,
    "mock_server/planning.py": _APP_TESTS,
    "mock_server/vad.py": (*_APP_TESTS, "tests/abuse/test_vad_speed.py"),
    "mock_server/session_config.py": _APP_TESTS,
    "mock_server/media.py": ("tests/mock_server/test_pinned_media.py", *_APP_TESTS),
    "mock_server/mcp.py": ("tests/mock_server/test_mcp.py", *_APP_TESTS),
    "mock_server/hooks.py": _APP_TESTS,
    "mock_server/actions.py": (*_APP_TESTS, *_WIRE_TESTS),
    "mock_server/interfaces.py": (
        "tests/mock_server/test_server.py",
        "tests/mock_server/test_cli.py",  # `--app MODULE:NAME` errors
    ),
    "mock_server/_timers.py": ("tests/mock_server/test_timers.py", *_APP_TESTS),
    "mock_server/config.py": _APP_TESTS,
    "mock_server/settings.py": (
        "tests/mock_server/test_settings.py",
        *_APP_TESTS,
    ),
    "mock_server/translation.py": _TRANSLATION_TESTS,
    "mock_server/handshake.py": (
        *_PINS,
        "tests/mock_server/test_handshake.py",
        "tests/mock_server/test_request.py",
        "tests/mock_server/test_server.py",
        "tests/mock_server/test_translation.py",
    ),
    "mock_server/request.py": (
        *_PINS,
        "tests/mock_server/test_request.py",
        "tests/mock_server/test_handshake.py",
        "tests/mock_server/test_server.py",
    ),
    "mock_server/_driver.py": _WIRE_TESTS,
    "mock_server/_connection.py": _WIRE_TESTS,
    "mock_server/server.py": _WIRE_TESTS,
    "mock_server/_log.py": (
        "tests/mock_server/test_pinned_logging.py",
        "tests/abuse/test_redaction.py",
        *_WIRE_TESTS,
    ),
    "mock_server/_recorder.py": (
        "tests/mock_server/test_pinned_logging.py",
        "tests/abuse/test_recordings.py",
        *_WIRE_TESTS,
    ),
    # The CLI is the one module whose own tests start a subprocess.
    "mock_server/cli.py": (
        "tests/mock_server/test_pinned_cli.py",
        "tests/mock_server/test_cli.py",
        "tests/mock_server/test_tls.py",
    ),
    "mock_server/__main__.py": ("tests/mock_server/test_cli.py",),
    **{f"mock_server/scenarios/{name}.py": _SCENARIO_TESTS for name in _SCENARIO_MODULES},
    # Issue 14: TLS, REST, client secrets, the respx router, WebRTC and SIP calls.
    "mock_server/tls.py": (
        "tests/mock_server/test_pinned_rest.py",
        "tests/mock_server/test_tls.py",
        "tests/mock_server/test_rest_sockets.py",
        "tests/proxy/test_proxy.py",
    ),
    "mock_server/rest.py": (*_PINNED_REST, *_REST_TESTS),
    "mock_server/_http.py": (
        "tests/mock_server/test_pinned_rest.py",
        "tests/mock_server/test_rest_sockets.py",
        "tests/browser/test_cors.py",
        "tests/proxy/test_rest.py",
        "tests/webrtc/test_calls_rest.py",
        "tests/sip/test_sip_calls.py",
        "tests/webrtc/test_call_flow.py",
    ),
    "mock_server/secrets.py": (
        *_PINNED_REST,
        "tests/mock_server/test_rest.py",
        "tests/mock_server/test_pinned_behaviour_2.py",
        "tests/mock_server/test_handshake.py",
        "tests/conformance/test_respx_router.py",
        "tests/conformance/test_respx_keyserver.py",
        "tests/mock_server/test_rest_sockets.py",
    ),
    "mock_server/respx_router.py": (
        "tests/mock_server/test_pinned_rest.py",
        "tests/conformance/test_respx_router.py",
        "tests/conformance/test_respx_keyserver.py",
    ),
    "mock_server/webhooks.py": (
        "tests/sip/test_pinned_sip.py",
        "tests/sip/test_webhooks.py",
        "tests/sip/test_sip_calls.py",
        "tests/sip/test_docs_workflow.py",
    ),
    "mock_server/calls.py": _CALL_TESTS,
    "mock_server/sip.py": (
        "tests/sip/test_pinned_sip.py",
        "tests/sip/test_sip_model.py",
        "tests/sip/test_sip_session.py",
        "tests/sip/test_webhooks.py",
        "tests/sip/test_sip_calls.py",
        "tests/sip/test_docs_workflow.py",
    ),
    "mock_server/_webrtc.py": (
        "tests/webrtc/test_pinned_webrtc.py",
        "tests/webrtc/test_calls_rest.py",
        "tests/webrtc/test_call_headers.py",
        "tests/webrtc/test_call_flow.py",
        "tests/webrtc/test_sideband.py",
        "tests/webrtc/test_microphone.py",
        "tests/client_reference/test_webrtc_client.py",
        "tests/runner/test_webrtc_cases.py",
    ),
    "mock_server/webrtc_audio.py": (
        "tests/webrtc/test_pinned_webrtc.py",
        "tests/webrtc/test_output_audio_buffer.py",
        "tests/sip/test_sip_session.py",
        "tests/webrtc/test_call_flow.py",
        "tests/webrtc/test_sideband.py",
    ),
    "conformance/protocol/conversation.py": (
        *_PINS,
        "tests/conformance/protocol",
    ),
    "conformance/checks/lifecycle.py": ("tests/conformance/checks",),
}
# Modules a directory expands to that are left out on purpose: module -> why.
UNMAPPED: dict[str, str] = {}

# Mutants no test can tell from the original: (module, source line stripped, description).
# Matched on the line's text, not its number, so the list survives edits elsewhere; a line
# that occurs more than once is named with the line before it ("before\nline").
EQUIVALENT: dict[tuple[str, str, str], str] = {
    (
        "mock_server/behaviour.py",
        "self.tokens_remaining = max(0, self.tokens_remaining - 200)",
        "constant 0 -> 1",
    ): "15,000,000 tokens cannot run down to 0 or 1 in a session the tests can run",
    (
        "mock_server/responder.py",
        "_MAX_WORD = 16",
        "constant 16 -> 17",
    ): "an unused constant (the word regex spells its bound out)",
    (
        "mock_server/app.py",
        'app.connection_lost(1000, "", 0.0)',
        "constant 0.0 -> 1.0",
    ): "prepare()'s throwaway session: its clock is never read",
    (
        "mock_server/app.py",
        "self.session.data_to_send()  # the text is written below; nothing may pile up",
        "delete statement",
    ): "memory only: the core's send buffer is never read by the app",
    (
        "mock_server/behaviour.py",
        "self.output_audio.pop(item_id, None)",
        "delete statement",
    ): "memory only: a deleted item's id is never reused, so its audio is never read",
    (
        "mock_server/behaviour.py",
        "self.items[item_id] = item",
        "delete statement",
    ): "redundant: fill_previous_item stores the item again when conversation.item.added goes out",
    (
        "mock_server/behaviour.py",
        'if params.get("conversation") != "none":\nself.idle.disarm()',
        "delete statement",
    ): "redundant: while a response is active the idle timer's callback returns early, and "
    "the response's end arms a new generation, so the old timer never fires",
    (
        "mock_server/scenarios/runtime.py",
        "start: int = 0",
        "constant 0 -> 1",
    ): "every job with actions passes its start; the default only serves a held event's job, "
    "which has no actions",
    (
        "mock_server/scenarios/runtime.py",
        "self._transforms.clear()",
        "delete statement",
    ): "memory only: once terminated, on_server_event returns before any transform runs",
    (
        "mock_server/translation.py",
        'base = language.split("-", 1)[0].lower()',
        "constant 1 -> 2",
    ): "the part before the first '-' is the same with one split or two",
    (
        "mock_server/scenarios/_schema_errors.py",
        "errors = list(errors)",
        "delete statement",
    ): "a copy only: the one caller (the loader) passes a list already",
    (
        "mock_server/scenarios/_transforms.py",
        "def __init__(self, count: int = 1, types: frozenset[str] | None = None) -> None:",
        "constant 1 -> 2",
    ): "every transform is built with its count given (the actions default it themselves)",
    (
        "mock_server/server.py",
        "resource = None  # type: ignore[assignment]",
        "delete statement",
    ): "runs only where the `resource` module is missing (not on Unix, where the tests run)",
    (
        "mock_server/responder.py",
        "return (index if text else 0), audio_tokens, False",
        "constant False -> True",
    ): "a deleted item always sets the plan's stop, which decides the status before this flag",
    (
        "mock_server/planning.py",
        'said = " ".join(_texts(last))',
        "string constant changed",
    ): "the joined texts are only searched for a function's name, never split across parts",
    (
        "mock_server/app.py",
        'app.connection_lost(1000, "", 0.0)',
        "delete statement",
    ): "prepare()'s throwaway session: closing it only lets it go",
    (
        "mock_server/_log.py",
        '_HEADER_LINES = frozenset({"< %s: %s", "> %s: %s"})',
        "string constant changed",
    ): "defence in depth: the whole formatted line is masked after, and it catches every "
    "secret header's value (authorization schemes, api-key names) by itself",
    (
        "mock_server/media.py",
        "if pos + 4 > len(data) or data[pos] != 0xFF:",
        "constant 4 -> 5",
    ): "a marker that ends the data exactly (pos + 4 == len) can hold no frame size either way",
    (
        "mock_server/hooks.py",
        "return False",
        "return None",
    ): "NoHooks.on_client_event: its callers only test the answer's truth",
    (
        "mock_server/actions.py",
        "pings: bool = True",
        "constant True -> False",
    ): "the one place that builds a Stall passes pings explicitly",
    (
        "mock_server/media.py",
        'return _synth_b64(ms, seed % 7, "audio/pcm")',
        "string constant changed",
    ): "every format but the two G.711 ones synthesises PCM16, so this name is never compared",
    (
        "mock_server/rest.py",
        'handler = self.call_actions.get(action) if call_id and "/" not in action else None',
        "string constant changed",
    ): "redundant: no call action's name has a '/', so such an action finds no handler anyway",
    (
        "mock_server/calls.py",
        'state: CallState = "active"',
        "string constant changed",
    ): "the one place that builds a Call (CallRegistry.create) passes its state",
    (
        "mock_server/calls.py",
        "self.stalled = True\nself._disarm()",
        "delete statement",
    ): "redundant: a stalled driver's timer callback returns at once, so the timer left "
    "armed does nothing",
    (
        "mock_server/calls.py",
        "def _rearm(self) -> None:\nif self.ended or self.stalled:",
        "or -> and",
    ): "redundant: a timer armed for an ended or stalled call's driver finds the same test in "
    "its callback and returns",
    (
        "mock_server/_http.py",
        "self._pass_on()\nreturn False",
        "return None",
    ): "its one caller only tests the answer's truth",
    (
        "mock_server/webrtc_audio.py",
        'CALL_TRANSPORTS: Final = ("webrtc", "sip")',
        "string constant changed",
    ): "an exported name nothing in the project reads (the app spells the transports out)",
    (
        "mock_server/webrtc_audio.py",
        "self.generation += 1",
        "delete statement",
    ): "redundant: a clear also forgets the playing response, and no response plays again "
    "after its response.done, so a stale `stopped` is dropped by the playing check anyway",
}


@dataclass(frozen=True, slots=True)
class Mutant:
    """One change: replace source[start:end] of `line`..`end_line` with `text`."""

    path: str
    line: int
    col: int
    end_line: int
    end_col: int
    text: str
    description: str

    def apply(self, source: str) -> str:
        lines = source.splitlines(keepends=True)
        offsets = [0]
        for raw in lines:
            offsets.append(offsets[-1] + len(raw))
        start = offsets[self.line - 1] + _byte_to_char(lines[self.line - 1], self.col)
        end = offsets[self.end_line - 1] + _byte_to_char(lines[self.end_line - 1], self.end_col)
        return source[:start] + self.text + source[end:]


def _byte_to_char(line: str, col: int) -> int:
    """ast column offsets count UTF-8 bytes."""
    return len(line.encode()[:col].decode(errors="ignore"))


_COMPARE_SWAPS: dict[type[ast.cmpop], type[ast.cmpop]] = {
    ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Lt: ast.GtE, ast.GtE: ast.Lt,
    ast.Gt: ast.LtE, ast.LtE: ast.Gt, ast.In: ast.NotIn, ast.NotIn: ast.In,
    ast.Is: ast.IsNot, ast.IsNot: ast.Is,
}  # fmt: skip
_BINOP_SWAPS: dict[type[ast.operator], type[ast.operator]] = {
    ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.Div, ast.Div: ast.Mult,
    ast.FloorDiv: ast.Div, ast.Mod: ast.Mult,
}  # fmt: skip
OPERATORS = ("compare", "boolop", "not", "negate-test", "binop", "constant", "delete", "return")


class _Finder(ast.NodeVisitor):
    def __init__(self, path: str, source: str) -> None:
        self.path = path
        self.lines = source.splitlines()
        self.found: list[Mutant] = []
        self._skip_depth = 0

    # --- helpers ---
    def _skipped(self, node: ast.AST) -> bool:
        line = getattr(node, "lineno", None)
        return line is not None and "pragma: no mutate" in self.lines[line - 1]

    def _add(self, node: ast.AST, replacement: ast.AST | str, description: str) -> None:
        if self._skip_depth or self._skipped(node):
            return
        text = replacement if isinstance(replacement, str) else ast.unparse(replacement)
        self.found.append(
            Mutant(
                self.path,
                node.lineno,  # type: ignore[attr-defined]
                node.col_offset,  # type: ignore[attr-defined]
                node.end_lineno,  # type: ignore[attr-defined]
                node.end_col_offset,  # type: ignore[attr-defined]
                text,
                description,
            )
        )

    # --- blocks left alone ---
    def visit_If(self, node: ast.If) -> None:
        if isinstance(node.test, ast.Name) and node.test.id == "TYPE_CHECKING":
            return
        self._add(node.test, ast.UnaryOp(ast.Not(), node.test), "negate if-test")
        self.generic_visit(node)

    def visit_While(self, node: ast.While) -> None:
        self._add(node.test, ast.UnaryOp(ast.Not(), node.test), "negate while-test")
        self.generic_visit(node)

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if node.value is not None:
            self.visit(node.value)  # the annotation itself is not code

    def visit_arg(self, node: ast.arg) -> None:
        return  # annotations

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        self._body(node.body)
        if _is_stub(node.body):
            return  # a Protocol's method: its defaults are documentation, never used
        for default in [*node.args.defaults, *node.args.kw_defaults]:
            if default is not None:
                self.visit(default)
        for decorator in node.decorator_list:
            self.visit(decorator)

    visit_AsyncFunctionDef = visit_FunctionDef  # type: ignore[assignment]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._body(node.body)

    def visit_Module(self, node: ast.Module) -> None:
        self._body(node.body)

    def _body(self, body: list[ast.stmt]) -> None:
        for statement in body:
            if _is_docstring(statement):
                continue  # a docstring, or an attribute's (a bare string after it)
            self.visit(statement)

    def visit_Assign(self, node: ast.Assign) -> None:
        if any(isinstance(t, ast.Name) and t.id in ("__all__", "__slots__") for t in node.targets):
            return  # names, not behaviour (a missing __slots__ costs memory only)
        if self._in_function(node):
            self._add(node, "pass", "delete statement")
        self.generic_visit(node)

    def visit_AugAssign(self, node: ast.AugAssign) -> None:
        self._add(node, "pass", "delete statement")
        self.generic_visit(node)

    def visit_Expr(self, node: ast.Expr) -> None:
        if isinstance(node.value, ast.Call) and not _is_log_call(node.value):
            self._add(node, "pass", "delete statement")
        self.generic_visit(node)

    def visit_Return(self, node: ast.Return) -> None:
        value = node.value
        if value is not None and not (isinstance(value, ast.Constant) and value.value is None):
            self._add(node, "return None", "return None")
        self.generic_visit(node)

    # --- expressions ---
    def visit_Compare(self, node: ast.Compare) -> None:
        for index, op in enumerate(node.ops):
            swapped = _COMPARE_SWAPS.get(type(op))
            if swapped is not None:
                ops = list(node.ops)
                ops[index] = swapped()
                name = f"{_sym(op)} -> {_sym(swapped())}"
                self._add(node, ast.Compare(node.left, ops, node.comparators), name)
        self.generic_visit(node)

    def visit_BoolOp(self, node: ast.BoolOp) -> None:
        other = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        name = "and -> or" if isinstance(node.op, ast.And) else "or -> and"
        self._add(node, ast.BoolOp(other, node.values), name)
        self.generic_visit(node)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> None:
        if isinstance(node.op, ast.Not):
            self._add(node, node.operand, "not x -> x")
        self.generic_visit(node)

    def visit_BinOp(self, node: ast.BinOp) -> None:
        swapped = _BINOP_SWAPS.get(type(node.op))
        if swapped is not None and not _is_string_format(node):
            name = f"{_sym(node.op)} -> {_sym(swapped())}"
            self._add(node, ast.BinOp(node.left, swapped(), node.right), name)
        self.generic_visit(node)

    def visit_Constant(self, node: ast.Constant) -> None:
        value = node.value
        if isinstance(value, bool):
            self._add(node, repr(not value), f"constant {value} -> {not value}")
        elif isinstance(value, int):
            self._add(node, repr(value + 1), f"constant {value} -> {value + 1}")
        elif isinstance(value, float):
            self._add(node, repr(value + 1.0), f"constant {value} -> {value + 1.0}")
        elif isinstance(value, str) and value:
            self._add(node, repr(f"XX{value}XX"), "string constant changed")

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.value, ast.Name) and node.value.id == "Literal":
            return  # a type (`Literal["a", "b"]` in an alias), not a value
        self.generic_visit(node)

    def visit_JoinedStr(self, node: ast.JoinedStr) -> None:
        return  # f-strings: their constant parts are text, changed via their values

    def visit_keyword(self, node: ast.keyword) -> None:
        if node.arg == "hint":
            return  # advice for humans, never on the wire
        self.generic_visit(node)

    def visit_Call(self, node: ast.Call) -> None:
        if _is_log_call(node):
            return  # log lines are not behaviour
        self.generic_visit(node)

    # --- context ---
    def _in_function(self, node: ast.AST) -> bool:
        return getattr(node, "col_offset", 0) > 0


def _is_docstring(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Constant)
        and isinstance(statement.value.value, str)
    )


def _is_log_call(node: ast.Call) -> bool:
    function = node.func
    return (
        isinstance(function, ast.Attribute)
        and isinstance(function.value, ast.Name)
        and function.value.id in ("logger", "logging", "log")
    )


def _is_stub(body: list[ast.stmt]) -> bool:
    """A body of a docstring and/or `...` only."""
    return all(
        _is_docstring(s) or (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))
        for s in body
    )


def _is_string_format(node: ast.BinOp) -> bool:
    return isinstance(node.op, ast.Mod) and isinstance(node.left, ast.Constant)


def _sym(op: ast.AST) -> str:
    return {
        ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.GtE: ">=", ast.Gt: ">", ast.LtE: "<=",
        ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not", ast.Add: "+",
        ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    }.get(type(op), type(op).__name__)  # fmt: skip


def mutants_of(path: str, source: str) -> list[Mutant]:
    """Every mutant of one module, in source order.

    Each replaces a whole expression or statement by one of its kind, so it parses (none
    of the 9,285 of `mock_server/` did not, 2026-12); a run still checks each one it
    applies and skips, as invalid, one that does not (re-parsing all of them up front took
    minutes)."""
    finder = _Finder(path, source)
    finder.visit(ast.parse(source))
    return sorted(set(finder.found), key=lambda m: (m.line, m.col, m.description, m.text))


def parses(text: str) -> bool:
    try:
        ast.parse(text)
    except SyntaxError:
        return False
    return True


def equivalent_reason(mutant: Mutant, source: str) -> str | None:
    """The reason from `EQUIVALENT`, keyed by the line's text, or (for a line that occurs
    more than once) by the line before it and the line, joined by a newline."""
    lines = source.splitlines()
    line = lines[mutant.line - 1].strip()
    before = lines[mutant.line - 2].strip() if mutant.line > 1 else ""
    return EQUIVALENT.get((mutant.path, line, mutant.description)) or EQUIVALENT.get(
        (mutant.path, f"{before}\n{line}", mutant.description)
    )


def diff(mutant: Mutant, source: str) -> str:
    mutated = mutant.apply(source)
    lines = difflib.unified_diff(
        source.splitlines(keepends=True),
        mutated.splitlines(keepends=True),
        f"a/{mutant.path}",
        f"b/{mutant.path}",
        n=1,
    )
    return "".join(lines)


# --- running ---------------------------------------------------------------------------


def copy_tree(destination: Path) -> None:
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "node_modules")
    for name in COPIED:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, destination / name, ignore=ignore)
        else:
            shutil.copy2(source, destination / name)


def run_tests(
    tree: Path, tests: Sequence[str], timeout: float | None, deselect: Sequence[str] = ()
) -> tuple[str, float]:
    """'passed', 'failed' or 'timeout', and the wall time."""
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(tree)}
    command = [
        sys.executable, "-m", "pytest", "-x", "-q", "--no-header", "-p", "no:cacheprovider",
        *(f"--deselect={node}" for node in deselect), *tests,
    ]  # fmt: skip
    started = time.monotonic()
    try:
        result = subprocess.run(
            command,
            cwd=tree,
            env=environment,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - started
    return ("passed" if result.returncode == 0 else "failed"), time.monotonic() - started


def existing(tree: Path, tests: Sequence[str]) -> list[str]:
    """The test paths that exist in the tree (a mapping may name files still to come)."""
    return [t for t in tests if (tree / t.split("::")[0]).exists()]


def failing_before(tree: Path, tests: Sequence[str]) -> tuple[list[str], float]:
    """The tests that fail with no mutation (deselected from every run), and the time."""
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(tree)}
    command = [
        sys.executable, "-m", "pytest", "-q", "--no-header", "-p", "no:cacheprovider", "-rf",
        *tests,
    ]  # fmt: skip
    started = time.monotonic()
    result = subprocess.run(
        command, cwd=tree, env=environment, capture_output=True, text=True, check=False
    )
    failed = [line.split()[1] for line in result.stdout.splitlines() if line.startswith("FAILED ")]
    if result.returncode not in (0, 1) or (result.returncode == 1 and not failed):
        raise SystemExit(f"the tests cannot run before any mutation:\n{result.stdout[-2000:]}")
    return failed, time.monotonic() - started


def check_imports_from(tree: Path) -> None:
    """The copy, not the checkout (an editable install), must be what the tests import."""
    code = "import mock_server, conformance; print(mock_server.__file__, conformance.__file__)"
    environment = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(tree)}
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=tree, env=environment, capture_output=True, text=True
    )
    if str(tree) not in out.stdout or str(ROOT) + "/" in out.stdout.replace(str(tree), ""):
        raise SystemExit(f"the tests would import the checkout, not the copy: {out.stdout}")


def expand(paths: Sequence[str], explicit_tests: bool = False) -> tuple[list[str], list[str]]:
    """Modules to mutate, and the modules of a directory left out (unmapped, or `UNMAPPED`).

    A file is kept as given; a directory (a package) gives every `.py` file under it, in
    order, that has a mapping in `TESTS` (or every one, with `--tests`). A file named
    outright with no mapping is an error later, not a silent skip.
    """
    modules: list[str] = []
    left_out: list[str] = []
    for given in paths:
        path = ROOT / given
        if not path.is_dir():
            modules.append(given.rstrip("/"))
            continue
        for found in sorted(path.rglob("*.py")):
            if "__pycache__" in found.parts:
                continue
            module = found.relative_to(ROOT).as_posix()
            if module in UNMAPPED or not (explicit_tests or module in TESTS):
                left_out.append(module)
            else:
                modules.append(module)
    return list(dict.fromkeys(modules)), left_out


def table(per_module: dict[str, dict[str, int]]) -> str:
    """One line per module: judged, killed, timeout, survived, equivalent, kill rate."""
    lines = [
        "| module | judged | killed | timeout | survived | equivalent | kill rate |",
        "|---|---|---|---|---|---|---|",
    ]
    for module, c in per_module.items():
        judged = c["killed"] + c["timeout"] + c["survived"]
        rate = f"{(c['killed'] + c['timeout']) / judged:.1%}" if judged else "-"
        lines.append(
            f"| {module} | {judged} | {c['killed']} | {c['timeout']} | {c['survived']} "
            f"| {c['equivalent']} | {rate} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m scripts.mutate", description=__doc__)
    parser.add_argument(
        "modules", nargs="+", help="modules or packages (directories), relative to the root"
    )
    parser.add_argument("--every", type=int, default=1, help="run every K-th mutant only")
    parser.add_argument("--offset", type=int, default=0, help="which of each K (0..K-1)")
    parser.add_argument("--lines", help="only mutants starting on lines A-B")
    parser.add_argument("--tests", nargs="+", help="test paths (default: TESTS[module])")
    parser.add_argument("--timeout", type=float, help="seconds per run (default: 3x clean + 10)")
    parser.add_argument("--min-rate", type=float, default=0.9)
    parser.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    args = parser.parse_args(argv)

    modules, left_out = expand(args.modules, explicit_tests=bool(args.tests))
    for module in left_out:
        why = UNMAPPED.get(module, "no tests mapped in TESTS")
        print(f"{module}: left out ({why})", flush=True)
    plan: list[tuple[Mutant, str]] = []
    for module in modules:
        source = (ROOT / module).read_text()
        mutants = mutants_of(module, source)
        if args.lines:
            low, _, high = args.lines.partition("-")
            mutants = [m for m in mutants if int(low) <= m.line <= int(high or low)]
        sampled = mutants[args.offset :: args.every]
        print(f"{module}: {len(mutants)} mutants, {len(sampled)} selected", flush=True)
        plan.extend((m, source) for m in sampled)
    modules = [m for m in modules if any(mutant.path == m for mutant, _ in plan)]
    if args.list:
        for mutant, source in plan:
            print(f"{mutant.path}:{mutant.line}: {mutant.description}")
            print(diff(mutant, source))
        return 0

    counts = {"killed": 0, "timeout": 0, "survived": 0, "equivalent": 0}
    per_module = {m: dict.fromkeys(counts, 0) for m in modules}
    survivors: list[tuple[Mutant, str]] = []
    with tempfile.TemporaryDirectory(prefix="mutate-") as temporary:
        tree = Path(temporary)
        copy_tree(tree)
        check_imports_from(tree)
        baseline: dict[str, float] = {}
        broken: dict[str, list[str]] = {}
        clean: dict[tuple[str, ...], tuple[list[str], float]] = {}
        for module in modules:
            tests = existing(tree, args.tests or TESTS.get(module, ()))
            if not tests:
                raise SystemExit(f"no tests mapped for {module}: pass --tests")
            known = tuple(tests) in clean  # modules sharing a mapping share its clean run
            if not known:
                clean[tuple(tests)] = failing_before(tree, tests)
            broken[module], seconds = clean[tuple(tests)]
            baseline[module] = seconds
            print(f"{module}: clean run {seconds:.1f} s{' (shared)' if known else ''}", flush=True)
            for node in [] if known else broken[module]:
                print(f"  fails before any mutation, deselected: {node}", flush=True)
        for number, (mutant, source) in enumerate(plan, 1):
            reason = equivalent_reason(mutant, source)
            if reason is not None:
                counts["equivalent"] += 1
                per_module[mutant.path]["equivalent"] += 1
                continue
            mutated = mutant.apply(source)
            if not parses(mutated):
                print(f"[{number}/{len(plan)}] invalid  {mutant.path}:{mutant.line}", flush=True)
                continue
            target = tree / mutant.path
            target.write_text(mutated)
            try:
                tests = existing(tree, args.tests or TESTS[mutant.path])
                limit = args.timeout or 3 * baseline[mutant.path] + 10
                outcome, seconds = run_tests(tree, tests, limit, broken[mutant.path])
                if outcome == "timeout":  # a hang, or a busy machine: look again, longer
                    outcome, again = run_tests(tree, tests, 3 * limit, broken[mutant.path])
                    seconds += again
            finally:
                target.write_text(source)
            status = {"failed": "killed", "timeout": "timeout", "passed": "survived"}[outcome]
            counts[status] += 1
            per_module[mutant.path][status] += 1
            if status == "survived":
                survivors.append((mutant, source))
            print(
                f"[{number}/{len(plan)}] {status:8} {mutant.path}:{mutant.line} "
                f"{mutant.description} ({seconds:.1f} s)",
                flush=True,
            )

    if len(modules) > 1:
        print("\n" + table(per_module))
    judged = counts["killed"] + counts["timeout"] + counts["survived"]
    rate = (counts["killed"] + counts["timeout"]) / judged if judged else 1.0
    sample = f", every {args.every}th mutant (offset {args.offset})" if args.every > 1 else ""
    print(
        f"\n{judged} mutants judged{sample}: {counts['killed']} killed, {counts['timeout']} "
        f"timeout, {counts['survived']} survived, {counts['equivalent']} equivalent skipped; "
        f"kill rate {rate:.1%}"
    )
    for mutant, source in survivors:
        print(f"\nSURVIVED {mutant.path}:{mutant.line} {mutant.description}")
        print(diff(mutant, source), end="")
    return 0 if rate >= args.min_rate else 1


if __name__ == "__main__":
    raise SystemExit(main())
