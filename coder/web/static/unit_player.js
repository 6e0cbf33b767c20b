// The coordinator's consensus and rating pages: the unit's audio with its transcript in step, and any
// [data-seek] button (a transcript line, a rater's event) as a place to play from.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("unit-data").textContent);
  const audio = document.getElementById("audio");
  if (!audio) return;
  const play = document.getElementById("play");
  const clock = document.getElementById("clock");
  const segments = Array.from(document.querySelectorAll("#transcript li.seg"));
  let current = null;

  function mmss(t) {
    const s = Math.max(0, Math.floor(t));
    return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
  }

  function seek(t, andPlay) {
    audio.currentTime = Math.min(Math.max(0, t), data.duration);
    if (andPlay) audio.play().catch(() => {});
  }

  function follow() {
    const t = audio.currentTime;
    clock.textContent = `${mmss(t)} / ${mmss(data.duration)}`;
    const now = segments.find((li) => t >= parseFloat(li.dataset.s) && t < parseFloat(li.dataset.e)) || null;
    if (now === current) return;
    if (current) { current.classList.remove("now"); current.removeAttribute("aria-current"); }
    current = now;
    if (current) {
      current.classList.add("now");
      current.setAttribute("aria-current", "true");
      if (!audio.paused) current.scrollIntoView({ block: "nearest" });
    }
  }

  play.addEventListener("click", () => { if (audio.paused) audio.play().catch(() => {}); else audio.pause(); });
  audio.addEventListener("play", () => { play.textContent = "Pause"; });
  audio.addEventListener("pause", () => { play.textContent = "Play"; });
  audio.addEventListener("timeupdate", follow);
  audio.addEventListener("seeked", follow);
  audio.addEventListener("error", () => { document.getElementById("audio-error").hidden = false; });
  document.getElementById("back").addEventListener("click", () => seek(audio.currentTime - 5, false));
  document.getElementById("fwd").addEventListener("click", () => seek(audio.currentTime + 5, false));
  document.getElementById("speed").addEventListener("change", (e) => { audio.playbackRate = parseFloat(e.target.value); });
  document.addEventListener("click", (event) => {
    const at = event.target.closest("[data-seek]");
    if (at) seek(parseFloat(at.dataset.seek), true);
  });
  follow();
})();
