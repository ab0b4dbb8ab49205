// The clip editor of /review/sources/{id}: player, source timeline, filmstrip,
// frame-accurate edits through the JSON API, play-all, live updates (SSE).
// Times are seconds on the source's timeline unless a name says "clip".

const $ = (id) => document.getElementById(id);
const sourceId = Number(document.body.dataset.sourceId);
const EPSILON = 1e-6;

const state = {
  source: null,
  frames: [], // start time of every frame on the source, ascending
  clips: [],
  current: 0, // index into clips
  shownMediaTime: 0, // clip time of the frame on screen (requestVideoFrameCallback)
  undo: [], // inverse edits, newest last
  busy: false,
  playAll: false,
};

// Exposed for the browser tests: what the page did, measured where it happened.
const stats = { gaps: [] }; // ms from a clip's last frame to the next clip's first, in play all
window.reviewStats = stats;

// -- messages ----------------------------------------------------------------

function say(text, kind = "info") {
  const box = $("message");
  box.textContent = text;
  box.className = kind;
  box.setAttribute("role", kind === "error" ? "alert" : "status");
}

class ApiError extends Error {}

async function api(path, options = {}) {
  let response;
  try {
    response = await fetch(path, options);
  } catch {
    throw new ApiError("the server could not be reached: check the connection and try again");
  }
  let body = null;
  try {
    body = await response.json();
  } catch {
    body = null;
  }
  if (!response.ok) {
    const reason = (body && body.error) || response.statusText;
    if (response.status === 429) {
      const retry = response.headers.get("Retry-After") || "a few";
      throw new ApiError(`the server is busy (${reason}): try again in ${retry} s`);
    }
    if (response.status === 401) throw new ApiError(`not allowed: ${reason} (set the admin token)`);
    if (response.status === 409) throw new ApiError(`conflict: ${reason}`);
    if (response.status === 422) throw new ApiError(`refused: ${reason}`);
    throw new ApiError(`${response.status}: ${reason}`);
  }
  return body;
}

// -- frames ------------------------------------------------------------------

function frameIndex(t) {
  // The frame shown at source time t: the last frame starting at or before it.
  const f = state.frames;
  let lo = 0;
  let hi = f.length - 1;
  if (!f.length || t < f[0]) return 0;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (f[mid] <= t + EPSILON) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

function frameInterval() {
  const f = state.frames;
  return f.length > 1 ? (f[f.length - 1] - f[0]) / (f.length - 1) : 1 / 30;
}

function clip() {
  return state.clips[state.current];
}

function player() {
  return $("player-a");
}

function shownTime() {
  // Source time of the frame on screen, snapped to its exact start.
  const c = clip();
  return state.frames[frameIndex(c.start + state.shownMediaTime)];
}

// -- rendering ---------------------------------------------------------------

function fmt(t) {
  return t.toFixed(3);
}

function describeCut(c) {
  if (c.cut === "smart") return `smart: re-encodes ${c.reencoded_s.toFixed(2)} s, copies the rest`;
  if (c.cut === "copied") return "copied (starts on a keyframe)";
  if (c.cut === "editlist") return "copied + edit list";
  return "–";
}

function render() {
  renderTimeline();
  renderFilmstrip();
  renderTable();
  renderNow();
  $("undo").disabled = state.undo.length === 0 || state.busy;
}

function renderTimeline() {
  const timeline = $("timeline");
  const playhead = $("playhead");
  timeline.replaceChildren(playhead);
  const total = state.source.duration;
  state.clips.forEach((c, i) => {
    const segment = document.createElement("button");
    segment.className = "segment" + (i === state.current ? " current" : "");
    segment.style.flexGrow = String((c.end - c.start) / total);
    segment.setAttribute("aria-label", `clip ${c.id}: ${fmt(c.start)} to ${fmt(c.end)} s`);
    segment.setAttribute("aria-current", i === state.current ? "true" : "false");
    segment.dataset.clipId = c.id;
    segment.addEventListener("click", () => select(i));
    timeline.append(segment);
  });
  movePlayhead();
}

function movePlayhead() {
  const c = clip();
  if (!c) return;
  const at = (c.start + state.shownMediaTime) / state.source.duration;
  $("playhead").style.left = `${(100 * Math.min(1, Math.max(0, at))).toFixed(3)}%`;
}

function renderFilmstrip() {
  const strip = $("filmstrip");
  strip.replaceChildren();
  state.clips.forEach((c, i) => {
    const item = document.createElement("li");
    const button = document.createElement("button");
    button.className = i === state.current ? "current" : "";
    button.setAttribute("aria-label", `play clip ${c.id}`);
    const img = document.createElement("img");
    img.loading = "lazy";
    img.alt = "";
    img.src = c.thumbnail;
    img.width = 160;
    img.height = Math.round((160 * state.source.display_height) / state.source.display_width);
    const caption = document.createElement("span");
    caption.textContent = `${fmt(c.start)} s`;
    button.append(img, caption);
    button.addEventListener("click", () => select(i));
    item.append(button);
    strip.append(item);
  });
}

function renderTable() {
  const body = $("clips");
  body.replaceChildren();
  state.clips.forEach((c, i) => {
    const row = document.createElement("tr");
    row.dataset.clipId = c.id;
    if (i === state.current) row.className = "current";
    const link = document.createElement("a");
    link.href = c.url;
    link.textContent = `#${c.id}`;
    link.addEventListener("click", (event) => {
      event.preventDefault();
      select(i);
    });
    const cells = [link, `${fmt(c.start)} – ${fmt(c.end)}`, `${fmt(c.end - c.start)} s`,
      c.frames === null ? "–" : String(c.frames), `v${c.version}`, describeCut(c)];
    for (const value of cells) {
      const cell = document.createElement("td");
      cell.append(value);
      row.append(cell);
    }
    body.append(row);
  });
}

function renderNow() {
  const c = clip();
  if (!c) return;
  $("clip-label").textContent = `clip #${c.id} v${c.version}`;
  $("clip-time").textContent = fmt(state.shownMediaTime);
  $("clip-length").textContent = fmt(c.end - c.start);
  $("source-time").textContent = fmt(shownTime());
  $("frame-label").textContent = String(frameIndex(shownTime()) - frameIndex(c.start) + 1);
  movePlayhead();
}

// -- the player ----------------------------------------------------------------

const FRAME_CALLBACKS = "requestVideoFrameCallback" in HTMLVideoElement.prototype;

function watchFrames(video) {
  if (!FRAME_CALLBACKS) {
    // Older browsers: the element's time is the best guess of the frame shown.
    const update = () => {
      if (video === player() && !video.seeking) {
        state.shownMediaTime = video.currentTime;
        renderNow();
      }
    };
    for (const name of ["timeupdate", "seeked"]) video.addEventListener(name, update);
    return;
  }
  const onFrame = (_now, metadata) => {
    // While a seek is under way the frame on screen is an old one, and step()
    // has already set where it goes: a late callback must not undo that.
    if (video === player() && !video.seeking) {
      state.shownMediaTime = metadata.mediaTime;
      renderNow();
    }
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

function load(video, c, clipTime = 0) {
  // Resolves once the frame at clipTime is decoded and shown.
  return new Promise((resolve, reject) => {
    const done = () => {
      video.removeEventListener("error", fail);
      resolve();
    };
    const fail = () => reject(new ApiError(`clip #${c.id} could not be played`));
    video.addEventListener("error", fail, { once: true });
    const seekTo = () => {
      video.addEventListener("seeked", done, { once: true });
      video.currentTime = clipTime;
    };
    if (video.dataset.url === c.url && video.readyState >= 1) {
      seekTo();
      return;
    }
    video.dataset.url = c.url;
    video.src = c.url;
    video.addEventListener("loadedmetadata", seekTo, { once: true });
  });
}

async function show(index, clipTime = 0) {
  state.current = Math.max(0, Math.min(state.clips.length - 1, index));
  const c = clip();
  state.shownMediaTime = clipTime;
  render();
  try {
    await load(player(), c, seekTarget(c, clipTime));
  } catch (error) {
    say(error.message, "error");
  }
}

function seekTarget(c, clipTime) {
  // Seek into the middle of the frame: an exact frame start may round to the
  // frame before it, and players show the frame whose interval holds the time.
  const i = frameIndex(c.start + clipTime);
  const start = state.frames[i];
  const next = i + 1 < state.frames.length ? state.frames[i + 1] : c.end;
  return Math.max(0, (start + next) / 2 - c.start);
}

function select(index) {
  stopPlayAll();
  player().pause();
  return show(index, 0);
}

function step(frames) {
  const c = clip();
  const video = player();
  video.pause();
  const target = frameIndex(shownTime()) + frames;
  const first = frameIndex(c.start);
  const last = frameIndex(c.end - EPSILON);
  const i = Math.max(first, Math.min(last, target));
  state.shownMediaTime = state.frames[i] - c.start;
  video.currentTime = seekTarget(c, state.shownMediaTime);
  renderNow();
}

function stepSeconds(seconds) {
  const c = clip();
  const t = Math.max(c.start, Math.min(c.end - EPSILON, shownTime() + seconds));
  step(frameIndex(t) - frameIndex(shownTime()));
}

function togglePlay() {
  const video = player();
  if (video.paused) video.play().catch((e) => say(`cannot play: ${e.message}`, "error"));
  else video.pause();
}

// -- play all: two players, the next clip preloaded in the hidden one ----------

let playAllRuns = 0;

function stopPlayAll() {
  state.playAll = false;
  $("play-all").setAttribute("aria-pressed", "false");
  $("player-b").pause();
}

async function playAll() {
  if (state.playAll) {
    stopPlayAll();
    player().pause();
    return;
  }
  state.playAll = true;
  const run = ++playAllRuns;
  $("play-all").setAttribute("aria-pressed", "true");
  let front = $("player-a");
  let back = $("player-b");
  let index = state.current;
  const preload = () => {
    const next = state.clips[index + 1];
    if (next) load(back, next, 0).catch((e) => say(e.message, "error"));
  };
  const swap = (lastShownAt) => {
    // The preloaded clip already shows its first frame (hidden): reveal it one
    // frame interval after the current clip's last frame, then let it play.
    if (!state.playAll || run !== playAllRuns) return;
    back.hidden = false;
    back.removeAttribute("aria-hidden");
    front.hidden = true;
    front.setAttribute("aria-hidden", "true");
    front.pause();
    back.play().catch((e) => say(`cannot play: ${e.message}`, "error"));
    requestAnimationFrame((paintedAt) => stats.gaps.push(paintedAt - lastShownAt));
    [front, back] = [back, front];
    front.id = "player-a";
    back.id = "player-b";
    index += 1;
    state.current = index;
    render();
    preload();
  };
  const watch = (video) => {
    let handedOver = -1; // the clip index this player last handed over from
    const onFrame = (now, metadata) => {
      if (!state.playAll || run !== playAllRuns) return; // this run is over
      if (video === front && handedOver !== index) {
        const length = state.clips[index].end - state.clips[index].start;
        if (metadata.mediaTime >= length - 1.5 * frameInterval()) { // the last frame
          handedOver = index;
          const shownAt = metadata.expectedDisplayTime || now;
          if (!state.clips[index + 1]) {
            video.addEventListener("ended", stopPlayAll, { once: true });
          } else {
            const due = shownAt + 1000 * frameInterval() - performance.now();
            setTimeout(() => swap(shownAt), Math.max(0, due - 4));
          }
        }
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  };
  try {
    await load(front, state.clips[index], 0);
  } catch (error) {
    say(error.message, "error");
    stopPlayAll();
    return;
  }
  preload();
  if (FRAME_CALLBACKS) {
    watch(front);
    watch(back);
  } else {
    // Without frame callbacks: switch when a clip ends (a short gap may show).
    const onEnded = (event) => {
      if (!state.playAll || run !== playAllRuns) return;
      if (event.target === front && state.clips[index + 1]) swap(performance.now());
      else if (event.target === front) stopPlayAll();
    };
    front.addEventListener("ended", onEnded);
    back.addEventListener("ended", onEnded);
  }
  await front.play().catch((e) => say(`cannot play: ${e.message}`, "error"));
}

// -- editing -------------------------------------------------------------------

function headers() {
  const h = { "Content-Type": "application/json" };
  const token = $("token").value;
  if (token) h.Authorization = `Bearer ${token}`;
  return h;
}

async function post(clipId, action, at) {
  const body = at === undefined ? {} : { at: Number(at.toFixed(6)) };
  return api(`/api/clips/${clipId}/${action}`,
    { method: "POST", headers: headers(), body: JSON.stringify(body) });
}

async function edit(description, action, clipId, at, inverse, focus) {
  // One edit through the API; on success the page shows the new versions at
  // once and remembers how to undo it. A refused edit changes nothing on screen.
  if (state.busy) return;
  state.busy = true;
  stopPlayAll();
  player().pause();
  try {
    const result = await post(clipId, action, at);
    if (inverse) state.undo.push(inverse(result));
    await refresh(focus(result));
    say(`${description}: done`);
  } catch (error) {
    say(`${description}: ${error.message}`, "error");
  } finally {
    state.busy = false;
    render();
  }
}

async function refresh(target) {
  // Reload the clips; show `target` ({id, clipTime}) or keep the current clip.
  const previous = clip();
  state.clips = await api(`/api/sources/${sourceId}/clips`);
  const wanted = target || (previous && { id: previous.id, clipTime: state.shownMediaTime });
  let index = wanted ? state.clips.findIndex((c) => c.id === wanted.id) : 0;
  let clipTime = wanted ? wanted.clipTime : 0;
  if (index < 0) {
    index = Math.max(0, state.clips.findIndex((c) => c.end > (previous ? previous.start : 0)));
    clipTime = 0;
  }
  const c = state.clips[index];
  await show(index, Math.max(0, Math.min(c.end - c.start - frameInterval() / 2, clipTime)));
}

function split() {
  const c = clip();
  const at = shownTime();
  if (at <= c.start + EPSILON) {
    say("split: the frame on screen is already the clip's first", "error");
    return;
  }
  edit(`split clip ${c.id} at ${fmt(at)} s`, "split", c.id, at,
    () => ({ action: "merge", clipId: c.id, label: `merge clip ${c.id} back` }),
    (result) => {
      const fresh = result.changed.find((x) => x.id !== c.id);
      return { id: fresh.id, clipTime: 0 };
    });
}

function moveCut(ownerId, at, label, focus) {
  const owner = state.clips.find((x) => x.id === ownerId);
  const old = owner.end;
  edit(label, "move-cut", ownerId, at,
    () => ({ action: "move-cut", clipId: ownerId, at: old, label: `move the cut back to ${fmt(old)} s` }),
    () => focus);
}

function moveEnd(deltaFrames, deltaSeconds) {
  const c = clip();
  if (state.current === state.clips.length - 1) {
    say("the last clip ends with the source: there is no cut after it", "error");
    return;
  }
  let i = frameIndex(c.end) + deltaFrames;
  if (deltaSeconds) i = frameIndex(c.end + deltaSeconds);
  const at = state.frames[Math.max(0, Math.min(state.frames.length - 1, i))];
  moveCut(c.id, at, `move the end of clip ${c.id} to ${fmt(at)} s`,
    { id: c.id, clipTime: state.shownMediaTime });
}

function setStart() {
  const c = clip();
  const previous = state.clips[state.current - 1];
  if (!previous) {
    say("the first clip starts with the source: there is no cut before it", "error");
    return;
  }
  const at = shownTime();
  moveCut(previous.id, at, `start clip ${c.id} at ${fmt(at)} s`, { id: c.id, clipTime: 0 });
}

function setEnd() {
  const c = clip();
  if (state.current === state.clips.length - 1) {
    say("the last clip ends with the source: there is no cut after it", "error");
    return;
  }
  const i = frameIndex(shownTime()) + 1; // the shown frame stays in this clip: cut after it
  const at = i < state.frames.length ? state.frames[i] : c.end;
  moveCut(c.id, at, `end clip ${c.id} after ${fmt(shownTime())} s`,
    { id: c.id, clipTime: state.shownMediaTime });
}

function merge() {
  const c = clip();
  const next = state.clips[state.current + 1];
  if (!next) {
    say("merge: the last clip has no next clip", "error");
    return;
  }
  const boundary = c.end;
  edit(`merge clip ${c.id} with clip ${next.id}`, "merge", c.id, undefined,
    () => ({ action: "split", clipId: c.id, at: boundary, label: `split clip ${c.id} again` }),
    () => ({ id: c.id, clipTime: state.shownMediaTime }));
}

function undo() {
  const last = state.undo.pop();
  if (!last) return;
  const focus = () => ({ id: last.clipId, clipTime: 0 });
  edit(`undo: ${last.label}`, last.action, last.clipId, last.at, null, focus).then(() => {
    render();
  });
}

// -- live updates from other reviewers -----------------------------------------

function listen() {
  const events = new EventSource(`/api/sources/${sourceId}/events`);
  let connected = false;
  events.addEventListener("ready", () => {
    // A reconnection (server restart, another replica) may have missed edits.
    if (connected) followOthers();
    connected = true;
  });
  events.addEventListener("clips", followOthers);
  events.addEventListener("error", () => {
    // EventSource reconnects by itself; say so only while it is down.
    if (events.readyState === EventSource.CONNECTING) say("live updates paused: reconnecting…", "info");
  });
}

async function followOthers() {
  // Another reviewer (or the CLI) changed this source: catch up, say what changed.
  if (state.busy) return; // our own edit: refresh() follows it anyway
  const before = clip();
  const clips = await api(`/api/sources/${sourceId}/clips`).catch(() => null);
  if (!clips) return;
  const after = clips.find((c) => c.id === before.id);
  const same = after && after.version === before.version;
  const unchanged = same && clips.length === state.clips.length
    && clips.every((c, i) => c.version === state.clips[i].version && c.id === state.clips[i].id);
  if (unchanged) return;
  state.clips = clips;
  if (same) {
    render();
    say("another reviewer edited this source: the list is up to date", "notice");
    return;
  }
  const index = after ? clips.indexOf(after) : Math.max(0, clips.findIndex((c) => c.end > before.start));
  const keep = after && after.start === before.start ? state.shownMediaTime : 0;
  say(after
    ? `clip #${before.id} was changed by another reviewer: now showing v${after.version}`
    : `clip #${before.id} was merged away by another reviewer`, "notice");
  await show(index, keep);
}

// -- keyboard ------------------------------------------------------------------

const keys = {
  " ": togglePlay,
  j: () => select(state.current - 1),
  k: () => select(state.current + 1),
  ArrowLeft: () => step(-1),
  ArrowRight: () => step(1),
  "shift+ArrowLeft": () => stepSeconds(-1),
  "shift+ArrowRight": () => stepSeconds(1),
  s: split,
  m: merge,
  "[": setStart,
  "]": setEnd,
  z: undo,
  "?": () => $("help").showModal(),
};

function onKey(event) {
  if (event.target.closest("input, textarea, select") || event.ctrlKey || event.metaKey || event.altKey) return;
  if (event.target.closest("button") && (event.key === " " || event.key === "Enter")) return;
  const name = event.key.length === 1 ? event.key.toLowerCase() : event.key;
  const action = keys[(event.shiftKey && name.startsWith("Arrow") ? "shift+" : "") + name]
    || keys[event.key];
  if (!action || $("help").open) return;
  event.preventDefault();
  action();
}

// -- start -----------------------------------------------------------------------

function wire() {
  const buttons = {
    "prev-clip": () => select(state.current - 1),
    "next-clip": () => select(state.current + 1),
    "back-frame": () => step(-1),
    "next-frame": () => step(1),
    "back-second": () => stepSeconds(-1),
    "next-second": () => stepSeconds(1),
    play: togglePlay,
    "play-all": playAll,
    split,
    merge,
    undo,
    "set-start": setStart,
    "set-end": setEnd,
    "end-minus-frame": () => moveEnd(-1, 0),
    "end-plus-frame": () => moveEnd(1, 0),
    "end-minus-second": () => moveEnd(0, -1),
    "end-plus-second": () => moveEnd(0, 1),
    "help-button": () => $("help").showModal(),
  };
  for (const [id, action] of Object.entries(buttons)) $(id).addEventListener("click", action);
  document.addEventListener("keydown", onKey);
  for (const video of [$("player-a"), $("player-b")]) {
    watchFrames(video);
    video.addEventListener("play", () => { if (video === player()) $("play").textContent = "Pause"; });
    video.addEventListener("pause", () => { if (video === player()) $("play").textContent = "Play"; });
  }
}

async function start() {
  wire();
  try {
    const [source, frames, clips] = await Promise.all([
      api(`/api/sources/${sourceId}`),
      api(`/api/sources/${sourceId}/frames`).catch((error) => error),
      api(`/api/sources/${sourceId}/clips`),
    ]);
    state.source = source;
    if (frames instanceof Error) {
      // Without the index's frame times, steps and cuts assume a constant rate.
      const step = source.duration / source.frame_count;
      state.frames = Array.from({ length: source.frame_count }, (_, i) => i * step);
      say(`frame times unavailable (${frames.message}): frame steps are approximate`, "notice");
    } else {
      state.frames = frames.times;
    }
    state.clips = clips;
    $("source-facts").textContent = `${source.duration.toFixed(2)} s · ${clips.length} clips · `
      + `${source.display_width}×${source.display_height} ${source.video_codec} · `
      + `${state.frames.length} frames`;
    await show(0, 0);
    listen();
    document.body.dataset.ready = "1";
  } catch (error) {
    say(error.message, "error");
  }
}

start();
