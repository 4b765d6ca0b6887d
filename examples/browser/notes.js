// Screenshot notes from a browser over WebRTC: the documented browser flow, nothing more.
//
//   const notes = await RealtimeNotes.connect({ sessionUrl: "/session", apiBase });
//   const text = await notes.note(pngBlob);   // the model's notes about the screenshot
//   await notes.close();
//
// 1. POST sessionUrl (your back end, e.g. server.py beside this file) -> {value: "ek_...",
//    model}: a short-lived client secret; the real API key never reaches the browser.
// 2. RTCPeerConnection: the microphone's track (sent to the model), the model's audio
//    track (played), and the "oai-events" data channel (JSON events, as on a WebSocket).
// 3. POST the SDP offer to {apiBase}/realtime/calls with the client secret; the answer is
//    the 201's body, the call id (rtc_...) the last part of its Location header.
// 4. Wait for session.created, then send events on the channel: a screenshot as an
//    input_image item, then response.create; the notes are the response's text deltas.
//
// One data-channel message is at most pc.sctp.maxMessageSize bytes (Chromium: 256 KiB),
// so a screenshot is downscaled until its event fits.

const CHANNEL = "oai-events";
const TIMEOUT_MS = 30000; // every wait is bounded
const EVENT_OVERHEAD = 1024; // bytes of JSON around the image's data URL

export class RealtimeNotes {
  static async connect({ sessionUrl = "/session", apiBase = "https://api.openai.com/v1",
                         microphone = true, audioElement = null, onEvent = null } = {}) {
    const secret = await postJson(sessionUrl);
    const pc = new RTCPeerConnection();
    const notes = new RealtimeNotes(pc, onEvent);
    try {
      if (microphone) {
        const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
        for (const track of stream.getAudioTracks()) pc.addTrack(track, stream);
      } else {
        pc.addTransceiver("audio", { direction: "recvonly" });
      }
      pc.ontrack = (event) => {
        if (audioElement) audioElement.srcObject = event.streams[0];
      };
      notes.channel = pc.createDataChannel(CHANNEL);
      notes.channel.onmessage = (message) => notes.receive(message.data);
      notes.channel.onclose = () => notes.fail(new Error("the call ended (data channel closed)"));
      await pc.setLocalDescription(await pc.createOffer());
      await iceGathered(pc); // the offer carries our candidates: no trickle ICE
      const answer = await fetch(`${apiBase}/realtime/calls`, {
        method: "POST",
        body: pc.localDescription.sdp,
        headers: { Authorization: `Bearer ${secret.value}`, "Content-Type": "application/sdp" },
      });
      const sdp = await answer.text();
      if (answer.status !== 201) throw new Error(`POST /realtime/calls: HTTP ${answer.status} ${sdp}`);
      notes.callId = (answer.headers.get("Location") || "").split("/").pop() || null;
      await pc.setRemoteDescription({ type: "answer", sdp });
      notes.session = (await notes.next("session.created")).session;
      return notes;
    } catch (error) {
      pc.close();
      throw error;
    }
  }

  constructor(pc, onEvent) {
    this.pc = pc;
    this.onEvent = onEvent;
    this.channel = null;
    this.callId = null;
    this.session = null;
    this.events = []; // server events not yet taken by next()
    this.waiters = [];
    this.ended = null;
    this.ids = 0;
  }

  // The notes about one screenshot (a PNG or JPEG Blob).
  async note(blob, { detail = "low", instructions = undefined } = {}) {
    const limit = this.pc.sctp ? this.pc.sctp.maxMessageSize : 65536;
    const image = await fitting(blob, limit ? limit - EVENT_OVERHEAD : Infinity);
    const item = this.id("img");
    this.send({
      type: "conversation.item.create",
      event_id: this.id("evt"),
      item: { id: item, type: "message", role: "user",
              content: [{ type: "input_image", image_url: image, detail }] },
    });
    const ask = this.id("evt");
    this.send({ type: "response.create", event_id: ask,
                response: { output_modalities: ["text"], ...(instructions ? { instructions } : {}) } });
    const created = await this.next("response.created", ask);
    const id = created.response.id;
    let text = "";
    for (;;) {
      const event = await this.next(null, ask);
      if (event.type === "response.output_text.delta" && event.response_id === id) text += event.delta;
      if (event.type === "response.done" && event.response.id === id) {
        if (event.response.status !== "completed") {
          throw new Error(`response ${event.response.status}: ${JSON.stringify(event.response.status_details)}`);
        }
        return text;
      }
    }
  }

  async close() {
    if (this.channel) this.channel.close();
    this.pc.close();
  }

  // ----------------------------------------------------------------- internals
  id(prefix) {
    this.ids += 1;
    return `${prefix}_web_${this.ids}`;
  }

  send(event) {
    if (this.ended) throw this.ended;
    this.channel.send(JSON.stringify(event));
  }

  receive(data) {
    const event = JSON.parse(data);
    if (this.onEvent) this.onEvent(event);
    this.events.push(event);
    this.wake();
  }

  fail(error) {
    if (!this.ended) this.ended = error;
    this.wake();
  }

  wake() {
    for (const waiter of this.waiters.splice(0)) waiter();
  }

  // The next event of `type` (any type when null); an error event about `ours` throws.
  async next(type, ours = undefined) {
    const deadline = Date.now() + TIMEOUT_MS;
    for (;;) {
      while (this.events.length) {
        const event = this.events.shift();
        if (event.type === "error" && (ours === undefined || event.error.event_id === ours)) {
          throw new Error(`server error ${event.error.code}: ${event.error.message}`);
        }
        if (type === null || event.type === type) return event;
      }
      if (this.ended) throw this.ended;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no ${type || "event"} within ${TIMEOUT_MS} ms`);
      await new Promise((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => { clearTimeout(timer); resolve(); });
      });
    }
  }
}

async function postJson(url) {
  const answer = await fetch(url, { method: "POST" });
  const body = await answer.json();
  if (!answer.ok) throw new Error(`POST ${url}: HTTP ${answer.status} ${JSON.stringify(body)}`);
  return body;
}

function iceGathered(pc) {
  if (pc.iceGatheringState === "complete") return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, 3000); // send what we have after 3 s
    pc.addEventListener("icegatheringstatechange", () => {
      if (pc.iceGatheringState === "complete") { clearTimeout(timer); resolve(); }
    });
  });
}

// A data URL of the image that fits `limit` bytes: as it is, else halved until it fits.
async function fitting(blob, limit) {
  let url = await dataUrl(blob);
  if (url.length <= limit) return url;
  const bitmap = await createImageBitmap(blob);
  let { width, height } = bitmap;
  while (url.length > limit && width > 1 && height > 1) {
    width = Math.max(1, Math.floor(width / 2));
    height = Math.max(1, Math.floor(height / 2));
    const canvas = new OffscreenCanvas(width, height);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, width, height);
    url = await dataUrl(await canvas.convertToBlob({ type: "image/png" }));
  }
  return url;
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}
