// reelforge's dashboard: live badges (server-sent events), gallery filters, spritesheet
// scrubbing, playing a clip, and the actions (POST with the page's CSRF token).
// Plain script, no build step; every text set from data goes through textContent.
"use strict";

(function () {
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const csrfHeader = document.querySelector('meta[name="csrf-header"]').content;
  const live = document.getElementById("live");
  const toast = document.getElementById("toast");

  function say(text, bad) {
    toast.textContent = text;
    toast.classList.toggle("bad", Boolean(bad));
    toast.hidden = false;
    clearTimeout(say.timer);
    say.timer = setTimeout(function () { toast.hidden = true; }, 4000);
  }

  function setBadge(el, state) {
    if (!el) return;
    el.textContent = state;
    el.className = el.className.replace(/\bstate-[a-z_]+/g, "").trim() + " state-" + state;
  }

  // -- progress bars (widths set here: the page's policy allows no inline style) -------------
  document.querySelectorAll(".fill[data-percent]").forEach(function (el) {
    el.style.width = el.dataset.percent + "%";
  });

  const gallery = document.getElementById("gallery");

  // -- live updates ---------------------------------------------------------------------------
  function onJob(data) {
    document.querySelectorAll('[data-job-id="' + CSS.escape(data.job_id) + '"]').forEach(function (el) {
      el.dataset.state = data.state;
      setBadge(el.querySelector('[data-role="state"]'), data.state);
      const progress = el.querySelector('[data-role="progress"]');
      if (progress) progress.textContent = data.state !== "done" && data.progress ? data.progress + "%" : "";
      const cost = el.querySelector('[data-role="cost"]');
      if (cost && data.cost !== null) cost.textContent = "$" + Number(data.cost).toFixed(2);
      if (data.review) {
        const review = el.querySelector('[data-role="review"]');
        if (review) {
          review.textContent = data.review.verdict;
          review.className = "review verdict-" + data.review.verdict;
        }
      }
    });
    const timeline = document.getElementById("timeline");
    const page = document.querySelector("article.job");
    if (timeline && page && page.dataset.jobId === data.job_id) {
      const li = document.createElement("li");
      li.className = "kind-" + data.kind + " fresh";
      li.dataset.eventId = data.event_id;
      const time = document.createElement("time");
      time.textContent = new Date().toISOString().replace("T", " ").slice(0, 19) + " UTC";
      const kind = document.createElement("span");
      kind.className = "kind";
      kind.textContent = data.kind;
      const badge = document.createElement("span");
      badge.className = "badge state-" + data.state;
      badge.textContent = data.state;
      li.append(time, " ", kind, " ", badge);
      if (data.review) li.append(" " + data.review.verdict + (data.review.note ? " — " + data.review.note : ""));
      timeline.append(li);
    }
    if (gallery && data.batch_id === gallery.dataset.galleryBatch) {
      const card = gallery.querySelector('article.card[data-job-id="' + CSS.escape(data.job_id) + '"]');
      // A card new to the page, or one that just got its files: fetch it as it is now.
      if (!card || (data.state === "done" && !card.querySelector("img.thumb"))) refreshCard(data.job_id);
      offerState(data.state);
    }
    if (gallery) applyFilters();
  }

  // -- gallery: cards swapped in as their jobs end ---------------------------------------------
  const refreshing = {};

  function refreshCard(jobId) {
    if (refreshing[jobId]) { refreshing[jobId] = "again"; return; }
    refreshing[jobId] = true;
    const url = "/batches/" + encodeURIComponent(gallery.dataset.galleryBatch) + "/cards/" + encodeURIComponent(jobId);
    fetch(url, { credentials: "same-origin" })
      .then(function (answer) { return answer.ok ? answer.text() : null; })
      .then(function (html) {
        if (html === null) return;
        const holder = document.createElement("template");
        holder.innerHTML = html;
        const fresh = holder.content.querySelector("article.card");
        if (!fresh) return;
        const old = gallery.querySelector('article.card[data-job-id="' + CSS.escape(jobId) + '"]');
        if (old && old.querySelector(".media.playing")) return;  // never interrupt a clip
        if (old) old.replaceWith(fresh); else gallery.append(fresh);
        wireCard(fresh);
        applyFilters();
      })
      .catch(function (err) { say("cannot refresh a card: " + err.message, true); })
      .finally(function () {
        const again = refreshing[jobId] === "again";
        delete refreshing[jobId];
        if (again) refreshCard(jobId);
      });
  }

  function offerState(state) {
    const select = document.querySelector('select[data-filter="state"]');
    if (!select || Array.from(select.options).some(function (o) { return o.value === state; })) return;
    const option = document.createElement("option");
    option.value = state;
    option.textContent = state;
    select.append(option);
  }

  const announced = {};

  function onBatch(data) {
    const rows = document.querySelectorAll('[data-batch-id="' + CSS.escape(data.batch_id) + '"]');
    if (!rows.length && document.body.dataset.page === "index" && !announced[data.batch_id]) {
      announced[data.batch_id] = true;
      say("new batch " + data.batch_id + ": reload to see it");
    }
    rows.forEach(function (el) {
      const counts = el.querySelector(".counts");
      if (counts) {
        counts.replaceChildren();
        Object.entries(data.counts).forEach(function (pair) {
          const badge = document.createElement("span");
          badge.className = "badge state-" + pair[0];
          badge.dataset.countState = pair[0];
          badge.textContent = pair[0] + " " + pair[1];
          counts.append(badge, " ");
        });
      }
      const cost = el.querySelector(".cost");
      if (cost) cost.textContent = "$" + Number(data.cost).toFixed(2);
      const finished = el.querySelector(".finished");
      if (finished) {
        const ended = ["done", "failed", "rejected", "canceled", "needs_review"];
        let n = 0;
        ended.forEach(function (s) { n += data.counts[s] || 0; });
        finished.textContent = n;
        const fill = el.querySelector(".fill");
        if (fill && data.total) fill.style.width = Math.round((100 * n) / data.total) + "%";
      }
    });
  }

  function connect() {
    const source = new EventSource("/stream?after=" + encodeURIComponent(document.body.dataset.cursor || "0"));
    source.onopen = function () { live.textContent = "live"; live.className = "live on"; };
    source.onerror = function () { live.textContent = "reconnecting…"; live.className = "live off"; };
    source.addEventListener("job", function (e) {
      document.body.dataset.cursor = e.lastEventId;
      onJob(JSON.parse(e.data));
    });
    source.addEventListener("batch", function (e) { onBatch(JSON.parse(e.data)); });
    window.addEventListener("pagehide", function () { source.close(); });
  }
  connect();

  // -- gallery: filters -------------------------------------------------------------------------
  const selects = Array.from(document.querySelectorAll("select[data-filter]"));

  function matches(card) {
    return selects.every(function (select) {
      const want = select.value;
      if (!want) return true;
      const what = select.dataset.filter;
      if (what === "state") return card.dataset.state === want;
      if (what === "provider") return card.dataset.provider === want;
      const name = what.slice(4);
      return Object.keys(card.dataset).some(function (key) {
        return key.indexOf("dim") === 0 && card.dataset[key] === name + "=" + want;
      });
    });
  }

  function applyFilters() {
    if (!gallery) return;
    const cards = Array.from(gallery.querySelectorAll(".card"));
    let shown = 0;
    cards.forEach(function (card) {
      const ok = matches(card);
      card.hidden = !ok;
      if (ok) shown += 1;
    });
    document.getElementById("shown").textContent = shown + " of " + cards.length;
  }
  selects.forEach(function (s) { s.addEventListener("change", applyFilters); });

  // -- gallery: scrubbing the spritesheet, playing the clip --------------------------------------
  function wireCard(card) {
    card.querySelectorAll(".media[data-sprite]").forEach(function (media) {
      const scrub = media.querySelector(".scrub");
      const columns = Number(media.dataset.spriteColumns);
      const rows = Number(media.dataset.spriteRows);
      const tiles = columns * rows;
      scrub.style.backgroundImage = 'url("' + media.dataset.sprite + '")';
      scrub.style.backgroundSize = columns * 100 + "% " + rows * 100 + "%";
      media.addEventListener("mousemove", function (e) {
        if (media.classList.contains("playing")) return;
        const box = media.getBoundingClientRect();
        const share = Math.min(0.999, Math.max(0, (e.clientX - box.left) / box.width));
        const tile = Math.floor(share * tiles);
        const col = tile % columns;
        const row = Math.floor(tile / columns);
        scrub.style.backgroundPosition =
          (columns > 1 ? (col * 100) / (columns - 1) : 0) + "% " + (rows > 1 ? (row * 100) / (rows - 1) : 0) + "%";
        scrub.dataset.tile = tile;
        scrub.hidden = false;
      });
      media.addEventListener("mouseleave", function () { scrub.hidden = true; });
    });
    card.querySelectorAll(".media[data-video]").forEach(function (media) {
      media.addEventListener("keydown", function (e) {
        if (e.key === "Enter" || e.key === " ") { e.preventDefault(); media.click(); }
      });
      media.addEventListener("click", function () {
        if (media.classList.contains("playing")) return;
        media.classList.add("playing");
        const video = document.createElement("video");
        video.src = media.dataset.video;
        video.controls = true;
        video.muted = true;
        video.playsInline = true;
        video.autoplay = true;
        media.querySelector(".scrub").hidden = true;
        media.append(video);
        video.play().catch(function (err) { say("cannot play: " + err.message, true); });
      });
    });
  }
  if (gallery) gallery.querySelectorAll("article.card").forEach(wireCard);

  // -- actions ------------------------------------------------------------------------------------
  document.querySelectorAll("form.action").forEach(function (form) {
    form.addEventListener("submit", async function (e) {
      e.preventDefault();
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
      const body = {};
      new FormData(form).forEach(function (v, k) { if (k !== "csrf_token") body[k] = v; });
      if (e.submitter && e.submitter.name) body[e.submitter.name] = e.submitter.value;
      const headers = { "content-type": "application/json" };
      headers[csrfHeader] = csrf;
      try {
        const answer = await fetch(form.dataset.action, {
          method: "POST", headers: headers, body: JSON.stringify(body), credentials: "same-origin",
        });
        const data = await answer.json();
        if (!answer.ok) { say(data.error || "refused (" + answer.status + ")", true); return; }
        if (data.review) say("recorded: " + data.review.verdict);
        else if (data.outcome) say("cancel: " + data.outcome);
        else if (data.workflow_id) say("woke " + data.workflow_id);
        else if (data.retried !== undefined) say(data.retried + " job(s) sent back to the queue");
        else say("done");
        const note = form.querySelector("textarea");
        if (note) note.value = "";
      } catch (err) {
        say("failed: " + err.message, true);
      }
    });
  });
})();
