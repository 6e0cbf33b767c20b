/* The rating page: player, waveform, transcript in sync, keyboard scoring, events in time and autosave.
 *
 * Nothing a rater enters is lost: every change is written to this browser's
 * localStorage at once, then saved to the server (debounced, one request at a
 * time, retried with back-off while offline or logged out). A draft that the
 * server has not acknowledged is restored on reload and saved again. Events
 * (markers placed in time) are part of the responses ("events") and go the
 * same way.
 */
(function () {
  "use strict";
  var data = JSON.parse(document.getElementById("rating-data").textContent);
  var csrf = document.querySelector('meta[name="csrf-token"]').content;
  var root = document.getElementById("rate");
  var audio = document.getElementById("audio");
  var canvas = document.getElementById("waveform");
  var playBtn = document.getElementById("play");
  var clockEl = document.getElementById("clock");
  var speedEl = document.getElementById("speed");
  var followEl = document.getElementById("follow");
  var loopBtn = document.getElementById("loop");
  var selectionEl = document.getElementById("selection");
  var transcriptEl = document.getElementById("transcript");
  var form = document.getElementById("rating-form");
  form.addEventListener("submit", function (ev) { ev.preventDefault(); });  // saving is the script's job
  var notesEl = document.getElementById("notes");
  var stateEl = document.getElementById("save-state");
  var problemsEl = document.getElementById("problems");
  var submitBtn = document.getElementById("submit");
  var submitNextBtn = document.getElementById("submit-next");
  var nextLink = document.getElementById("next");
  var helpEl = document.getElementById("help");
  var helpBtn = document.getElementById("help-toggle");
  var confirmDialog = document.getElementById("confirm-submit");
  var confirmSetting = document.getElementById("confirm-setting");

  var SAVE_DELAY_MS = 800;
  var SPEEDS = [0.75, 1, 1.25, 1.5, 1.75, 2];
  var STEP = 0.5;  // seconds an event's start or end moves per key
  var duration = data.duration;
  var storageKey = "coder:draft:" + data.user + ":" + data.assignment;
  var placeKey = "coder:place:" + data.user + ":" + data.assignment;  // playback position, transcript scroll
  var coding = data.events;  // null: the instrument places no events in time

  function clock(s) {
    s = Math.max(0, Math.round(s || 0));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  }
  function fine(s) {  // 1:02.5: event times, to a tenth
    s = Math.max(0, s || 0);
    var whole = Math.floor(s + 1e-6), tenth = Math.floor((s - whole) * 10 + 1e-6);
    return clock(whole) + "." + tenth;
  }
  function round2(x) { return Math.round(x * 100) / 100; }
  function clampTime(t) { return Math.min(Math.max(0, t), duration); }

  /* --- player ------------------------------------------------------------------------------------ */

  var pendingSeek = null;
  function now() { return pendingSeek !== null ? pendingSeek : audio.currentTime || 0; }
  function seek(t) {
    t = Math.min(Math.max(0, t), Math.max(0, duration - 0.01));
    if (audio.readyState >= 1) { audio.currentTime = t; } else { pendingSeek = t; }
    render();
    rememberPlace();
  }
  audio.addEventListener("loadedmetadata", function () {
    if (pendingSeek !== null) { audio.currentTime = pendingSeek; pendingSeek = null; }
  });
  function togglePlay() {
    if (audio.paused) {
      var p = audio.play();
      if (p && p.catch) { p.catch(function () { /* refused until a user gesture; the button stays on Play */ }); }
    } else { audio.pause(); }
  }
  function setSpeed(v) { audio.playbackRate = v; speedEl.value = String(v); }
  function stepSpeed(dir) {
    var i = SPEEDS.indexOf(Number(speedEl.value));
    setSpeed(SPEEDS[Math.min(SPEEDS.length - 1, Math.max(0, i + dir))]);
  }
  playBtn.addEventListener("click", togglePlay);
  document.getElementById("back").addEventListener("click", function () { seek(now() - 5); });
  document.getElementById("fwd").addEventListener("click", function () { seek(now() + 5); });
  speedEl.addEventListener("change", function () { setSpeed(Number(speedEl.value)); });
  audio.addEventListener("play", function () { playBtn.textContent = "Pause"; frames(); });
  audio.addEventListener("pause", function () { playBtn.textContent = "Play"; render(); rememberPlace(); });
  audio.addEventListener("ended", function () { playBtn.textContent = "Play"; render(); });
  audio.addEventListener("seeked", render);
  audio.addEventListener("timeupdate", keepLooping);
  audio.addEventListener("error", function () {
    clockEl.textContent = "audio unavailable";
  });

  /* --- where the rater was: restored on reload ---------------------------------------------------- */

  var placeTimer = null;
  function rememberPlace() {
    clearTimeout(placeTimer);
    placeTimer = setTimeout(function () {
      try {
        localStorage.setItem(placeKey, JSON.stringify({ t: round2(now()), scroll: Math.round(transcriptEl.scrollTop) }));
      } catch (e) { /* storage full or disabled: the page starts at the beginning next time */ }
    }, 300);
  }
  function savedPlace() {
    try { return JSON.parse(localStorage.getItem(placeKey) || "null"); } catch (e) { return null; }
  }
  transcriptEl.addEventListener("scroll", rememberPlace, { passive: true });

  /* --- a selected stretch (transcript words or shift-drag on the waveform) and its loop ------------- */

  var selection = null;   // {start, end, words: [first, last] | null}
  var looping = null;     // {start, end} while the loop is on
  function setSelection(sel) {
    if (selection && selection.words) { markWords(selection.words, "sel", false); }
    selection = sel && sel.end - sel.start >= 0.05 ? sel : null;
    if (selection && selection.words) { markWords(selection.words, "sel", true); }
    loopBtn.disabled = !selection && !looping;
    selectionEl.hidden = !selection && !looping;
    describeSelection();
    render();
  }
  function describeSelection() {
    var parts = [];
    if (selection) {
      parts.push("Selected " + fine(selection.start) + "–" + fine(selection.end) + ": l to loop" +
        (coding && coding.spans ? ", e to mark it as an event" : "") + ", Esc to clear");
    }
    if (looping) { parts.push("Looping " + fine(looping.start) + "–" + fine(looping.end) + " (l to stop)"); }
    selectionEl.textContent = parts.join(" · ");
  }
  function toggleLoop() {
    if (looping) {
      looping = null;
    } else if (selection) {
      looping = { start: selection.start, end: selection.end };
      if (now() < looping.start || now() >= looping.end) { seek(looping.start); }
      if (audio.paused) { togglePlay(); }
    }
    loopBtn.setAttribute("aria-pressed", String(!!looping));
    loopBtn.classList.toggle("on", !!looping);
    loopBtn.disabled = !selection && !looping;
    selectionEl.hidden = !selection && !looping;
    root.dataset.looping = looping ? "1" : "";
    describeSelection();
    render();
  }
  function keepLooping() {
    if (looping && !audio.paused && audio.currentTime >= looping.end) { audio.currentTime = looping.start; }
  }
  loopBtn.addEventListener("click", toggleLoop);

  /* --- waveform ---------------------------------------------------------------------------------- */

  var KIND_COLOURS = { withdrawal: "#8a4b0f", confrontation: "#a61b1b", resolution: "#1d6b35" };
  var ctx = canvas.getContext("2d");
  function drawWaveform(t) {
    var w = canvas.clientWidth, h = canvas.clientHeight, dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var x = function (s) { return duration ? s / duration * w : 0; };
    var stretch = looping || selection;
    if (stretch) {
      ctx.fillStyle = looping ? "#cfe3f0" : "#e3eef5";
      ctx.fillRect(x(stretch.start), 0, Math.max(2, x(stretch.end) - x(stretch.start)), h);
    }
    var peaks = data.waveform, n = peaks.length;
    var played = duration ? t / duration : 0;
    var bar = w / Math.max(1, n);
    for (var i = 0; i < n; i++) {
      var amp = Math.max(1, peaks[i] * (h - 14));
      ctx.fillStyle = (i + 0.5) / n <= played ? "#2f6f8f" : "#b8c4cc";
      ctx.fillRect(i * bar, (h - amp) / 2, Math.max(1, bar - (bar > 2 ? 1 : 0)), amp);
    }
    events.forEach(function (ev) {  // events: a tick at the start, a band along a span
      var colour = KIND_COLOURS[(data.codes[ev.code] || {}).kind] || "#5b3f8f";
      var chosen = ev.id === selectedId;
      ctx.fillStyle = colour;
      ctx.globalAlpha = chosen ? 0.35 : 0.18;
      if (ev.end !== null && ev.end > ev.start) { ctx.fillRect(x(ev.start), h - 8, Math.max(2, x(ev.end) - x(ev.start)), 8); }
      ctx.globalAlpha = 1;
      ctx.fillRect(x(ev.start) - (chosen ? 1 : 0.5), 0, chosen ? 3 : 2, h);
      ctx.beginPath();  // a flag at the top, to find and click
      ctx.moveTo(x(ev.start), 0); ctx.lineTo(x(ev.start) + 7, 0); ctx.lineTo(x(ev.start), 7);
      ctx.fill();
    });
    ctx.fillStyle = "#1f2933";
    ctx.fillRect(Math.min(w - 1, played * w), 0, 1.5, h);
  }
  function timeAt(ev) {
    var rect = canvas.getBoundingClientRect();
    return clampTime((ev.clientX - rect.left) / rect.width * duration);
  }
  var drag = null;
  canvas.addEventListener("mousedown", function (ev) {
    if (ev.shiftKey) { ev.preventDefault(); drag = { from: timeAt(ev) }; }
  });
  window.addEventListener("mousemove", function (ev) {
    if (!drag) { return; }
    var t = timeAt(ev);
    setSelection({ start: Math.min(drag.from, t), end: Math.max(drag.from, t), words: null });
  });
  window.addEventListener("mouseup", function () { drag = null; });
  canvas.addEventListener("click", function (ev) {
    if (ev.shiftKey) { return; }  // the end of a shift-drag
    var t = timeAt(ev), hit = eventNear(t, 5 / canvas.clientWidth * duration);
    if (hit) { selectEvent(hit.id, true); }
    seek(hit ? hit.start : t);
  });
  var playerEl = document.getElementById("player");
  function fitScrolling() {  // on a narrow screen the player sticks to the top: keep focused items below it
    var sticky = getComputedStyle(playerEl).position === "sticky";
    document.documentElement.style.scrollPaddingTop = sticky ? playerEl.offsetHeight + 8 + "px" : "";
  }
  window.addEventListener("resize", function () { fitScrolling(); render(); });
  fitScrolling();

  /* --- transcript -------------------------------------------------------------------------------- */

  var wordEls = [], wordStarts = [], wordEnds = [], wordTurn = [], turnEls = [], turnStarts = [], turnEnds = [];
  (function buildTranscript() {
    var frag = document.createDocumentFragment();
    data.transcript.forEach(function (seg) {
      var row = document.createElement("div");
      row.className = "seg " + (seg.role || "unknown");
      var who = document.createElement("span");
      who.className = "who";
      who.textContent = seg.who;
      var at = document.createElement("button");
      at.type = "button";
      at.className = "at";
      at.textContent = clock(seg.s);
      at.dataset.t = seg.s;
      at.tabIndex = -1;
      var text = document.createElement("p");
      seg.w.forEach(function (w) {
        var span = document.createElement("span");
        span.className = "w";
        span.textContent = w[2];
        span.dataset.i = wordEls.length;
        wordEls.push(span); wordStarts.push(w[0]); wordEnds.push(w[1]); wordTurn.push(turnEls.length);
        text.appendChild(span);
        text.appendChild(document.createTextNode(" "));
      });
      row.appendChild(at); row.appendChild(who); row.appendChild(text);
      turnEls.push(row); turnStarts.push(seg.s); turnEnds.push(seg.e);
      frag.appendChild(row);
    });
    transcriptEl.appendChild(frag);
  })();
  transcriptEl.addEventListener("click", function (ev) {
    var el = ev.target;
    var sel = window.getSelection();
    if (sel && !sel.isCollapsed && transcriptEl.contains(sel.anchorNode)) { return; }  // selecting, not seeking
    if (el.classList.contains("w")) {
      var i = Number(el.dataset.i), hit = eventAtWord(i);
      if (hit) { selectEvent(hit.id, false); }
      seek(wordStarts[i]);
    } else if (el.classList.contains("at")) { seek(Number(el.dataset.t)); }
  });
  function selectedWords() {  // the words the browser's text selection covers in the transcript: [first, last]
    var sel = window.getSelection();
    if (!sel || sel.isCollapsed || !sel.rangeCount) { return null; }
    var range = sel.getRangeAt(0);
    if (!transcriptEl.contains(range.commonAncestorContainer)) { return null; }
    var first = -1, last = -1;
    var startEl = range.startContainer.nodeType === 1 ? range.startContainer : range.startContainer.parentElement;
    var from = startEl.closest(".w") ? Number(startEl.closest(".w").dataset.i) : 0;
    for (var i = from; i < wordEls.length; i++) {
      if (range.intersectsNode(wordEls[i].firstChild || wordEls[i])) {
        if (first < 0) { first = i; }
        last = i;
      } else if (first >= 0) { break; }
    }
    return first < 0 ? null : [first, last];
  }
  transcriptEl.addEventListener("mouseup", function () {
    setTimeout(function () {  // after the browser has settled the selection
      var words = selectedWords();
      if (words) { setSelection({ start: wordStarts[words[0]], end: wordEnds[words[1]], words: words }); }
    }, 0);
  });
  function markWords(words, cls, on) {
    for (var i = words[0]; i <= words[1]; i++) { wordEls[i].classList.toggle(cls, on); }
  }

  function wordAt(t) {  // the last word starting at or before t, if t is inside it or its pause
    var lo = 0, hi = wordStarts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (wordStarts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found >= 0 && t <= wordEnds[found] + 0.5 ? found : -1;
  }
  function turnAt(t) {  // the turn being spoken at t
    var lo = 0, hi = turnStarts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (turnStarts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found >= 0 && t <= turnEnds[found] + 0.5 ? found : -1;
  }
  var current = -1, currentTurn = -1;
  function highlight(t) {
    var turn = turnAt(t);
    if (turn !== currentTurn) {
      if (currentTurn >= 0) { turnEls[currentTurn].classList.remove("now"); }
      currentTurn = turn;
      if (turn >= 0) { turnEls[turn].classList.add("now"); }
    }
    var i = wordAt(t);
    if (i === current) { return; }
    if (current >= 0) { wordEls[current].classList.remove("now"); }
    current = i;
    if (i < 0) { return; }
    var el = wordEls[i];
    el.classList.add("now");
    if (followEl.checked && !audio.paused) {
      var box = transcriptEl.getBoundingClientRect(), r = el.getBoundingClientRect();
      if (r.top < box.top + 20 || r.bottom > box.bottom - 20) {
        transcriptEl.scrollTop += r.top - box.top - box.height / 3;
      }
    }
  }

  function render() {
    var t = now();
    clockEl.textContent = clock(t) + " / " + clock(duration);
    canvas.setAttribute("aria-valuenow", t.toFixed(1));
    canvas.setAttribute("aria-valuetext", clock(t));
    drawWaveform(t);
    highlight(t);
  }
  var animating = false, lastRemembered = 0;
  function frames() {
    if (animating) { return; }
    animating = true;
    (function frame() {
      keepLooping();
      render();
      if (Date.now() - lastRemembered > 1000) { lastRemembered = Date.now(); rememberPlace(); }
      if (!audio.paused && !audio.ended) { requestAnimationFrame(frame); } else { animating = false; }
    })();
  }

  /* --- events: codes placed in time ---------------------------------------------------------------- */

  var events = [];          // [{id, code, start, end, salience, note}], sorted by start
  var selectedId = null;
  var salienceKey = "coder:salience:" + data.user;  // the salience last given to an event, from unit to unit
  var lastSalience = data.salience.length ? data.salience[Math.floor((data.salience.length - 1) / 2)] : null;
  try {
    var usedBefore = Number(localStorage.getItem(salienceKey));
    if (data.salience.indexOf(usedBefore) >= 0) { lastSalience = usedBefore; }
  } catch (e) { /* the scale's middle */ }
  var autoAnswered = {};    // marker id -> true where placing events answered it (present), not the rater
  var listEl = document.getElementById("events");
  var countEl = document.getElementById("event-count");
  var eventsProblemEl = document.getElementById("events-problem");

  function sortEvents() { events.sort(function (a, b) { return a.start - b.start || (a.id < b.id ? -1 : 1); }); }
  function newId() {
    var n = 0;
    events.forEach(function (ev) { var m = /^e(\d+)$/.exec(ev.id); if (m) { n = Math.max(n, Number(m[1])); } });
    return "e" + (n + 1);
  }
  function eventById(id) { return events.filter(function (ev) { return ev.id === id; })[0] || null; }
  function eventNear(t, within) {
    var best = null;
    events.forEach(function (ev) {
      var d = ev.end !== null && t >= ev.start && t <= ev.end ? 0 : Math.abs(t - ev.start);
      if (d <= within && (!best || d < best.d)) { best = { d: d, ev: ev }; }
    });
    return best && best.ev;
  }
  function eventAtWord(i) {
    var s = wordStarts[i], e = wordEnds[i];
    return events.filter(function (ev) {
      return ev.end !== null ? ev.start < e && ev.end > s : ev.start >= s - 0.01 && ev.start <= e + 0.5;
    })[0] || null;
  }
  function wordsOf(ev) {  // the transcript words an event covers (a moment: the word it falls on)
    if (!wordEls.length) { return null; }
    if (ev.end === null || ev.end <= ev.start) {
      var i = wordAt(ev.start);
      return i < 0 ? null : [i, i];
    }
    var first = -1, last = -1;
    for (var j = 0; j < wordEls.length; j++) {
      if (wordStarts[j] < ev.end && wordEnds[j] > ev.start) { if (first < 0) { first = j; } last = j; }
      else if (wordStarts[j] >= ev.end) { break; }
    }
    return first < 0 ? null : [first, last];
  }
  function label(code) { return (data.codes[code] || { label: code }).label; }

  function markTranscript() {
    transcriptEl.querySelectorAll(".w.ev").forEach(function (el) {
      el.classList.remove("ev", "ev-sel", "ev-start"); el.removeAttribute("title");
    });
    events.forEach(function (ev) {
      var words = wordsOf(ev);
      if (!words) { return; }
      for (var i = words[0]; i <= words[1]; i++) {
        wordEls[i].classList.add("ev");
        if (ev.id === selectedId) { wordEls[i].classList.add("ev-sel"); }
        wordEls[i].title = label(ev.code) + " (" + fine(ev.start) + ")";
      }
      wordEls[words[0]].classList.add("ev-start");
    });
  }

  function renderEvents(focusId) {
    if (!listEl) { return; }
    listEl.textContent = "";
    events.forEach(function (ev) { listEl.appendChild(eventRow(ev)); });
    countEl.textContent = events.length ? String(events.length) : "none yet";
    markTranscript();
    tallyMarkers();
    render();
    if (focusId) {
      var row = listEl.querySelector('[data-event="' + focusId + '"]');
      if (row) { row.focus({ preventScroll: true }); row.scrollIntoView({ block: "nearest" }); }
    }
  }
  function option(value, text, selected) {
    var o = document.createElement("option");
    o.value = value; o.textContent = text; o.selected = selected;
    return o;
  }
  function eventRow(ev) {
    var li = document.createElement("li");
    li.className = "event" + (ev.id === selectedId ? " selected" : "");
    li.dataset.event = ev.id;
    li.tabIndex = 0;
    li.setAttribute("aria-label", label(ev.code) + " at " + fine(ev.start) +
      (ev.end !== null ? " to " + fine(ev.end) : "") + ", salience " + ev.salience);
    var kind = (data.codes[ev.code] || {}).kind || "";
    var at = document.createElement("button");
    at.type = "button"; at.className = "ev-at"; at.dataset.act = "seek";
    at.textContent = fine(ev.start) + (ev.end !== null ? "–" + fine(ev.end) : "");
    at.title = "Play from here (Enter)";
    var code = document.createElement("select");
    code.className = "ev-code"; code.dataset.field = "code"; code.setAttribute("aria-label", "Code");
    data.markers.forEach(function (id) { code.appendChild(option(id, label(id), id === ev.code)); });
    var dot = document.createElement("span");
    dot.className = "kind-dot " + kind;
    var sal = document.createElement("select");
    sal.className = "ev-salience"; sal.dataset.field = "salience"; sal.setAttribute("aria-label", "Salience");
    data.salience.forEach(function (v) { sal.appendChild(option(v, "salience " + v, Number(v) === Number(ev.salience))); });
    var note = document.createElement("input");
    note.type = "text"; note.className = "ev-note"; note.dataset.field = "note"; note.maxLength = 2000;
    note.placeholder = "note"; note.value = ev.note || ""; note.setAttribute("aria-label", "Note");
    var times = document.createElement("span");
    times.className = "ev-nudge";
    [["start", -STEP, "−", "Start 0.5 s earlier (,)"], ["start", STEP, "+", "Start 0.5 s later (.)"]]
      .concat(coding.spans ? [["end", -STEP, "−", "End 0.5 s earlier (<)"], ["end", STEP, "+", "End 0.5 s later (>)"]] : [])
      .forEach(function (b, k) {
        if (k === 0 || k === 2) {
          var lab = document.createElement("span"); lab.className = "meta"; lab.textContent = b[0];
          times.appendChild(lab);
        }
        var btn = document.createElement("button");
        btn.type = "button"; btn.className = "small quiet"; btn.textContent = b[2]; btn.title = b[3];
        btn.setAttribute("aria-label", b[3]);
        btn.dataset.act = "nudge"; btn.dataset.edge = b[0]; btn.dataset.by = b[1];
        times.appendChild(btn);
      });
    var del = document.createElement("button");
    del.type = "button"; del.className = "small quiet ev-delete"; del.dataset.act = "delete";
    del.textContent = "Delete"; del.title = "Remove this event (Delete)";
    li.appendChild(at); li.appendChild(dot); li.appendChild(code); li.appendChild(sal);
    li.appendChild(times); li.appendChild(note); li.appendChild(del);
    if (locked) { li.querySelectorAll("select, input, button:not(.ev-at)").forEach(function (el) { el.disabled = true; }); }
    return li;
  }

  function selectEvent(id, focus) {
    selectedId = id;
    if (listEl) {
      listEl.querySelectorAll(".event").forEach(function (li) { li.classList.toggle("selected", li.dataset.event === id); });
      if (focus && id) {
        var row = listEl.querySelector('[data-event="' + id + '"]');
        if (row) { row.focus({ preventScroll: true }); row.scrollIntoView({ block: "nearest" }); }
      }
    }
    markTranscript();
    render();
  }

  function eventsChanged(focusId) {
    sortEvents();
    autoAnswer();
    renderEvents(focusId);
    changed();
  }
  function place(code, at) {  // a new event of `code` at the playhead, or over the selected stretch
    var ev = { id: newId(), code: code, start: round2(at.start), end: at.end === null ? null : round2(at.end),
               salience: lastSalience, note: "" };
    var marker = markerField(code);
    if (marker && markerValue(marker) === "absent") { setMarker(marker, null); }  // an event answers "present"
    events.push(ev);
    selectedId = ev.id;
    if (at.words) { setSelection(null); window.getSelection().removeAllRanges(); }
    eventsChanged(ev.id);
    say("Marked " + label(code) + " at " + fine(ev.start));
  }
  function nudge(ev, edge, by) {
    if (edge === "end" && coding.spans) {
      var end = ev.end === null ? ev.start : ev.end;
      end = round2(clampTime(end + by));
      ev.end = end <= ev.start ? null : end;
    } else {
      ev.start = round2(clampTime(ev.start + by));
      if (ev.end !== null && ev.end <= ev.start) { ev.end = null; }
    }
    eventsChanged(ev.id);
    seek(edge === "end" && ev.end !== null ? Math.max(ev.start, ev.end - 2) : ev.start);
  }
  function removeEvent(ev) {
    var i = events.indexOf(ev);
    events.splice(i, 1);
    var next = events[Math.min(i, events.length - 1)];
    selectedId = next ? next.id : null;
    eventsChanged(selectedId);
    if (!next) { focusField(focused < 0 ? 0 : focused); }
    say("Removed " + label(ev.code) + " at " + fine(ev.start));
  }
  function setSalience(ev, value) {
    ev.salience = value;
    lastSalience = value;
    try { localStorage.setItem(salienceKey, String(value)); } catch (e) { /* kept for this page */ }
    eventsChanged(ev.id);
  }

  if (listEl) {
    listEl.addEventListener("click", function (e) {
      var li = e.target.closest(".event");
      if (!li) { return; }
      var ev = eventById(li.dataset.event);
      var act = e.target.dataset.act;
      if (act === "seek") { selectEvent(ev.id, false); seek(ev.start); }
      else if (act === "nudge" && !locked) { selectEvent(ev.id, false); nudge(ev, e.target.dataset.edge, Number(e.target.dataset.by)); }
      else if (act === "delete" && !locked) { removeEvent(ev); }
      else if (ev.id !== selectedId) { selectEvent(ev.id, false); }
    });
    listEl.addEventListener("change", function (e) {
      var li = e.target.closest(".event"), field = e.target.dataset.field;
      if (!li || !field || locked) { return; }
      e.stopPropagation();  // not the form's change: handled here
      var ev = eventById(li.dataset.event);
      if (field === "salience") { setSalience(ev, Number(e.target.value)); }
      else if (field === "code") { ev.code = e.target.value; eventsChanged(ev.id); }
    });
    listEl.addEventListener("input", function (e) {
      var li = e.target.closest(".event");
      if (!li || e.target.dataset.field !== "note" || locked) { return; }
      eventById(li.dataset.event).note = e.target.value;
      changed();
    });
    listEl.addEventListener("focusin", function (e) {
      var li = e.target.closest(".event");
      if (li && li.dataset.event !== selectedId) { selectEvent(li.dataset.event, false); }
    });
  }

  var live = document.createElement("p");  // what the keys did, for screen readers
  live.className = "visually-hidden"; live.setAttribute("aria-live", "polite");
  root.appendChild(live);
  function say(text) { live.textContent = text; }

  /* --- the code picker: e, then type / arrows / click ---------------------------------------------- */

  var picker = document.getElementById("code-picker");
  var pickerFilter = document.getElementById("picker-filter");
  var pickerAt = document.getElementById("picker-at");
  var pickerOptions = picker ? Array.prototype.slice.call(picker.querySelectorAll("[role=option]")) : [];
  var pickerTarget = null, pickerActive = -1, pickerReturn = null;
  function openPicker() {
    if (!coding || locked) { return; }
    var useSel = selection && coding.spans;
    pickerTarget = useSel ? { start: selection.start, end: selection.end, words: selection.words }
                          : { start: now(), end: null, words: null };
    pickerReturn = document.activeElement;
    pickerAt.textContent = fine(pickerTarget.start) + (pickerTarget.end !== null ? "–" + fine(pickerTarget.end) : "");
    picker.hidden = false;
    pickerFilter.value = "";
    filterPicker();
    pickerFilter.focus();
  }
  function closePicker(restoreFocus) {
    picker.hidden = true;
    pickerTarget = null;
    if (restoreFocus && pickerReturn && pickerReturn.focus) { pickerReturn.focus({ preventScroll: true }); }
  }
  function visibleOptions() { return pickerOptions.filter(function (o) { return !o.hidden; }); }
  function filterPicker() {
    var q = pickerFilter.value.trim().toLowerCase();
    pickerOptions.forEach(function (o) {
      var code = o.dataset.code, c = data.codes[code];
      o.hidden = !!q && (c.label + " " + code + " " + c.kind).toLowerCase().indexOf(q) < 0;
    });
    activate(0);
  }
  function activate(i) {
    var shown = visibleOptions();
    pickerActive = shown.length ? Math.max(0, Math.min(shown.length - 1, i)) : -1;
    pickerOptions.forEach(function (o) { o.setAttribute("aria-selected", "false"); o.classList.remove("active"); });
    if (pickerActive >= 0) {
      var o = shown[pickerActive];
      o.setAttribute("aria-selected", "true"); o.classList.add("active");
      o.scrollIntoView({ block: "nearest" });
      pickerFilter.setAttribute("aria-activedescendant", o.id);
    } else { pickerFilter.removeAttribute("aria-activedescendant"); }
  }
  function choose(code) {
    var at = pickerTarget;
    closePicker(false);
    if (at) { place(code, at); }
  }
  if (picker) {
    pickerFilter.addEventListener("input", filterPicker);
    pickerFilter.addEventListener("keydown", function (e) {
      if (e.key === "ArrowDown") { e.preventDefault(); activate(pickerActive + 1); }
      else if (e.key === "ArrowUp") { e.preventDefault(); activate(pickerActive - 1); }
      else if (e.key === "Enter") {
        e.preventDefault();
        var shown = visibleOptions();
        if (pickerActive >= 0) { choose(shown[pickerActive].dataset.code); }
      } else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); closePicker(true); }
    });
    picker.addEventListener("mousedown", function (e) { if (e.target.closest("[role=option]")) { e.preventDefault(); } });
    picker.addEventListener("click", function (e) {
      var o = e.target.closest("[role=option]");
      if (o) { choose(o.dataset.code); }
    });
    document.getElementById("picker-cancel").addEventListener("click", function () { closePicker(true); });
    document.getElementById("mark").addEventListener("click", openPicker);
  }

  /* --- the rating form --------------------------------------------------------------------------- */

  var locked = data.rating.status === "submitted";
  var server = { revision: data.rating.revision, scores: data.rating.scores, notes: data.rating.notes };
  var fields = Array.prototype.slice.call(form.querySelectorAll("fieldset.item"));

  function markerField(id) { return document.getElementById("marker-" + id); }
  function markerValue(fs) {
    var checked = fs.querySelector("input:checked");
    if (!checked || checked.value === "") { return null; }
    return checked.value === "absent" ? "absent" : Number(checked.value);
  }
  function setMarker(fs, value) {
    fs.querySelectorAll("input").forEach(function (input) {
      input.checked = value === null || value === undefined ? input.value === ""
        : value === "absent" ? input.value === "absent" : input.value !== "" && input.value !== "absent" &&
          Number(input.value) === Number(value);
    });
  }
  function autoAnswer() {  // an event answers its code "present", at the highest salience of its events
    var top = {};
    events.forEach(function (ev) { top[ev.code] = Math.max(top[ev.code] || -Infinity, Number(ev.salience)); });
    data.markers.forEach(function (id) {
      var fs = markerField(id), value = markerValue(fs);
      if (top[id] !== undefined && (value === null || autoAnswered[id])) {
        setMarker(fs, top[id]); autoAnswered[id] = true;
      } else if (top[id] === undefined && autoAnswered[id]) {
        setMarker(fs, null); delete autoAnswered[id];
      }
    });
  }
  function tallyMarkers() {  // how many events each marker has; "absent" is no answer for a marker with events
    var n = {};
    events.forEach(function (ev) { n[ev.code] = (n[ev.code] || 0) + 1; });
    data.markers.forEach(function (id) {
      var fs = markerField(id), tally = fs.querySelector(".event-tally"), absent = fs.querySelector("input[value=absent]");
      tally.hidden = !n[id];
      tally.textContent = n[id] ? n[id] + (n[id] === 1 ? " event" : " events") : "";
      if (absent) {
        absent.disabled = locked || !!n[id];
        absent.closest(".point").title = n[id] ? "not absent: it has events" : "absent: not seen in this unit (0)";
      }
    });
  }

  function readForm() {
    var scores = {}, markers = {};
    fields.forEach(function (fs) {
      if (fs.dataset.item) {
        var checked = fs.querySelector("input:checked");
        if (checked && checked.value !== "") { scores[fs.dataset.item] = Number(checked.value); }
      } else {
        var value = markerValue(fs);
        if (value !== null) { markers[fs.dataset.marker] = value; }
      }
    });
    if (data.markers.length) { scores.markers = markers; }
    if (coding && events.length) {
      scores.events = events.map(function (ev) {
        return { id: ev.id, code: ev.code, start: ev.start, end: ev.end, salience: ev.salience, note: ev.note || "" };
      });
    }
    return { scores: scores, notes: notesEl.value };
  }
  function fillForm(content) {
    var scores = content.scores || {}, markers = scores.markers || {};
    fields.forEach(function (fs) {
      if (fs.dataset.item) {
        var value = scores[fs.dataset.item];
        fs.querySelectorAll("input").forEach(function (input) {
          input.checked = value === undefined || value === null ? input.value === "" : Number(input.value) === Number(value);
        });
      } else { setMarker(fs, markers[fs.dataset.marker]); }
    });
    markAnswered();
    events = (scores.events || []).map(function (ev) {
      return { id: String(ev.id), code: ev.code, start: Number(ev.start), end: ev.end === null || ev.end === undefined ? null : Number(ev.end),
               salience: ev.salience, note: ev.note || "" };
    });
    sortEvents();
    autoAnswered = {};
    if (selectedId && !eventById(selectedId)) { selectedId = null; }
    renderEvents(null);
    notesEl.value = content.notes || "";
  }
  function markAnswered() {
    fields.forEach(function (fs) {
      fs.classList.toggle("answered", !!fs.querySelector("input:checked:not([value=''])"));
    });
  }
  function same(a, b) { return JSON.stringify(canon(a)) === JSON.stringify(canon(b)); }
  function canon(c) {
    var s = c.scores || {}, out = {};
    Object.keys(s).sort().forEach(function (k) {
      if (k === "markers") {
        var m = {};
        Object.keys(s[k] || {}).sort().forEach(function (id) { m[id] = s[k][id] === "absent" ? "absent" : Number(s[k][id]); });
        if (Object.keys(m).length) { out[k] = m; }
      } else if (k === "events") {
        var list = (s[k] || []).map(function (ev) {
          return [String(ev.id), ev.code, Number(ev.start), ev.end === null || ev.end === undefined ? null : Number(ev.end),
                  Number(ev.salience), ev.note || ""];
        });
        list.sort(function (a, b) { return a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0; });  // the server sorts by time
        if (list.length) { out[k] = list; }
      } else if (s[k] !== null && s[k] !== "") { out[k] = Number(s[k]); }
    });
    return [out, c.notes || ""];
  }

  /* --- local copy and autosave ------------------------------------------------------------------- */

  function local() {
    try { return JSON.parse(localStorage.getItem(storageKey) || "null"); } catch (e) { return null; }
  }
  function keepLocally(content) {
    try {
      localStorage.setItem(storageKey, JSON.stringify({ scores: content.scores, notes: content.notes,
        base: server.revision, at: new Date().toISOString() }));
    } catch (e) { /* storage full or disabled: the server copy is all we have */ }
  }
  function forgetLocal() { try { localStorage.removeItem(storageKey); } catch (e) { /* ignore */ } }

  function setState(text, kind) {
    stateEl.textContent = text;
    stateEl.className = "save-state " + (kind || "");
    root.dataset.saveState = kind || "";
  }
  function savedAt() {
    return "Saved " + new Date().toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
  }

  var timer = null, inFlight = null, retryMs = 1000, dirty = false;
  function changed() {
    if (locked) { return; }
    var content = readForm();
    markAnswered();
    clearAnswered();
    dirty = !same(content, server);
    if (dirty) { keepLocally(content); setState("Unsaved changes", "pending"); }
    else { forgetLocal(); setState(savedAt(), "saved"); }
    schedule(SAVE_DELAY_MS);
  }
  function schedule(ms) {
    clearTimeout(timer);
    timer = setTimeout(flush, ms);
  }

  function post(url, content, keepalive) {
    return fetch(url, {
      method: "POST", credentials: "same-origin", keepalive: !!keepalive,
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ scores: content.scores, notes: content.notes, revision: server.revision })
    }).then(function (r) {
      return r.json().catch(function () { return { ok: false, error: "unexpected answer (" + r.status + ")" }; })
        .then(function (body) { body.httpStatus = r.status; return body; });
    });
  }

  function renewSession() {  // a stale token after logging in again elsewhere: fetch this login's token
    return fetch(data.urls.session, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body) { return false; }
        if (body.user !== data.user) {
          setState("Logged in as someone else — reload the page", "error");
          return false;
        }
        csrf = body.csrf;
        return true;
      }, function () { return false; });
  }

  function flush() {
    if (locked || inFlight) { return inFlight; }
    var content = readForm();
    if (same(content, server)) { dirty = false; forgetLocal(); return Promise.resolve(); }
    setState("Saving…", "saving");
    inFlight = post(data.urls.save, content).then(function (body) {
      inFlight = null;
      if (body.ok) {
        server = { revision: body.revision, scores: body.scores, notes: body.notes };
        retryMs = 1000;
        if (same(readForm(), server)) { dirty = false; forgetLocal(); setState(savedAt(), "saved"); }
        else { keepLocally(readForm()); schedule(50); }  // more was typed while saving
        return;
      }
      handleRefusal(body, content);
    }, function () {
      inFlight = null;
      setState("Offline — kept in this browser; retrying", "offline");
      schedule(retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    });
    return inFlight;
  }

  function handleRefusal(body, content) {
    if (body.httpStatus === 401 || body.csrf) {
      renewSession().then(function (renewed) {
        if (!renewed) {
          setState("Logged out — kept in this browser; log in again in another tab", "offline");
        }
        schedule(renewed ? 0 : Math.max(retryMs, 5000));
        retryMs = Math.min(retryMs * 2, 30000);
      });
    } else if (body.httpStatus === 409 && body.current) {
      // Saved elsewhere in the meantime: show what is stored, and offer this window's version.
      var mine = content;
      server = { revision: body.current.revision, scores: body.current.scores, notes: body.current.notes };
      fillForm(server);
      keepLocally(mine);
      offerRestore(mine, "This rating was changed in another window. The stored version is shown.");
    } else if (body.httpStatus === 423) {
      lock(body.current);
      setState("Submitted", "submitted");
    } else if (body.httpStatus >= 500) {
      setState("Server error — kept in this browser; retrying", "offline");
      schedule(retryMs);
      retryMs = Math.min(retryMs * 2, 30000);
    } else {
      setState("Not saved: " + (body.error || "refused"), "error");
      showProblems(body.problems || [body.error]);
    }
  }

  function offerRestore(mine, message) {
    var box = document.createElement("div");
    box.className = "notice restore";
    box.setAttribute("role", "alert");
    box.textContent = message + " ";
    var use = document.createElement("button");
    use.type = "button";
    use.textContent = "Use this window's version instead";
    use.addEventListener("click", function () {
      fillForm(mine); box.remove(); changed();
    });
    var keep = document.createElement("button");
    keep.type = "button";
    keep.className = "quiet";
    keep.textContent = "Keep the stored version";
    keep.addEventListener("click", function () { forgetLocal(); box.remove(); setState(savedAt(), "saved"); });
    box.appendChild(use); box.appendChild(keep);
    form.insertBefore(box, form.firstChild.nextSibling);
    setState("Changed elsewhere", "error");
  }

  function fieldOf(problem) {  // the fieldset a server problem names: "3: required", "markers.denial: ..."
    var key = String(problem).split(":")[0];
    var m = /^markers\.(.+)$/.exec(key);
    if (m) { return markerField(m[1]); }
    return document.getElementById("item-" + key);
  }
  function wording(problem) {
    var key = String(problem).split(":")[0], text = String(problem).slice(key.length + 1).trim();
    if (/^markers\./.test(key) && /required|unanswered|answer/.test(text)) { return "Please answer: absent, or its salience."; }
    return text === "required" ? "Please score this item." : text;
  }
  function showProblems(list) {
    fields.forEach(function (fs) {
      fs.classList.remove("invalid");
      var p = fs.querySelector(".problem"); if (p) { p.hidden = true; }
    });
    if (eventsProblemEl) { eventsProblemEl.hidden = true; }
    problemsEl.hidden = !list.length;
    problemsEl.textContent = "";
    var first, eventProblems = [];
    list.forEach(function (text) {
      if (/^events/.test(String(text))) { eventProblems.push(eventWording(text)); return; }
      var fs = fieldOf(text);
      if (fs) {
        fs.classList.add("invalid");
        var p = fs.querySelector(".problem");
        p.textContent = wording(text);
        p.hidden = false;
      }
    });
    if (eventsProblemEl && eventProblems.length) {
      eventsProblemEl.textContent = eventProblems.join(" ");
      eventsProblemEl.hidden = false;
    }
    countProblems();
    first = fields.filter(function (fs) { return fs.classList.contains("invalid"); })[0];  // the first on the page
    if (first) { focusField(fields.indexOf(first)); }
  }
  function eventWording(text) {  // "events[3].start: ..." names the event by its place in time order
    var m = /^events\[(\d+)\](\.\w+)?:\s*(.*)$/.exec(String(text));
    if (!m) { return String(text); }
    var ev = events[Number(m[1])];
    return (ev ? label(ev.code) + " at " + fine(ev.start) : "An event") + ": " + m[3];
  }
  function countProblems() {
    var n = fields.filter(function (fs) { return fs.classList.contains("invalid"); }).length +
      (eventsProblemEl && !eventsProblemEl.hidden ? 1 : 0);
    problemsEl.hidden = !n;
    problemsEl.textContent = n === 1 ? "One item needs your attention." : n + " items need your attention.";
  }
  function clearAnswered() {  // a problem goes as soon as its item is answered
    var any = false;
    fields.forEach(function (fs) {
      if (fs.classList.contains("invalid") && fs.querySelector("input:checked:not([value=''])")) {
        fs.classList.remove("invalid");
        fs.querySelector(".problem").hidden = true;
        any = true;
      }
    });
    if (any) { countProblems(); }
  }

  function lock(current) {
    locked = true;
    root.classList.add("locked");
    if (current) { server = { revision: current.revision, scores: current.scores, notes: current.notes }; fillForm(server); }
    form.querySelectorAll("input, textarea, select, .event button:not(.ev-at)").forEach(function (el) { el.disabled = true; });
    var mark = document.getElementById("mark");
    if (mark) { mark.disabled = true; }
    submitBtn.disabled = true;
    submitNextBtn.hidden = true;
    nextLink.hidden = false;
    confirmSetting.disabled = false;
    forgetLocal();
  }

  function looksComplete(content) {  // what the server will check on submit, as far as the page knows it
    var scores = content.scores, markers = scores.markers || {}, placed = {};
    (scores.events || []).forEach(function (ev) { placed[ev.code] = true; });
    return data.items.every(function (item) { return !item.required || scores[item.id] !== undefined; }) &&
      (data.marker_answers !== "required" ||
       data.markers.every(function (id) { return markers[id] !== undefined || placed[id]; }));
  }
  function confirmed() {  // asks before the irreversible step, unless the rater said not to
    // (not when items are missing: the server names them, and nothing is locked)
    if (!confirmSetting.checked || !confirmDialog.showModal || !looksComplete(readForm())) {
      return Promise.resolve(true);
    }
    return new Promise(function (resolve) {
      document.getElementById("confirm-skip").checked = false;
      confirmDialog.returnValue = "";
      confirmDialog.addEventListener("close", function done() {
        confirmDialog.removeEventListener("close", done);
        var yes = confirmDialog.returnValue === "submit";
        if (yes && document.getElementById("confirm-skip").checked) { setAsking(false); }
        resolve(yes);
      });
      confirmDialog.showModal();
      document.getElementById("confirm-yes").focus();
    });
  }
  function setAsking(ask) {
    confirmSetting.checked = ask;
    return fetch(data.urls.preferences, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "Accept": "application/json", "X-CSRFToken": csrf },
      body: JSON.stringify({ confirm_submit: ask })
    }).then(function (r) { root.dataset.preferenceSaved = r.ok ? "1" : "0"; }, function () { /* kept for this page */ });
  }
  confirmSetting.addEventListener("change", function () { setAsking(confirmSetting.checked); });

  var submitting = false;
  function submitRating(thenNext) {
    if (locked) {
      if (thenNext) { window.location.href = data.urls.next; }
      return;
    }
    if (submitting) { return; }
    submitting = true;
    clearTimeout(timer);
    confirmed().then(function (yes) {
      if (!yes) { submitting = false; if (dirty) { schedule(0); } return; }  // the autosave it put off
      var wait = inFlight || Promise.resolve();
      wait.then(function () {
        var content = readForm();
        setState("Submitting…", "saving");
        submitBtn.disabled = submitNextBtn.disabled = true;
        post(data.urls.submit, content).then(function (body) {
          submitting = false;
          submitBtn.disabled = submitNextBtn.disabled = false;
          if (body.ok) {
            lock(body);
            problemsEl.hidden = true;
            setState("Submitted", "submitted");
            forgetPlace();
            if (thenNext) { window.location.href = data.urls.next; }
            return;
          }
          if (body.httpStatus === 422) {
            setState(dirty ? "Unsaved changes" : savedAt(), dirty ? "pending" : "saved");
            showProblems(body.problems || []);
            if (dirty) { schedule(SAVE_DELAY_MS); }
          } else { handleRefusal(body, content); }
        }, function () {
          submitting = false;
          submitBtn.disabled = submitNextBtn.disabled = false;
          setState("Offline — not submitted; your draft is kept in this browser", "offline");
          schedule(retryMs);
        });
      });
    });
  }
  function forgetPlace() { try { localStorage.removeItem(placeKey); } catch (e) { /* ignore */ } }

  form.addEventListener("change", function (e) {
    var fs = e.target.closest && e.target.closest("fieldset.marker");
    if (fs) { delete autoAnswered[fs.dataset.marker]; }  // the rater's own answer from now on
    if (e.target === confirmSetting) { return; }
    changed();
  });
  notesEl.addEventListener("input", changed);
  submitBtn.addEventListener("click", function () { submitRating(false); });
  submitNextBtn.addEventListener("click", function () { submitRating(true); });
  window.addEventListener("online", function () { if (dirty) { schedule(0); } });
  window.addEventListener("pagehide", function () {
    rememberPlaceNow();
    if (!locked && dirty && !inFlight) { post(data.urls.save, readForm(), true); }
  });
  function rememberPlaceNow() {
    if (locked) { return; }
    try {
      localStorage.setItem(placeKey, JSON.stringify({ t: round2(now()), scroll: Math.round(transcriptEl.scrollTop) }));
    } catch (e) { /* ignore */ }
  }

  /* --- keyboard ---------------------------------------------------------------------------------- */

  var focused = -1;
  function focusField(i) {
    if (!fields.length) { return; }
    i = Math.max(0, Math.min(fields.length - 1, i));
    if (focused >= 0) { fields[focused].classList.remove("current"); }
    focused = i;
    fields[i].classList.add("current");
    fields[i].focus({ preventScroll: true });
    fields[i].scrollIntoView({ block: "nearest" });
  }
  fields.forEach(function (fs, i) {
    fs.addEventListener("focusin", function () {
      if (focused >= 0) { fields[focused].classList.remove("current"); }
      focused = i; fs.classList.add("current");
    });
  });

  var digits = "", digitTimer = null;
  function scoreCurrent(key) {
    if (locked || focused < 0) { return; }
    var fs = fields[focused];
    clearTimeout(digitTimer);
    digits += key;
    var inputs = Array.prototype.slice.call(fs.querySelectorAll("input:not(:disabled)"));
    var values = inputs.map(function (el) { return el.value; });
    var isMarker = !!fs.dataset.marker;
    var wanted = isMarker && digits === "0" ? "absent" : String(Number(digits));
    var longer = values.some(function (v) { return v !== wanted && v.indexOf(digits) === 0 && v.length > digits.length; });
    var hit = inputs.filter(function (el) { return el.value === wanted; })[0];
    if (!hit) {
      digits = "";
      if (wanted === "absent" && fs.querySelector("input[value=absent]:disabled")) { focusField(focused + 1); }  // has events
      return;
    }
    hit.checked = true;
    if (isMarker) { delete autoAnswered[fs.dataset.marker]; }
    changed();
    if (longer) {  // e.g. "1" on a 0–10 scale: wait a moment for a "0"
      digitTimer = setTimeout(function () { digits = ""; focusField(focused + 1); }, 700);
    } else {
      digits = "";
      if (focused < fields.length - 1) { focusField(focused + 1); }
    }
  }
  function clearCurrent() {
    if (locked || focused < 0) { return; }
    var fs = fields[focused];
    fs.querySelectorAll("input").forEach(function (el) { el.checked = el.value === ""; });
    if (fs.dataset.marker) { delete autoAnswered[fs.dataset.marker]; }
    changed();
  }

  function eventKeys(ev, k, e) {  // keys on a selected event's row; true if handled
    var row = e.target.closest && e.target.closest(".event");
    if (!row || e.target !== row) { return false; }
    var i = events.indexOf(ev);
    if (k === "ArrowDown" || k === "j") { if (events[i + 1]) { selectEvent(events[i + 1].id, true); } return true; }
    if (k === "ArrowUp" || k === "k") { if (events[i - 1]) { selectEvent(events[i - 1].id, true); } return true; }
    if (k === "Enter") { seek(ev.start); if (audio.paused) { togglePlay(); } return true; }
    if (k === "Escape") { selectEvent(null, false); focusField(focused < 0 ? 0 : focused); return true; }
    if (locked) { return false; }
    if (k === ",") { nudge(ev, "start", -STEP); return true; }
    if (k === ".") { nudge(ev, "start", STEP); return true; }
    if (k === "<") { nudge(ev, "end", -STEP); return true; }
    if (k === ">") { nudge(ev, "end", STEP); return true; }
    if (k === "Delete" || k === "Backspace") { removeEvent(ev); return true; }
    if (/^[0-9]$/.test(k)) {
      var v = data.salience.filter(function (s) { return String(s) === k; })[0];
      if (v !== undefined) { setSalience(ev, v); }
      return true;
    }
    return false;
  }

  document.addEventListener("keydown", function (ev) {
    var t = ev.target, tag = t.tagName;
    var typing = tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && t.type !== "radio" && t.type !== "checkbox");
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") { ev.preventDefault(); submitRating(ev.shiftKey); return; }
    if (confirmDialog.open || (picker && !picker.hidden && t === pickerFilter)) { return; }
    if (typing) {
      if (ev.key === "Escape") { t.blur(); if (focused >= 0) { focusField(focused); } }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var k = ev.key;
    var chosen = selectedId && eventById(selectedId);
    if (chosen && eventKeys(chosen, k, ev)) { ev.preventDefault(); return; }
    if (k === " ") { ev.preventDefault(); togglePlay(); }
    else if (k === "ArrowLeft") { ev.preventDefault(); seek(now() - 5); }
    else if (k === "ArrowRight") { ev.preventDefault(); seek(now() + 5); }
    else if (k === "[") { stepSpeed(-1); }
    else if (k === "]") { stepSpeed(1); }
    else if (k === "l") { ev.preventDefault(); toggleLoop(); }
    else if (k === "e" && coding) { ev.preventDefault(); openPicker(); }
    else if (k === "Escape") { setSelection(null); window.getSelection().removeAllRanges(); }
    else if (k === "ArrowDown" || k === "j") { ev.preventDefault(); focusField(focused + 1); }
    else if (k === "ArrowUp" || k === "k") { ev.preventDefault(); focusField(focused < 0 ? 0 : focused - 1); }
    else if (/^[0-9]$/.test(k)) { ev.preventDefault(); scoreCurrent(k); }
    else if (k === "Backspace" || k === "Delete") { ev.preventDefault(); clearCurrent(); }
    else if (k === "n") { ev.preventDefault(); notesEl.focus(); }
    else if (k === "?") { toggleHelp(); }
  });
  function toggleHelp() {
    helpEl.hidden = !helpEl.hidden;
    helpBtn.setAttribute("aria-expanded", String(!helpEl.hidden));
  }
  helpBtn.addEventListener("click", toggleHelp);

  /* --- start ------------------------------------------------------------------------------------- */

  fillForm(server);
  if (locked) {
    lock(null);
    setState("Submitted", "submitted");
  } else {
    var kept = local();
    if (kept && !same(kept, server)) {
      if (kept.base === server.revision) {
        fillForm(kept);           // unsaved edits from before a reload or a lost connection
        changed();
        setState("Restored unsaved edits from this browser", "pending");
      } else {
        offerRestore(kept, "Unsaved edits from this browser (" + new Date(kept.at).toLocaleString() +
          ") are older than the stored rating, which is shown.");
      }
    } else if (kept) { forgetLocal(); }
    if (fields.length) { focusField(0); }
  }
  var where = savedPlace();
  if (where) {
    if (where.t > 0) { seek(where.t); }
    transcriptEl.scrollTop = where.scroll || 0;
  }
  render();
  window.coderRating = { flush: flush, read: readForm, server: function () { return server; },
                         events: function () { return events; }, selection: function () { return selection; } };
  root.dataset.ready = "1";
  if (window.performance && performance.mark) { performance.mark("coder-ready"); }
})();
