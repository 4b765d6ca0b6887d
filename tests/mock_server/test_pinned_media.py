"""Pins of image decoding that the mutation run found unguarded (issue 13, point 6)."""

from __future__ import annotations

import base64
import struct

import pytest

from conformance.protocol.findings import Finding
from mock_server.media import ImageInfo, decode_image

from .app_harness import jpeg_header


def jpeg_url(data: bytes) -> str:
    return "data:image/jpeg;base64," + base64.b64encode(data).decode()


def test_a_jpeg_frame_header_gives_the_size() -> None:
    info = decode_image(jpeg_url(jpeg_header(640, 480)), "item.content[0]", None)
    assert isinstance(info, ImageInfo)
    assert (info.width, info.height) == (640, 480)


@pytest.mark.parametrize("cut", [4, 6, 8])
def test_a_jpeg_cut_inside_its_frame_header_is_refused_not_a_crash(cut: int) -> None:
    sof = b"\xff\xc0" + struct.pack(">HBHHB", 11, 8, 480, 640, 1)
    info = decode_image(jpeg_url(b"\xff\xd8" + sof[:cut]), "item.content[0]", "evt_1")
    assert isinstance(info, Finding), info


@pytest.mark.parametrize("fmt", ["audio/pcmu", "audio/pcma"])
def test_g711_decodes_back_to_the_pcm_it_encoded_within_its_quantisation(fmt: str) -> None:
    from mock_server.media import decode_g711, encode_g711, synth_pcm16

    pcm = synth_pcm16(20, seed=1, rate=8000)
    decoded = decode_g711(encode_g711(pcm, fmt), fmt)
    assert len(decoded) == len(pcm)
    before = struct.unpack(f"<{len(pcm) // 2}h", pcm)
    after = struct.unpack(f"<{len(decoded) // 2}h", decoded)
    assert all(abs(a - b) <= max(16, abs(a) // 16) for a, b in zip(before, after, strict=True))
