// The same notes client on the official `openai` SDK (OpenAIRealtimeWS).
//
//   npm install --prefix examples/node
//   realtime-conformance run --client "node examples/node/sdk-notes.mjs"
//
// The SDK builds its URL from `baseURL` and always dials `wss://`. Against a mock serving
// TLS (`realtime-mock serve --tls`, `realtime-conformance run --tls`: an `https://`
// OPENAI_BASE_URL, its CA trusted through NODE_EXTRA_CA_CERTS) and against the live API,
// nothing is overridden. Only against a plain `ws://` mock (an `http://` base URL) does
// this client hand the SDK's `ws` socket a plain TCP connection (`createConnection`).
//
//   realtime-conformance run --tls --client "node examples/node/sdk-notes.mjs"
import net from "node:net";
import { readFileSync } from "node:fs";
import OpenAI from "openai";
import { OpenAIRealtimeWS } from "openai/realtime/ws";

const TIMEOUT_MS = 15_000;
const env = process.env;
const baseURL = env.OPENAI_BASE_URL;  // http://127.0.0.1:PORT/v1 under the runner
const plain = baseURL?.startsWith("http://");
const client = new OpenAI({ apiKey: env.OPENAI_API_KEY, baseURL });
const screenshot = readFileSync(env.REALTIME_SCREENSHOT);
const mime = screenshot.subarray(0, 4).toString("hex") === "89504e47" ? "image/png" : "image/jpeg";

const rt = new OpenAIRealtimeWS(
  {
    model: env.REALTIME_MODEL || "gpt-realtime-1.5",
    options: plain ? { createConnection: (options) => net.connect(options) } : {},
  },
  client,
);

let done = false;
let asked = false;
const finish = (code) => {
  done = true;
  clearTimeout(timer);
  rt.socket.terminate();
  process.exitCode = code;
};
const timer = setTimeout(() => {
  console.error(`sdk-notes.mjs: no complete note within ${TIMEOUT_MS} ms`);
  finish(1);
}, TIMEOUT_MS);

rt.on("error", (err) => {  // transport errors; API error events are handled below
  if (!err.error) console.error(`error: ${err.message}`);
});
const seen = new Set();  // event ids already applied: a transport may deliver one twice
rt.on("event", (event) => {
  if (event.event_id) {
    if (seen.has(event.event_id)) return;
    seen.add(event.event_id);
  }
  switch (event.type) {
    case "session.created":  // the first event: only now configure the session (GA shape)
      rt.send({
        type: "session.update",
        event_id: "evt_configure",
        session: {
          type: "realtime",
          output_modalities: ["text"],
          instructions: env.REALTIME_PROMPT_TEXT || "Write terse notes about the screenshot.",
        },
      });
      break;
    case "session.updated":  // configured: now the screenshot and the request for notes
      if (asked) break;
      asked = true;
      rt.send({
        type: "conversation.item.create",
        item: {
          type: "message",
          role: "user",
          content: [
            { type: "input_text", text: "Notes on this screenshot, please." },
            { type: "input_image", image_url: `data:${mime};base64,${screenshot.toString("base64")}` },
          ],
        },
      });
      rt.send({ type: "response.create" });
      break;
    case "response.output_text.delta":  // GA name (beta: response.text.delta)
      process.stdout.write(event.delta);
      break;
    case "error":  // most errors are recoverable: report, keep the session
      console.error(`error ${event.error.code}: ${event.error.message}`);
      if (event.error.event_id === "evt_configure") finish(1);  // our configuration was refused
      break;
    case "response.done": {
      const { status, status_details: details } = event.response;
      if (status === "completed") {
        process.stdout.write("\n");
        finish(0);
        break;
      }
      const error = details?.error;
      console.error(`response ${status}: ${error?.code ?? details?.reason ?? "no reason"} ${error?.message ?? ""}`);
      finish(1);
      break;
    }
    default:  // new and unknown event types are ignored, as the API may add some
      break;
  }
});
rt.socket.on("close", (code, reason) => {
  if (!done) {
    console.error(`closed by the server: ${code} ${reason.toString()}`);
    finish(1);
  }
});
