// Drive examples/browser/ in headless chromium with Playwright (playwright-core, the
// system's chromium: no browser download).
//
//   node tests/browser/harness.mjs PAGE_URL SHOT.png
//
// Loads PAGE_URL (the page connects at once: client secret, offer, oai-events channel),
// sends SHOT.png through the page's RealtimeNotes.note(), and prints one JSON line:
// {text, callId, maxMessageSize, micTracks, rtp: {sent, received}} — or {error}.
// Exit 0 with a result, 1 with an error. CHROMIUM names the browser (/usr/bin/chromium).
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const PLAYWRIGHT = join(ROOT, "examples", "node", "node_modules", "playwright-core", "index.mjs");
const { chromium } = await import(pathToFileURL(PLAYWRIGHT).href);

export const FLAGS = [
  "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
  "--disable-background-networking", "--disable-component-update", "--disable-sync",
  "--use-fake-device-for-media-stream", "--use-fake-ui-for-media-stream",
];

const [url, shot] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: FLAGS,
  timeout: 30000,
});
let status = 0;
try {
  const page = await browser.newPage();
  page.setDefaultTimeout(30000);
  page.on("console", (message) => process.stderr.write(`console: ${message.text()}\n`));
  page.on("pageerror", (error) => process.stderr.write(`page error: ${error.message}\n`));
  await page.goto(url);
  const png = readFileSync(shot).toString("base64");
  const result = await page.evaluate(async (b64) => {
    const notes = await window.realtimeNotes;
    const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
    const text = await notes.note(new Blob([bytes], { type: "image/png" }));
    // RTP counters: read until audio has gone both ways, or 10 s have passed (on a busy
    // machine the first packets of the model's track can come after the note).
    const audioRtp = async () => {
      const counts = { sent: 0, received: 0 };
      (await notes.pc.getStats()).forEach((report) => {
        if (report.kind !== "audio") return;
        if (report.type === "outbound-rtp") counts.sent += report.packetsSent || 0;
        if (report.type === "inbound-rtp") counts.received += report.packetsReceived || 0;
      });
      return counts;
    };
    const deadline = Date.now() + 10000;
    let rtp = await audioRtp();
    while ((rtp.sent === 0 || rtp.received === 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      rtp = await audioRtp();
    }
    const micTracks = notes.pc.getSenders().filter((s) => s.track && s.track.kind === "audio").length;
    const result = { text, callId: notes.callId, maxMessageSize: notes.pc.sctp.maxMessageSize,
                     micTracks, rtp, model: notes.session.model };
    await notes.close();
    return result;
  }, png);
  process.stdout.write(JSON.stringify(result) + "\n");
} catch (error) {
  process.stdout.write(JSON.stringify({ error: String(error && error.message || error) }) + "\n");
  status = 1;
} finally {
  await browser.close();
}
process.exit(status);
