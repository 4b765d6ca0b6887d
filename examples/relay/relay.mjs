// A server relay for the Realtime API (GA), in Node with the `ws` package: the browser (or
// any client) connects here, the relay holds the real key and forwards every frame to
// OpenAI and back. This one is correct; `broken-relay.mjs` plants the HUD's relay bugs.
//
//   realtime-conformance run --relay "node examples/relay/relay.mjs" \
//       --relay-url "ws://127.0.0.1:{port}/relay"
//
// What a relay owes each side (docs/relay.md):
// * upstream it is a GA client: `Authorization: Bearer <its key>`, `?model=` passed on,
//   no `OpenAI-Beta` header;
// * downstream it forwards every event, `error` events included, and ends the
//   connection the way upstream ended it: the same close code and reason; a dropped or
//   refused upstream becomes close 1011 with the cause as the reason, never silence;
// * the key never goes downstream (not in a frame, a header or a close reason).
//
// Environment (the runner's contract, docs/runner.md): OPENAI_REALTIME_URL (upstream),
// OPENAI_API_KEY (the relay's key), RELAY_PORT (where to listen), RELAY_HOST (127.0.0.1).
// `ws` comes from examples/node (`npm ci --prefix examples/node`); in your own project
// `npm install ws` and `import { WebSocket, WebSocketServer } from "ws"`.
import { createRequire } from "node:module";
import { pathToFileURL } from "node:url";

const require = createRequire(new URL("../node/package.json", import.meta.url));
const { WebSocket, WebSocketServer } = require("ws");

// The bugs `broken-relay.mjs` can plant (each one alone, or all three).
export const BUGS = ["beta-header", "swallow-errors", "silent-close"];
const MAX_REASON_BYTES = 123; // a close reason's limit (RFC 6455)

// Close codes an endpoint may send: 1005 (no code), 1006 (no close frame) and 1015 only
// describe what was received.
const sendable = (code) =>
  (code >= 1000 && code <= 1014 && ![1004, 1005, 1006].includes(code)) ||
  (code >= 3000 && code <= 4999);

const cut = (text) => {
  const bytes = Buffer.from(text);
  return bytes.length <= MAX_REASON_BYTES ? text : bytes.subarray(0, MAX_REASON_BYTES - 3).toString() + "...";
};

const isError = (data) => {
  try {
    return JSON.parse(data.toString()).type === "error";
  } catch {
    return false;
  }
};

/** Start a relay on `host:port`; `bugs` is a Set of names from BUGS (empty: correct). */
export function startRelay({ port, host = "127.0.0.1", upstreamUrl, apiKey, bugs = new Set() }) {
  const server = new WebSocketServer({ host, port });
  server.on("connection", (down, request) => {
    const target = new URL(upstreamUrl);
    const asked = new URL(request.url, "http://relay.invalid");
    for (const [name, value] of asked.searchParams) target.searchParams.set(name, value);
    const headers = { Authorization: `Bearer ${apiKey}` };
    if (bugs.has("beta-header")) headers["OpenAI-Beta"] = "realtime=v1"; // BUG: retired header
    const up = new WebSocket(target, { headers });
    const pending = []; // client frames sent before upstream opened
    let upstreamProblem = null;

    const endDownstream = (code, reason) => {
      if (down.readyState !== WebSocket.OPEN) return;
      if (code === 1005) down.close(); // upstream closed without a code: so do we
      else if (sendable(code)) down.close(code, cut(reason));
      else down.close(1011, cut(upstreamProblem ?? "upstream connection lost"));
    };

    down.on("message", (data, isBinary) => {
      if (up.readyState === WebSocket.OPEN) up.send(data, { binary: isBinary });
      else if (up.readyState === WebSocket.CONNECTING) pending.push([data, isBinary]);
    });
    down.on("close", (code, reason) => {
      if (up.readyState === WebSocket.OPEN) {
        if (sendable(code)) up.close(code, reason.toString());
        else up.close(1000);
      } else if (up.readyState === WebSocket.CONNECTING) {
        up.terminate();
      }
    });
    down.on("error", () => up.terminate());

    up.on("open", () => {
      for (const [data, isBinary] of pending.splice(0)) up.send(data, { binary: isBinary });
    });
    up.on("message", (data, isBinary) => {
      if (bugs.has("swallow-errors") && !isBinary && isError(data)) return; // BUG: dropped
      if (down.readyState === WebSocket.OPEN) down.send(data, { binary: isBinary });
    });
    up.on("unexpected-response", (req, res) => {
      upstreamProblem = `upstream refused the upgrade: HTTP ${res.statusCode}`;
      req.destroy();
      if (!bugs.has("silent-close")) endDownstream(1006, "");
    });
    up.on("error", (err) => {
      upstreamProblem ??= `upstream error: ${err.message}`;
    });
    up.on("close", (code, reason) => {
      if (bugs.has("silent-close")) return; // BUG: the client is never told
      endDownstream(code, reason.toString());
    });
  });
  return server;
}

/** Run from the command line: the environment says where; `--bugs a,b` plants bugs. */
export function main(defaultBugs = []) {
  const env = process.env;
  for (const name of ["RELAY_PORT", "OPENAI_REALTIME_URL", "OPENAI_API_KEY"]) {
    if (!env[name]) {
      console.error(`relay: set ${name} (docs/relay.md lists the variables)`);
      process.exit(2);
    }
  }
  const flag = process.argv.indexOf("--bugs");
  const named = flag > 0 ? (process.argv[flag + 1] ?? "") : defaultBugs.join(",");
  const bugs = new Set(named.split(",").filter((n) => n && n !== "none"));
  for (const bug of bugs) {
    if (!BUGS.includes(bug)) {
      console.error(`relay: unknown bug ${JSON.stringify(bug)}; known: ${BUGS.join(", ")}, none`);
      process.exit(2);
    }
  }
  const host = env.RELAY_HOST || "127.0.0.1";
  const server = startRelay({
    port: Number(env.RELAY_PORT),
    host,
    upstreamUrl: env.OPENAI_REALTIME_URL,
    apiKey: env.OPENAI_API_KEY,
    bugs,
  });
  server.on("listening", () => {
    const planted = bugs.size ? ` with bugs: ${[...bugs].join(", ")}` : "";
    console.error(`relay: listening on ws://${host}:${env.RELAY_PORT}${planted}`);
  });
  server.on("error", (err) => {
    console.error(`relay: ${err.message}`);
    process.exit(1);
  });
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) main();
