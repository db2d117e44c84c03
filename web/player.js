// The player: signing in to the Subsonic API turns it on. Streams and covers
// are the Subsonic `stream` and `getCoverArt` URLs; nginx sends their bytes.
// Signed out, nothing here makes a request or shows anything but "Sign in".
"use strict";

const SUBSONIC = (document.querySelector('meta[name="avalon-subsonic"]')?.content || "/rest").replace(/\/$/, "");
const CLIENT = "c=avalon-web&v=1.16.1";
const STORED = "avalon-subsonic";

// MD5 of bytes, lower-case hex: Subsonic's token is md5(password + salt).
// Only the token and its salt are kept, never the password.
function md5(bytes) {
  const K = new Uint32Array(64), S = [7, 12, 17, 22, 5, 9, 14, 20, 4, 11, 16, 23, 6, 10, 15, 21];
  for (let i = 0; i < 64; i++) K[i] = Math.floor(Math.abs(Math.sin(i + 1)) * 2 ** 32) >>> 0;
  const n = (((bytes.length + 8) >> 6) + 1) * 64;
  const m = new Uint8Array(n);
  m.set(bytes);
  m[bytes.length] = 0x80;
  const view = new DataView(m.buffer);
  view.setUint32(n - 8, (bytes.length * 8) >>> 0, true);
  view.setUint32(n - 4, Math.floor(bytes.length / 0x20000000), true);
  let a0 = 0x67452301, b0 = 0xefcdab89, c0 = 0x98badcfe, d0 = 0x10325476;
  for (let off = 0; off < n; off += 64) {
    let a = a0, b = b0, c = c0, d = d0;
    for (let i = 0; i < 64; i++) {
      let f, g;
      if (i < 16) { f = (b & c) | (~b & d); g = i; }
      else if (i < 32) { f = (d & b) | (~d & c); g = (5 * i + 1) % 16; }
      else if (i < 48) { f = b ^ c ^ d; g = (3 * i + 5) % 16; }
      else { f = c ^ (b | ~d); g = (7 * i) % 16; }
      const s = S[(i >> 4) * 4 + (i % 4)];
      const x = (a + f + K[i] + view.getUint32(off + g * 4, true)) >>> 0;
      a = d; d = c; c = b;
      b = (b + ((x << s) | (x >>> (32 - s)))) >>> 0;
    }
    a0 = (a0 + a) >>> 0; b0 = (b0 + b) >>> 0; c0 = (c0 + c) >>> 0; d0 = (d0 + d) >>> 0;
  }
  const out = new DataView(new ArrayBuffer(16));
  [a0, b0, c0, d0].forEach((w, i) => out.setUint32(i * 4, w, true));
  return [...new Uint8Array(out.buffer)].map((x) => x.toString(16).padStart(2, "0")).join("");
}

// The credentials of this tab (sessionStorage: gone with the tab), as query
// parameters; null when signed out.
let account = null;
try { account = JSON.parse(sessionStorage.getItem(STORED) || "null"); } catch (e) { account = null; }

function authQuery(a = account) {
  if (!a) return "";
  return a.key ? `apiKey=${encodeURIComponent(a.key)}` : `u=${encodeURIComponent(a.user)}&t=${a.token}&s=${a.salt}`;
}

// One Subsonic call in JSON: the answer, or an Error with the server's message.
async function subsonic(method, params = {}, a = account) {
  const query = new URLSearchParams(params).toString();
  let response;
  try {
    response = await fetch(`${SUBSONIC}/${method}?${authQuery(a)}&${CLIENT}&f=json${query ? "&" + query : ""}`);
  } catch (e) {
    throw new Error("The server cannot be reached.");
  }
  if (response.status === 404) throw new Error("This server has no Subsonic API (it is on when users are configured: avalon-express --users FILE).");
  let body = null;
  try { body = (await response.json())["subsonic-response"]; } catch (e) { /* reported below */ }
  if (!response.ok || !body) throw new Error(`The server answered ${response.status} ${response.statusText}.`);
  if (body.status !== "ok") throw new Error(body.error?.message || "The Subsonic API refused the request.");
  return body;
}

const streamURL = (id) => `${SUBSONIC}/stream?id=${encodeURIComponent(id)}&${authQuery()}&${CLIENT}`;

// Covers: `coverArt` from a Subsonic answer when there is one (its id changes
// with the picture), else the album's id. Albums known to have none (a
// Subsonic answer without coverArt, or a picture that did not load) get the
// placeholder without asking again.
const noCover = new Set();
// One size everywhere: one URL per picture, fetched once and cached, and a size
// servers pre-scale (CSS shrinks it to a thumbnail).
const COVER_SIZE = 300;
function cover(albumId, coverArt, size, label = "") {
  const box = el("span", { class: "cover" });
  // Through the style object: the page's Content-Security-Policy refuses style attributes.
  box.style.setProperty("--size", `${size}px`);
  if (!account || !albumId || noCover.has(albumId) || coverArt === null) {
    if (coverArt === null && albumId) noCover.add(albumId);
    return box;
  }
  const img = el("img", { alt: label, width: String(size), height: String(size), loading: "lazy", decoding: "async" });
  img.addEventListener("error", () => { noCover.add(albumId); img.remove(); });
  img.src = `${SUBSONIC}/getCoverArt?id=${encodeURIComponent(coverArt || albumId)}&size=${COVER_SIZE}&${authQuery()}&${CLIENT}`;
  box.append(img);
  return box;
}

// ---- The queue and the audio element.
const audio = $("audio");
const player = { queue: [], index: -1 };

// A song as the queue holds it, from Avalon's API or a Subsonic answer.
const fromAvalon = (s) => ({ id: s.id, title: s.name, artist: s.artist, album: s.album, albumId: s.album_id, length: s.length });
const fromSubsonic = (s) => ({ id: s.id, title: s.title, artist: s.artist, album: s.album, albumId: s.albumId,
                               coverArt: s.coverArt ?? null, length: s.duration });

function play(queue, index = 0) {
  if (!account || queue.length === 0) return;
  player.queue = queue;
  start(index);
}

function start(index) {
  if (index < 0 || index >= player.queue.length) return;
  player.index = index;
  const song = player.queue[index];
  $("player-error").hidden = true;
  audio.src = streamURL(song.id);
  audio.dataset.song = song.id;
  audio.play().catch(() => { /* shown by the error event, or blocked until a key or click */ });
  $("now-title").textContent = song.title || "(no title)";
  $("now-artist").textContent = [song.artist, song.album].filter(Boolean).join(" — ");
  $("now-cover").replaceChildren(cover(song.albumId, song.coverArt, 48, song.album || ""));
  $("now-position").textContent = `${index + 1} of ${player.queue.length}`;
  document.title = `${song.title || "(no title)"} · Avalon`;
  // The system's media keys and its "now playing" (headsets, lock screens).
  if ("mediaSession" in navigator && typeof MediaMetadata === "function") {
    const art = $("now-cover").querySelector("img")?.src;
    navigator.mediaSession.metadata = new MediaMetadata({ title: song.title || "", artist: song.artist || "", album: song.album || "",
                                                          artwork: art ? [{ src: art, sizes: `${COVER_SIZE}x${COVER_SIZE}` }] : [] });
  }
  updateButtons();
}

// Drawn, not characters: fonts without ⏮ ⏸ ⏭ would show boxes.
const ICONS = { play: "M8 5v14l11-7z", pause: "M6 5h4v14H6zm8 0h4v14h-4z", previous: "M6 6h2v12H6zm3.5 6L18 18V6z", next: "M16 6h2v12h-2zM6 18l8.5-6L6 6z" };
function icon(name) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("viewBox", "0 0 24 24");
  svg.setAttribute("aria-hidden", "true");
  const path = document.createElementNS("http://www.w3.org/2000/svg", "path");
  path.setAttribute("d", ICONS[name]);
  svg.append(path);
  return svg;
}
$("previous").replaceChildren(icon("previous"));
$("next").replaceChildren(icon("next"));

function updateButtons() {
  const playing = !audio.paused && !audio.ended;
  const toggle = $("play-pause");
  toggle.replaceChildren(icon(playing ? "pause" : "play"));
  toggle.setAttribute("aria-label", playing ? "Pause" : "Play");
  toggle.disabled = player.index < 0;
  $("previous").disabled = player.index < 0;
  $("next").disabled = player.index < 0 || player.index >= player.queue.length - 1;
}

function togglePlay() {
  if (player.index < 0) return;
  if (audio.paused || audio.ended) audio.play().catch(() => {}); else audio.pause();
}

// Previous restarts a song past its first 3 seconds, as players do.
function previous() {
  if (player.index < 0) return;
  if (audio.currentTime > 3 || player.index === 0) audio.currentTime = 0; else start(player.index - 1);
}
function next() { if (player.index >= 0 && player.index < player.queue.length - 1) start(player.index + 1); }
function seekBy(seconds) {
  if (player.index < 0 || !Number.isFinite(audio.duration)) return;
  audio.currentTime = Math.min(Math.max(0, audio.currentTime + seconds), audio.duration);
}

const clock = (t) => Number.isFinite(t) ? duration(Math.floor(t)) : "0:00";
function showTime() {
  const seek = $("seek");
  const total = Number.isFinite(audio.duration) ? audio.duration : player.queue[player.index]?.length || 0;
  seek.max = String(total || 0);
  if (!seek.matches(":active")) seek.value = String(audio.currentTime);
  seek.setAttribute("aria-valuetext", `${clock(audio.currentTime)} of ${clock(total)}`);
  $("time").textContent = `${clock(audio.currentTime)} / ${clock(total)}`;
}

for (const e of ["play", "pause", "playing", "ended", "emptied"]) audio.addEventListener(e, updateButtons);
for (const e of ["timeupdate", "durationchange", "seeked", "loadedmetadata"]) audio.addEventListener(e, showTime);
audio.addEventListener("ended", next);
audio.addEventListener("error", () => {
  if (!audio.getAttribute("src")) return;
  $("player-error").hidden = false;
  $("player-error").textContent = "This song cannot be played here (its file is gone, or the browser cannot decode it).";
});
$("play-pause").addEventListener("click", togglePlay);
if ("mediaSession" in navigator) {
  const actions = { play: () => audio.play().catch(() => {}), pause: () => audio.pause(), previoustrack: previous, nexttrack: next,
                    seekto: (d) => { if (player.index >= 0) audio.currentTime = d.seekTime; } };
  for (const [action, handler] of Object.entries(actions)) {
    try { navigator.mediaSession.setActionHandler(action, handler); } catch (e) { /* an action this browser lacks */ }
  }
}
$("previous").addEventListener("click", previous);
$("next").addEventListener("click", next);
$("seek").addEventListener("input", (e) => { if (player.index >= 0) audio.currentTime = Number(e.target.value); });
$("volume").addEventListener("input", (e) => {
  audio.volume = Number(e.target.value);
  sessionStorage.setItem("avalon-volume", e.target.value);
});
{
  const v = Number(sessionStorage.getItem("avalon-volume") ?? "1");
  audio.volume = Number.isFinite(v) ? Math.min(Math.max(v, 0), 1) : 1;
  $("volume").value = String(audio.volume);
}

// Keys, when no text field, slider, button or link has the focus (those keep
// their own Space and arrows): Space plays or pauses,
// ←/→ seek 10 seconds, Shift+←/→ go to the previous/next song.
document.addEventListener("keydown", (e) => {
  if (!account || e.ctrlKey || e.altKey || e.metaKey || e.defaultPrevented) return;
  const t = e.target;
  if (t.closest?.("input, textarea, select, button, a, [contenteditable]")) return;
  if (e.key === " ") togglePlay();
  else if (e.key === "ArrowLeft") e.shiftKey ? previous() : seekBy(-10);
  else if (e.key === "ArrowRight") e.shiftKey ? next() : seekBy(10);
  else return;
  e.preventDefault();
});

// ---- Signing in and out.
function showAccount() {
  const on = account !== null;
  document.body.classList.toggle("signed-in", on);
  $("player").hidden = !on;
  $("sign-in-open").hidden = on;
  $("account").hidden = !on;
  $("account-name").textContent = on ? (account.key ? "Signed in with an API key" : `Signed in as ${account.user}`) : "";
  if (!on) {
    audio.pause();
    audio.removeAttribute("src");
    audio.load();
    player.queue = []; player.index = -1;
    updateButtons();
  }
}

$("sign-in-open").addEventListener("click", () => {
  $("sign-in").hidden = false;
  $("sign-in-user").focus();
});
$("sign-in-cancel").addEventListener("click", () => { $("sign-in").hidden = true; $("sign-in-error").hidden = true; });
$("sign-in").addEventListener("submit", async (e) => {
  e.preventDefault();
  const user = $("sign-in-user").value, password = $("sign-in-password").value, key = $("sign-in-key").value.trim();
  const problem = $("sign-in-error");
  let candidate;
  if (key) candidate = { key };
  else if (user && password) {
    const salt = [...crypto.getRandomValues(new Uint8Array(12))].map((x) => x.toString(16).padStart(2, "0")).join("");
    candidate = { user, salt, token: md5(new TextEncoder().encode(password + salt)) };
  } else {
    problem.hidden = false;
    problem.textContent = "Give a user name and its password, or an API key.";
    return;
  }
  problem.hidden = true;
  $("sign-in-submit").disabled = true;
  try {
    await subsonic("ping", {}, candidate);
    account = candidate;
    sessionStorage.setItem(STORED, JSON.stringify(account));
    $("sign-in").reset();
    $("sign-in").hidden = true;
    showAccount();
    route();
  } catch (error) {
    problem.hidden = false;
    problem.textContent = error.message;
  } finally {
    $("sign-in-submit").disabled = false;
    $("sign-in-password").value = "";
  }
});
$("sign-out").addEventListener("click", () => {
  account = null;
  sessionStorage.removeItem(STORED);
  noCover.clear();
  document.title = "Avalon";
  showAccount();
  route();
});

// What app.js asks of the player: a play button for a list of songs, or nothing when signed out.
function playButton(label, songs, index = 0, text = "▶", extra = "") {
  if (!account) return "";
  return el("button", { type: "button", class: `play ${extra}`.trim(), "aria-label": label,
                        onclick: async () => play(typeof songs === "function" ? await songs() : songs, index) }, text);
}

showAccount();
updateButtons();
