"""The sans-I/O Realtime protocol core: no sockets, no clocks, no random ids.

Shared by the mock server, the reference client and the conformance checks.
"""

from .conversation import Conversation, ModelFacts, ModelLookup
from .errors import (
    ConfigError,
    LocalProtocolError,
    ProtocolError,
    RealtimeError,
    RemoteProtocolError,
    ScenarioError,
    UsageError,
)
from .findings import INVALID_REQUEST_ERROR, Finding
from .ids import Clock, IdFactory, ManualClock
from .replay import SequenceProblem, replay
from .session import (
    BINARY_FRAME,
    PROTOCOL_ERROR,
    AudioDecoder,
    Decoder,
    Encoder,
    Received,
    Session,
    decode_audio,
    plain_decode,
    plain_encode,
    strict_b64decode,
)
from .states import ItemStage, PartState, ResponseState, SessionState, Side
from .translation import TranslationSession, TranslationState

__all__ = [
    "BINARY_FRAME",
    "INVALID_REQUEST_ERROR",
    "PROTOCOL_ERROR",
    "AudioDecoder",
    "Clock",
    "ConfigError",
    "Conversation",
    "Decoder",
    "Encoder",
    "Finding",
    "IdFactory",
    "ItemStage",
    "LocalProtocolError",
    "ManualClock",
    "ModelFacts",
    "ModelLookup",
    "PartState",
    "ProtocolError",
    "RealtimeError",
    "Received",
    "RemoteProtocolError",
    "ResponseState",
    "ScenarioError",
    "SequenceProblem",
    "Session",
    "SessionState",
    "Side",
    "TranslationSession",
    "TranslationState",
    "UsageError",
    "decode_audio",
    "plain_decode",
    "plain_encode",
    "replay",
    "strict_b64decode",
]
