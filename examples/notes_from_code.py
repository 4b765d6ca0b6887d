"""Stream heads-up-display notes for one screenshot with `RealtimeClient`, from your own code.

    OPENAI_API_KEY=sk-... python examples/notes_from_code.py shot.png
    OPENAI_API_KEY=sk-test OPENAI_REALTIME_URL=ws://127.0.0.1:8765/v1/realtime \
        python examples/notes_from_code.py      # a mock started by `realtime-mock serve`

Without an image argument it sends a generated 64x40 grey PNG. The URL comes from
OPENAI_REALTIME_URL, else OPENAI_BASE_URL (http://host:port/v1 -> ws://host:port/v1/realtime),
else the live API.
"""

from __future__ import annotations

import asyncio
import sys

from client_reference import (
    ClientError,
    ClientSettings,
    RealtimeClient,
    UsageError,
    encode_png,
    resolve_endpoint,
)


async def notes_for(image: bytes | str) -> str:
    """Send one screenshot and return the notes, printing them as they stream."""
    endpoint = resolve_endpoint()
    settings = ClientSettings(response_timeout=20.0)
    async with RealtimeClient(endpoint.url, api_key=endpoint.api_key, settings=settings) as client:
        await client.configure(
            instructions="You are a heads-up display. Write terse notes about the screenshot.",
            output_modalities=["text"],
        )
        await client.add_screenshot(image, detail="low")  # low detail: faster, cheaper
        stream = await client.respond(on_delta=lambda text: print(text, end="", flush=True))
        result = await stream.done()
        print()
        if result.time_to_first_delta is not None:
            print(f"[first text after {result.time_to_first_delta * 1000:.0f} ms]", file=sys.stderr)
        return result.text


def main() -> int:
    image: bytes | str = sys.argv[1] if len(sys.argv) > 1 else encode_png(64, 40, (90, 90, 90))
    try:
        asyncio.run(notes_for(image))
    except (ClientError, UsageError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
