// A screenshot-to-notes Realtime (GA) client in Node, with the `ws` package.
//
//   npm install --prefix examples/node
//   realtime-conformance run --client "node examples/node/notes.mjs"
//
// It follows the runner's environment contract (docs/runner.md): the URL, key, model,
// screenshot and prompt come from the environment, the notes go to stdout, and every
// error event and close is reported on stderr. Exit 0 once the note is complete, 1 when
// the server ended the session first or the reply failed, 2 on a bad environment.
//
// NOTES_BETA_NAMES=1 plants the HUD's migration bug: it listens for the beta event name
// `response.text.delta`, which the GA server never sends, so no note is ever shown.
import { readFileSync } from "node:fs";
import WebSocket from "ws";

const TIMEOUT_MS = 15_000;
const env = process.env;
const need = (name) => {
  if (!env[name]) {
    console.error(`notes.mjs: set ${name} (docs/runner.md lists the variables)`);
    process.exit(2);
  }
  return env[name];
};

const url = new URL(need("OPENAI_REALTIME_URL"));
url.searchParams.set("model", env.REALTIME_MODEL || "gpt-realtime-1.5");
const key = need("OPENAI_API_KEY");
const screenshot = readFileSync(need("REALTIME_SCREENSHOT"));
const DELTA = env.NOTES_BETA_NAMES === "1" ? "response.text.delta" : "response.output_text.delta";
const prompt = env.REALTIME_PROMPT_TEXT || "Write terse notes about the screenshot.";
const mime = screenshot.subarray(0, 4).toString("hex") === "89504e47" ? "image/png" : "image/jpeg";

let done = false;
let asked = false;
const finish = (code) => {
  done = true;
  clearTimeout(timer);
  socket.terminate();
  process.exitCode = code;
};
const timer = setTimeout(() => {
  console.error(`notes.mjs: no complete note within ${TIMEOUT_MS} ms`);
  finish(1);
}, TIMEOUT_MS);

// No `OpenAI-Beta` header: the GA server closes such a socket with 4000.
const socket = new WebSocket(url, { headers: { Authorization: `Bearer ${key}` } });
const send = (event) => socket.send(JSON.stringify(event));

const seen = new Set();  // event ids already applied: a transport may deliver one twice
socket.on("message", (data) => {
  const event = JSON.parse(data.toString());
  if (event.event_id) {
    if (seen.has(event.event_id)) return;
    seen.add(event.event_id);
  }
  if (event.type === DELTA) {  // GA name: response.output_text.delta (beta: response.text.delta)
    process.stdout.write(event.delta);
    return;
  }
  switch (event.type) {
    case "session.created":  // the first event: only now configure the session (GA shape)
      send({
        type: "session.update",
        event_id: "evt_configure",
        session: { type: "realtime", output_modalities: ["text"], instructions: prompt },
      });
      break;
    case "session.updated":  // configured: now the screenshot and the request for notes
      if (asked) break;
      asked = true;
      send({
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
      send({ type: "response.create" });
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
      } else {
        const error = details?.error;
        console.error(`response ${status}: ${error?.code ?? details?.reason ?? "no reason"} ${error?.message ?? ""}`);
        finish(1);
      }
      break;
    }
    default:  // new and unknown event types are ignored, as the API may add some
      break;
  }
});
socket.on("close", (code, reason) => {
  if (!done) {
    console.error(`closed by the server: ${code} ${reason.toString()}`);
    finish(1);
  }
});
socket.on("error", (err) => {
  if (!done) {
    console.error(`connection failed: ${err.message}`);
    finish(1);
  }
});
