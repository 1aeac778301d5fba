// The demo till: sign in, open an order session, stream the microphone into it over
// the live WebSocket (WebM/Opus from MediaRecorder), show partial transcripts and the
// cart as turns arrive, confirm. It talks to this service's public API only.
"use strict";

const ROOT = location.pathname.replace(/\/demo\/?$/, "");
const API = ROOT + "/api/v1";
const WS_API = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + API;
const CHUNK_MS = 250; // MediaRecorder hands over audio this often
const $ = (id) => document.getElementById(id);

const till = {
  login: null, // {secret_id, secret_key}, or null with a pasted token
  token: null,
  tokenUntil: 0, // ms since the epoch; a pasted token is used as it is
  session: null,
  ws: null,
  recorder: null,
  microphone: null,
  closing: Promise.resolve(),
};

class ApiError extends Error {
  constructor(status, body) {
    const detail = body && body.data && body.data.errors ? body.data.errors.map((e) => e.msg).join("; ") : "";
    super(`${(body && body.msg) || "HTTP " + status}${detail ? ": " + detail : ""}`);
    this.status = status;
  }
}

async function bearer() {
  if (till.login && Date.now() > till.tokenUntil - 60_000) {
    const response = await fetch(API + "/auth/token", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(till.login),
    });
    const body = await response.json();
    if (!response.ok) throw new ApiError(response.status, body);
    till.token = body.data.access_token;
    till.tokenUntil = Date.now() + body.data.expires_in * 1000;
  }
  return till.token;
}

async function api(method, path, body, headers = {}) {
  const init = { method, headers: { ...headers, Authorization: "Bearer " + (await bearer()) } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = typeof body === "string" ? body : JSON.stringify(body);
  }
  const response = await fetch(API + path, init);
  const answer = await response.json().catch(() => ({}));
  if (!response.ok) throw new ApiError(response.status, answer);
  return answer.data;
}

function status(text) {
  $("status").textContent = text;
}

function showError(where, error) {
  $(where).textContent = error ? String(error.message || error) : "";
}

async function signIn() {
  showError("sign-in-error", null);
  const token = $("token").value.trim();
  till.login = token ? null : { secret_id: $("secret-id").value.trim(), secret_key: $("secret-key").value };
  till.token = token || null;
  till.tokenUntil = 0;
  try {
    await ensureCatalog();
    await newSession();
  } catch (error) {
    showError("sign-in-error", error);
    return;
  }
  $("secret-key").value = "";
  $("sign-in").hidden = true;
  $("till").hidden = false;
  $("new-order").hidden = false;
}

async function ensureCatalog() {
  try {
    await api("GET", "/voice/catalog");
  } catch (error) {
    if (error.status !== 404) throw error;
    // No menu yet: upload the example cafe's, as an integrator's first step would.
    const example = await (await fetch("demo/catalog.json")).text();
    await api("PUT", "/voice/catalog", example);
  }
}

async function newSession() {
  stopTalking();
  till.session = await api("POST", "/voice/sessions", { channel: "kiosk" });
  $("partial").textContent = "";
  $("transcript").textContent = "";
  $("confirmed").textContent = "";
  showError("error", null);
  render(till.session);
  status("Ready");
}

async function refresh() {
  if (!till.session || till.session.status !== "open") return;
  try {
    render(await api("GET", `/voice/sessions/${till.session.session_id}`));
  } catch (error) {
    showError("error", error);
  }
}

function money(amount, currency) {
  return `${amount} ${currency}`;
}

function render(session) {
  till.session = session;
  const { lines, total, currency } = session.cart;
  const list = $("lines");
  list.replaceChildren(
    ...lines.map((line) => {
      const item = document.createElement("li");
      item.className = "line" + (line.needs_review ? " review" : "");
      item.dataset.sku = line.sku;
      item.dataset.quantity = String(line.quantity);
      item.dataset.modifiers = line.modifiers.join(",");
      const qty = document.createElement("span");
      qty.className = "qty";
      qty.textContent = `${line.quantity}×`;
      const name = document.createElement("span");
      name.className = "name";
      name.textContent = line.name;
      if (line.modifier_names.length) {
        const mods = document.createElement("span");
        mods.className = "mods";
        mods.textContent = line.modifier_names.join(", ");
        name.append(mods);
      }
      const price = document.createElement("span");
      price.className = "price";
      price.textContent = line.line_total;
      item.append(qty, name, price);
      return item;
    }),
  );
  $("empty").hidden = lines.length > 0;
  $("total").textContent = money(total, currency);
  $("readback").textContent = session.readback;
  $("session-id").textContent = session.session_id.slice(0, 8);
  $("confirm").disabled = !(session.status === "open" && lines.length > 0);
}

async function startTalking() {
  showError("error", null);
  let microphone;
  try {
    microphone = await navigator.mediaDevices.getUserMedia({
      audio: { channelCount: 1, echoCancellation: true, noiseSuppression: true },
    });
  } catch (error) {
    showError("error", "No microphone: " + error.message);
    return;
  }
  const url = `${WS_API}/voice/sessions/${till.session.session_id}/stream`;
  // A browser cannot set Authorization on a WebSocket: the token rides in a subprotocol.
  await till.closing; // the last stream gives the session back first
  const ws = new WebSocket(url, ["voice.v1", "bearer." + (await bearer())]);
  till.ws = ws;
  till.microphone = microphone;
  setListening(true);
  let closed;
  till.closing = new Promise((resolve) => (closed = resolve));
  ws.onopen = () => ws.send(JSON.stringify({ type: "start", encoding: "webm" }));
  ws.onmessage = (event) => onMessage(ws, JSON.parse(event.data));
  ws.onclose = (event) => {
    closed();
    if (till.ws === ws) stopTalking();
    // A turn that came as the stream closed is in the session: show what it holds.
    refresh();
    if (event.code !== 1000 && event.code !== 1005 && !$("error").textContent) {
      showError("error", `The stream closed (${event.code}).`);
    }
  };
}

function onMessage(ws, message) {
  if (message.type === "ready") {
    const type = MediaRecorder.isTypeSupported("audio/webm;codecs=opus") ? "audio/webm;codecs=opus" : "audio/webm";
    const recorder = new MediaRecorder(till.microphone, { mimeType: type });
    recorder.ondataavailable = (event) => {
      if (event.data.size > 0 && ws.readyState === WebSocket.OPEN) ws.send(event.data);
    };
    recorder.onstop = () => {
      if (ws.readyState !== WebSocket.OPEN) return;
      // Speech under way is decoded at once rather than after a pause; the stream
      // closes when its turn has come (the session takes one stream at a time).
      ws.send(JSON.stringify({ type: "end" }));
      ws.closeAfterTurn = true;
      // A partial means words are being decoded; a short word may have none yet.
      setTimeout(() => ws.close(1000), ws.speaking ? 15_000 : 3_000);
    };
    recorder.start(CHUNK_MS);
    till.recorder = recorder;
    status("Listening");
  } else if (message.type === "partial") {
    ws.speaking = true;
    $("partial").textContent = message.text;
  } else if (message.type === "turn") {
    ws.speaking = false;
    if (ws.closeAfterTurn) ws.close(1000);
    $("partial").textContent = "";
    $("transcript").textContent = message.turn.transcript || "(nothing heard)";
    render(message.session);
    if (message.turn.done) status("Customer is done: confirm the order");
  } else if (message.type === "error") {
    showError("error", `${message.code}: ${message.msg}`);
  }
}

function setListening(on) {
  $("mic").setAttribute("aria-pressed", String(on));
  $("mic-label").textContent = on ? "Listening… tap to stop" : "Tap to talk";
  if (!on) status("Ready");
}

function stopTalking() {
  const { recorder, microphone } = till;
  till.recorder = null;
  till.microphone = null;
  till.ws = null;
  if (recorder && recorder.state !== "inactive") recorder.stop(); // sends "end", then closes
  if (microphone) microphone.getTracks().forEach((track) => track.stop());
  setListening(false);
}

async function confirmOrder() {
  $("confirm").disabled = true;
  stopTalking();
  status("Finishing…");
  await till.closing; // the last words said are in the order
  try {
    const order = await api("POST", `/voice/sessions/${till.session.session_id}/confirm`, undefined, {
      "Idempotency-Key": "demo-" + till.session.session_id,
    });
    till.session.status = "confirmed";
    $("confirmed").textContent = `Order ${order.order_id} stored: ${money(order.total, order.currency || till.session.cart.currency)}`;
    $("confirmed").dataset.orderId = order.order_id;
    status("Order stored");
  } catch (error) {
    showError("error", error);
    render(till.session);
  }
}

document.addEventListener("DOMContentLoaded", () => {
  $("sign-in").addEventListener("submit", (event) => {
    event.preventDefault(); // signed in by script: nothing is posted anywhere
    signIn();
  });
  $("mic").addEventListener("click", () => {
    if (till.recorder || till.ws) stopTalking();
    else startTalking().catch((error) => showError("error", error));
  });
  $("confirm").addEventListener("click", confirmOrder);
  $("new-order").addEventListener("click", () => newSession().catch((error) => showError("error", error)));
});
