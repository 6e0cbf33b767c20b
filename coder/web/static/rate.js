/* The rating page: player, waveform, transcript in sync, keyboard scoring and autosave.
 *
 * Nothing a rater enters is lost: every change is written to this browser's
 * localStorage at once, then saved to the server (debounced, one request at a
 * time, retried with back-off while offline or logged out). A draft that the
 * server has not acknowledged is restored on reload and saved again.
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
  var transcriptEl = document.getElementById("transcript");
  var form = document.getElementById("rating-form");
  form.addEventListener("submit", function (ev) { ev.preventDefault(); });  // saving is the script's job
  var notesEl = document.getElementById("notes");
  var stateEl = document.getElementById("save-state");
  var problemsEl = document.getElementById("problems");
  var submitBtn = document.getElementById("submit");
  var helpEl = document.getElementById("help");
  var helpBtn = document.getElementById("help-toggle");

  var SAVE_DELAY_MS = 800;
  var SPEEDS = [0.75, 1, 1.25, 1.5, 1.75, 2];
  var duration = data.duration;
  var storageKey = "coder:draft:" + data.user + ":" + data.assignment;

  function clock(s) {
    s = Math.max(0, Math.round(s || 0));
    var h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    var mm = h ? String(m).padStart(2, "0") : String(m);
    return (h ? h + ":" : "") + mm + ":" + String(sec).padStart(2, "0");
  }

  /* --- player ------------------------------------------------------------------------------------ */

  var pendingSeek = null;
  function now() { return pendingSeek !== null ? pendingSeek : audio.currentTime || 0; }
  function seek(t) {
    t = Math.min(Math.max(0, t), Math.max(0, duration - 0.01));
    if (audio.readyState >= 1) { audio.currentTime = t; } else { pendingSeek = t; }
    render();
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
  audio.addEventListener("play", function () { playBtn.textContent = "Pause"; loop(); });
  audio.addEventListener("pause", function () { playBtn.textContent = "Play"; render(); });
  audio.addEventListener("ended", function () { playBtn.textContent = "Play"; render(); });
  audio.addEventListener("seeked", render);
  audio.addEventListener("error", function () {
    clockEl.textContent = "audio unavailable";
  });

  var ctx = canvas.getContext("2d");
  function drawWaveform(t) {
    var w = canvas.clientWidth, h = canvas.clientHeight, dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(w * dpr)) { canvas.width = Math.round(w * dpr); canvas.height = Math.round(h * dpr); }
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    var peaks = data.waveform, n = peaks.length;
    var played = duration ? t / duration : 0;
    var bar = w / Math.max(1, n);
    for (var i = 0; i < n; i++) {
      var amp = Math.max(1, peaks[i] * (h - 4));
      ctx.fillStyle = (i + 0.5) / n <= played ? "#2f6f8f" : "#b8c4cc";
      ctx.fillRect(i * bar, (h - amp) / 2, Math.max(1, bar - (bar > 2 ? 1 : 0)), amp);
    }
    ctx.fillStyle = "#1f2933";
    ctx.fillRect(Math.min(w - 1, played * w), 0, 1.5, h);
  }
  function waveSeek(ev) {
    var rect = canvas.getBoundingClientRect();
    seek((ev.clientX - rect.left) / rect.width * duration);
  }
  canvas.addEventListener("click", waveSeek);
  window.addEventListener("resize", function () { render(); });

  /* --- transcript -------------------------------------------------------------------------------- */

  var wordEls = [], wordStarts = [], wordEnds = [];
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
        wordEls.push(span); wordStarts.push(w[0]); wordEnds.push(w[1]);
        text.appendChild(span);
        text.appendChild(document.createTextNode(" "));
      });
      row.appendChild(at); row.appendChild(who); row.appendChild(text);
      frag.appendChild(row);
    });
    transcriptEl.appendChild(frag);
  })();
  transcriptEl.addEventListener("click", function (ev) {
    var el = ev.target;
    if (el.classList.contains("w")) { seek(wordStarts[Number(el.dataset.i)]); }
    else if (el.classList.contains("at")) { seek(Number(el.dataset.t)); }
  });

  function wordAt(t) {  // the last word starting at or before t, if t is inside it or its pause
    var lo = 0, hi = wordStarts.length - 1, found = -1;
    while (lo <= hi) {
      var mid = (lo + hi) >> 1;
      if (wordStarts[mid] <= t) { found = mid; lo = mid + 1; } else { hi = mid - 1; }
    }
    return found >= 0 && t <= wordEnds[found] + 0.5 ? found : -1;
  }
  var current = -1;
  function highlight(t) {
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
    drawWaveform(t);
    highlight(t);
  }
  var looping = false;
  function loop() {
    if (looping) { return; }
    looping = true;
    (function frame() {
      render();
      if (!audio.paused && !audio.ended) { requestAnimationFrame(frame); } else { looping = false; }
    })();
  }

  /* --- the rating form --------------------------------------------------------------------------- */

  var locked = data.rating.status === "submitted";
  var server = { revision: data.rating.revision, scores: data.rating.scores, notes: data.rating.notes };
  var fields = Array.prototype.slice.call(form.querySelectorAll("fieldset.item"));

  function readForm() {
    var scores = {}, markers = {};
    fields.forEach(function (fs) {
      var checked = fs.querySelector("input:checked");
      var value = checked && checked.value !== "" ? Number(checked.value) : null;
      if (fs.dataset.item) { if (value !== null) { scores[fs.dataset.item] = value; } }
      else if (value !== null) { markers[fs.dataset.marker] = value; }
    });
    if (data.markers.length) { scores.markers = markers; }
    return { scores: scores, notes: notesEl.value };
  }
  function fillForm(content) {
    var scores = content.scores || {}, markers = scores.markers || {};
    fields.forEach(function (fs) {
      var value = fs.dataset.item ? scores[fs.dataset.item] : markers[fs.dataset.marker];
      fs.querySelectorAll("input").forEach(function (input) {
        input.checked = value === undefined || value === null ? input.value === "" : Number(input.value) === Number(value);
      });
      fs.classList.toggle("answered", value !== undefined && value !== null && value !== "");
    });
    notesEl.value = content.notes || "";
  }
  function same(a, b) { return JSON.stringify(canon(a)) === JSON.stringify(canon(b)); }
  function canon(c) {
    var s = c.scores || {}, out = {};
    Object.keys(s).sort().forEach(function (k) {
      if (k === "markers") {
        var m = {};
        Object.keys(s[k] || {}).sort().forEach(function (id) { m[id] = Number(s[k][id]); });
        if (Object.keys(m).length) { out[k] = m; }
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
    fields.forEach(function (fs) {
      fs.classList.toggle("answered", !!fs.querySelector("input:checked:not([value=''])"));
    });
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

  function showProblems(list) {
    fields.forEach(function (fs) {
      fs.classList.remove("invalid");
      var p = fs.querySelector(".problem"); if (p) { p.hidden = true; }
    });
    problemsEl.hidden = !list.length;
    problemsEl.textContent = "";
    var first = null;
    list.forEach(function (text) {
      var id = String(text).split(":")[0];
      var fs = document.getElementById("item-" + id);
      if (fs) {
        fs.classList.add("invalid");
        var p = fs.querySelector(".problem");
        p.textContent = text.slice(id.length + 1).trim() === "required" ? "Please score this item."
          : text.slice(id.length + 1).trim();
        p.hidden = false;
        first = first || fs;
      }
    });
    var n = list.length;
    problemsEl.textContent = n === 1 ? "One item needs your attention." : n + " items need your attention.";
    if (first) { focusField(fields.indexOf(first)); }
  }

  function lock(current) {
    locked = true;
    root.classList.add("locked");
    if (current) { server = { revision: current.revision, scores: current.scores, notes: current.notes }; fillForm(server); }
    form.querySelectorAll("input, textarea").forEach(function (el) { el.disabled = true; });
    submitBtn.disabled = true;
    forgetLocal();
  }

  function submitRating() {
    if (locked) { return; }
    clearTimeout(timer);
    var wait = inFlight || Promise.resolve();
    wait.then(function () {
      var content = readForm();
      setState("Submitting…", "saving");
      submitBtn.disabled = true;
      post(data.urls.submit, content).then(function (body) {
        submitBtn.disabled = false;
        if (body.ok) {
          lock(body);
          problemsEl.hidden = true;
          setState("Submitted", "submitted");
          return;
        }
        if (body.httpStatus === 422) {
          setState(dirty ? "Unsaved changes" : savedAt(), dirty ? "pending" : "saved");
          showProblems(body.problems || []);
          if (dirty) { schedule(SAVE_DELAY_MS); }
        } else { handleRefusal(body, content); }
      }, function () {
        submitBtn.disabled = false;
        setState("Offline — not submitted; your draft is kept in this browser", "offline");
        schedule(retryMs);
      });
    });
  }

  form.addEventListener("change", changed);
  notesEl.addEventListener("input", changed);
  submitBtn.addEventListener("click", submitRating);
  window.addEventListener("online", function () { if (dirty) { schedule(0); } });
  window.addEventListener("pagehide", function () {
    if (!locked && dirty && !inFlight) { post(data.urls.save, readForm(), true); }
  });

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
    var inputs = Array.prototype.slice.call(fs.querySelectorAll("input"));
    var values = inputs.map(function (el) { return el.value; });
    var isMarker = !!fs.dataset.marker;
    var wanted = isMarker && digits === "0" ? "" : String(Number(digits));
    var longer = values.some(function (v) { return v !== wanted && v.indexOf(digits) === 0 && v.length > digits.length; });
    var hit = inputs.filter(function (el) { return el.value === wanted; })[0];
    if (!hit) { digits = ""; return; }
    hit.checked = true;
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
    changed();
  }

  document.addEventListener("keydown", function (ev) {
    var t = ev.target, tag = t.tagName;
    var typing = tag === "TEXTAREA" || tag === "SELECT" || (tag === "INPUT" && t.type !== "radio" && t.type !== "checkbox");
    if ((ev.ctrlKey || ev.metaKey) && ev.key === "Enter") { ev.preventDefault(); submitRating(); return; }
    if (typing) {
      if (ev.key === "Escape") { t.blur(); if (focused >= 0) { focusField(focused); } }
      return;
    }
    if (ev.ctrlKey || ev.metaKey || ev.altKey) { return; }
    var k = ev.key;
    if (k === " ") { ev.preventDefault(); togglePlay(); }
    else if (k === "ArrowLeft") { ev.preventDefault(); seek(now() - 5); }
    else if (k === "ArrowRight") { ev.preventDefault(); seek(now() + 5); }
    else if (k === "[") { stepSpeed(-1); }
    else if (k === "]") { stepSpeed(1); }
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
  render();
  window.coderRating = { flush: flush, read: readForm, server: function () { return server; } };
  root.dataset.ready = "1";
  if (window.performance && performance.mark) { performance.mark("coder-ready"); }
})();
