// Avalon's page: plain JavaScript over the public JSON API, no build step.
"use strict";

const API = (document.querySelector('meta[name="avalon-api"]')?.content || "/avalon").replace(/\/$/, "");
const PAGE = 50;
// "Play all" queues at most this many songs.
const PLAY_ALL = 1000;
const $ = (id) => document.getElementById(id);

// One request to the API: the `success` list, or an Error with the API's message.
async function api(path, params = {}) {
  const query = new URLSearchParams(Object.entries(params).filter(([, v]) => v !== undefined && v !== "")).toString();
  let response;
  try {
    response = await fetch(`${API}/${path}${query ? "?" + query : ""}`, { headers: { Accept: "application/json" } });
  } catch (e) {
    throw new Error("The server cannot be reached.");
  }
  let body = null;
  try { body = await response.json(); } catch (e) { /* not JSON: reported below */ }
  if (!response.ok || !body || !Array.isArray(body.success)) {
    const message = body?.errors?.[0]?.message || `The server answered ${response.status} ${response.statusText}.`;
    throw new Error(message);
  }
  return body.success;
}

function showError(e) {
  const box = $("error");
  if (!e) { box.hidden = true; box.textContent = ""; return; }
  box.hidden = false;
  box.textContent = e.message || String(e);
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "class") node.className = v; else if (k.startsWith("on")) node.addEventListener(k.slice(2), v); else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}

const duration = (s) => `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;

// `withCover`: albums, which show their cover when signed in (player.js).
function chips(list, items, href, withCover = false) {
  list.replaceChildren(...items.map((i) => el("li", {}, el("a", { href: href(i) },
    withCover && account ? cover(i.id, i.coverArt, 24) : "", i.name || "(no name)"))));
  if (items.length === 0) list.replaceChildren(el("li", { class: "empty" }, "none"));
}

// A sortable, paged table of songs: `params` filter them; sorting and paging
// ask the server again (the API orders and pages).
function songTable(container, params, { sortable = true, initialOrder = "name", playAll = true } = {}) {
  const columns = [["name", "Title"], ["artist", "Artist"], ["album", "Album"], ["genre", "Genre"],
                   ["year", "Year", true], ["track", "Track", true], ["length", "Length", true]];
  const state = { order: initialOrder, direction: "asc", offset: 0, token: 0 };
  const status = el("p", { class: "status", "aria-live": "polite" });
  const prev = el("button", { type: "button", onclick: () => { state.offset = Math.max(0, state.offset - PAGE); load(); } }, "← Previous");
  const next = el("button", { type: "button", onclick: () => { state.offset += PAGE; load(); } }, "Next →");
  const range = el("span");
  const head = el("tr", {}, ...columns.map(([field, label, num]) => {
    const th = el("th", { scope: "col", class: `col-${field}${num ? " num" : ""}` });
    th.dataset.field = field;
    th.append(sortable ? el("button", { type: "button", onclick: () => sortBy(field) }, label) : label);
    return th;
  }));
  // Signed in: a play column (this page from that song on) and "Play all" (every match, in this order).
  if (account) head.prepend(el("th", { scope: "col", class: "play-cell" }, el("span", { class: "visually-hidden" }, "Play")));
  const all = !playAll ? "" : playButton("Play all these songs in this order", async () => {
    const songs = await api("songs", { ...params, order: state.order, direction: state.direction, limit: PLAY_ALL });
    return songs.map(fromAvalon);
  }, 0, "▶ Play all", "play-all");
  const body = el("tbody");
  const table = el("table", { "aria-label": "Songs" }, el("thead", {}, head), body);
  container.replaceChildren(all, status, table, el("div", { class: "pager" }, prev, range, next));

  function sortBy(field) {
    state.direction = state.order === field && state.direction === "asc" ? "desc" : "asc";
    state.order = field;
    state.offset = 0;
    load();
  }

  async function load() {
    const token = ++state.token;
    status.textContent = "Loading…";
    for (const th of head.querySelectorAll("th[data-field]")) {
      th.setAttribute("aria-sort", th.dataset.field === state.order ? (state.direction === "asc" ? "ascending" : "descending") : "none");
    }
    try {
      // One more than a page tells whether there is a next one.
      const songs = await api("songs", { ...params, order: state.order, direction: state.direction, offset: state.offset, limit: PAGE + 1 });
      if (token !== state.token) return;  // a newer request is on its way
      const page = songs.slice(0, PAGE);
      const queue = page.map(fromAvalon);
      body.replaceChildren(...page.map((s, i) => el("tr", {},
        account ? el("td", { class: "play-cell" }, playButton(`Play ${s.name}`, queue, i), cover(s.album_id, undefined, 28)) : "",
        el("td", {}, s.name),
        el("td", {}, el("a", { href: `#/artist/${s.artist_id}` }, s.artist)),
        el("td", {}, el("a", { href: `#/album/${s.album_id}` }, s.album)),
        el("td", { class: "col-genre" }, el("a", { href: `#/genre/${s.genre_id}` }, s.genre)),
        el("td", { class: "num" }, s.year ? String(s.year) : ""),
        el("td", { class: "col-track num" }, s.track ? String(s.track) : ""),
        el("td", { class: "num" }, duration(s.length)))));
      status.textContent = page.length === 0 ? "No songs." : "";
      range.textContent = page.length ? `${state.offset + 1}–${state.offset + page.length}` : "";
      prev.disabled = state.offset === 0;
      next.disabled = songs.length <= PAGE;
      table.hidden = page.length === 0;
      showError(null);
    } catch (e) {
      if (token !== state.token) return;
      status.textContent = "";
      showError(e);
    }
  }
  load();
}

async function showCounts() {
  try {
    const response = await fetch(`${API}/health_check?checks=collection`);
    const r = (await response.json())?.successes?.collection?.result;
    if (!r) throw new Error();
    const n = (x) => Number(x).toLocaleString();
    $("counts").textContent = `${n(r.songs)} songs · ${n(r.albums)} albums · ${n(r.artists)} artists · ${n(r.genres)} genres`;
    if (r.songs === 0) showError(new Error("The collection is empty: scan a music folder (avalon-scan PATH) and the server picks it up."));
  } catch (e) {
    $("counts").textContent = "";
  }
}

// Search as you type: the four lists at once, the latest query wins.
let searchToken = 0;
async function search(q) {
  const token = ++searchToken;
  const results = $("search-results");
  if (!q.trim()) { results.hidden = true; $("search-status").textContent = ""; return; }
  $("search-status").textContent = "Searching…";
  try {
    const [artists, albums, genres] = await Promise.all(["artists", "albums", "genres"].map((k) => api(k, { query: q, order: "name", limit: 30 })));
    if (token !== searchToken) return;
    chips($("artist-results"), artists, (a) => `#/artist/${a.id}`);
    chips($("album-results"), albums, (a) => `#/album/${a.id}`, true);
    chips($("genre-results"), genres, (g) => `#/genre/${g.id}`);
    songTable($("song-results"), { query: q });
    results.hidden = false;
    $("search-status").textContent = "";
    showError(null);
  } catch (e) {
    if (token !== searchToken) return;
    $("search-status").textContent = "";
    showError(e);
  }
}

let typing = null;
$("search").addEventListener("input", (e) => {
  clearTimeout(typing);
  const q = e.target.value;
  typing = setTimeout(() => {
    history.replaceState(null, "", q ? `#/?q=${encodeURIComponent(q)}` : "#/");
    search(q);
  }, 150);
});

function view(name) {
  $("search-view").hidden = name !== "search";
  $("list-view").hidden = name !== "list";
}

// A list page: a title, optional chips, optional songs.
async function listPage(title, load) {
  view("list");
  $("list-title").textContent = title;
  $("list-items").replaceChildren();
  $("list-songs").replaceChildren();
  $("list-status").textContent = "Loading…";
  try {
    await load();
    $("list-status").textContent = "";
    showError(null);
  } catch (e) {
    $("list-status").textContent = "";
    showError(e);
  }
}

async function named(kind, id) {
  const items = await api(kind, {});
  return items.find((i) => i.id === id);
}

const routes = [
  [/^#?\/?(?:\?q=(.*))?$/, (q) => {
    view("search");
    const input = $("search");
    const text = q ? decodeURIComponent(q) : "";
    if (input.value !== text) input.value = text;
    search(text);
    input.focus();
  }],
  [/^#\/artists$/, () => listPage("Artists", async () => chips($("list-items"), await api("artists", { order: "name" }), (a) => `#/artist/${a.id}`))],
  [/^#\/genres$/, () => listPage("Genres", async () => chips($("list-items"), await api("genres", { order: "name" }), (g) => `#/genre/${g.id}`))],
  [/^#\/years$/, () => listPage("Years", async () => {
    const years = await api("years", { order: "year", direction: "desc" });
    $("list-items").replaceChildren(...years.map((y) => el("li", { class: "year" },
      `${y.year > 0 ? y.year : "No year"} · ${y.songs.toLocaleString()} ${y.songs === 1 ? "song" : "songs"}`)));
    if (years.length === 0) $("list-items").replaceChildren(el("li", { class: "empty" }, "none"));
  })],
  [/^#\/songs$/, () => listPage("All songs", async () => songTable($("list-songs"), {}))],
  [/^#\/artist\/([0-9a-f-]+)$/, (id) => listPage("Artist", async () => {
    const songs = await api("songs", { artist_id: id, order: "album" });
    $("list-title").textContent = songs[0]?.artist || (await named("artists", id))?.name || "Unknown artist";
    // The artist's albums, from their songs.
    const albums = [...new Map(songs.map((s) => [s.album_id, { id: s.album_id, name: s.album }])).values()];
    chips($("list-items"), albums, (a) => `#/album/${a.id}`, true);
    songTable($("list-songs"), { artist_id: id }, { initialOrder: "album" });
  })],
  [/^#\/album\/([0-9a-f-]+)$/, (id) => listPage("Album", async () => {
    const songs = await api("songs", { album_id: id, limit: 1 });
    $("list-title").textContent = songs[0] ? `${songs[0].album} — ${songs[0].artist}` : (await named("albums", id))?.name || "Unknown album";
    if (account) {
      // Signed in: the album as Subsonic gives it (its cover, its songs in disc and track order).
      const album = (await subsonic("getAlbum", { id })).album;
      const queue = (album.song || []).map(fromSubsonic);
      $("list-items").replaceChildren(el("li", { class: "album-head" }, cover(id, album.coverArt ?? null, 160, album.name || ""),
        playButton(`Play the album ${album.name || ""}`, queue, 0, "▶ Play album", "play-all")));
    }
    // (Signed in, "Play album" above plays it: no second "Play all".)
    songTable($("list-songs"), { album_id: id }, { initialOrder: "track", playAll: false });
  })],
  [/^#\/genre\/([0-9a-f-]+)$/, (id) => listPage("Genre", async () => {
    const genre = await named("genres", id);
    $("list-title").textContent = genre ? `Genre: ${genre.name || "(no name)"}` : "Unknown genre";
    songTable($("list-songs"), { genre_id: id }, { initialOrder: "artist" });
  })],
];

function route() {
  const hash = location.hash || "#/";
  for (const a of document.querySelectorAll("nav a")) {
    a.toggleAttribute("aria-current", hash === a.getAttribute("href") || (a.getAttribute("href") === "#/" && hash.startsWith("#/?")));
    if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
  }
  for (const [pattern, show] of routes) {
    const m = hash.match(pattern);
    if (m) { show(...m.slice(1)); return; }
  }
  showError(new Error(`No such page: ${hash}`));
}

window.addEventListener("hashchange", route);
$("version-link").href = `${API}/version`;
// After player.js (loaded next), whose buttons the pages use.
document.addEventListener("DOMContentLoaded", () => { showCounts(); route(); });
