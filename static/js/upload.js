// Drag-and-drop uploads on the character page: one request per file (so one bad file never
// spoils the others), a progress bar per file, then its outcome once the worker has ingested it.
(function () {
  "use strict";
  const section = document.getElementById("upload");
  if (!section) return;
  const input = section.querySelector("input[type=file]");
  const zone = section.querySelector(".dropzone");
  const list = section.querySelector(".upload-list");
  const url = section.dataset.uploadUrl;
  const csrf = section.dataset.csrf;
  const summary = section.querySelector(".upload-summary");
  const outcomes = new Map(); // one entry per file sent: its latest outcome

  // "12 accepted, 5 with warnings, 1 duplicate, 3 rejected": the batch at a glance.
  function summarise() {
    const counts = { accepted: 0, warned: 0, duplicate: 0, rejected: 0, checking: 0 };
    outcomes.forEach((result) => {
      if (result.outcome === "accepted") {
        counts.accepted += 1;
        if (result.warnings && result.warnings.length) counts.warned += 1;
      } else if (result.outcome === "duplicate" || result.outcome === "rejected") {
        counts[result.outcome] += 1;
      } else {
        counts.checking += 1;
      }
    });
    const parts = [counts.accepted + " accepted"];
    if (counts.warned) parts.push(counts.warned + " with warnings");
    if (counts.duplicate) parts.push(counts.duplicate + " duplicate" + (counts.duplicate === 1 ? "" : "s"));
    if (counts.rejected) parts.push(counts.rejected + " rejected");
    if (counts.checking) parts.push(counts.checking + " still being checked");
    summary.textContent = parts.join(", ") + (counts.accepted ? ". Approve them in the gallery to use them in a dataset." : ".");
    summary.classList.toggle("has-warnings", counts.warned > 0);
    summary.hidden = false;
  }

  function row(file) {
    const item = document.createElement("li");
    item.className = "upload-item";
    const name = document.createElement("span");
    name.className = "upload-name";
    name.textContent = file.name;
    const bar = document.createElement("progress");
    bar.max = 100;
    bar.value = 0;
    const outcome = document.createElement("span");
    outcome.className = "upload-outcome";
    outcome.textContent = "Uploading…";
    item.append(name, bar, outcome);
    list.prepend(item);
    return { item, bar, outcome };
  }

  function show(view, result) {
    outcomes.set(view, result);
    summarise();
    view.bar.hidden = true;
    view.item.dataset.outcome = result.outcome;
    view.item.classList.toggle("has-warnings", Boolean(result.warnings && result.warnings.length));
    view.outcome.textContent = "";
    if (result.outcome === "queued") {
      view.outcome.textContent = "Checking…";
      return;
    }
    if (result.thumbnail_url && result.outcome !== "rejected") {
      const img = document.createElement("img");
      img.src = result.thumbnail_url;
      img.alt = "";
      img.className = "upload-thumb";
      view.outcome.append(img);
    }
    const text = document.createElement("span");
    if (result.outcome === "accepted") {
      const shots = { close: "close-up", mid: "mid shot", far: "far shot" };
      const shot = shots[result.shot_type] ? " · " + shots[result.shot_type] + ", " + result.shot_source.toLowerCase() : " · shot type unknown (no face found)";
      text.textContent = "Accepted as image #" + result.image_id + shot + ", waiting for review";
      (result.warnings || []).forEach((note) => {
        const badge = document.createElement("span");
        badge.className = "badge warn";
        badge.textContent = note;
        text.append(" ", badge);
      });
    } else if (result.outcome === "duplicate") {
      text.textContent = "Duplicate of image #" + result.image_id + ": not added again.";
    } else {
      text.textContent = "Rejected: " + result.reason;
    }
    view.outcome.append(text);
  }

  function follow(view, id, delay) {
    fetch("/api/uploads/" + id, { headers: { Accept: "application/json" }, credentials: "same-origin" })
      .then((response) => (response.ok ? response.json() : Promise.reject(response.status)))
      .then((result) => {
        show(view, result);
        if (result.outcome === "queued") setTimeout(() => follow(view, id, Math.min(delay * 1.5, 3000)), delay);
      })
      .catch(() => setTimeout(() => follow(view, id, 3000), 3000));
  }

  function send(file) {
    const view = row(file);
    outcomes.set(view, { outcome: "queued" });
    summarise();
    const form = new FormData();
    form.append("files", file, file.name);
    const request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("X-CSRFToken", csrf);
    request.setRequestHeader("Accept", "application/json");
    request.upload.addEventListener("progress", (event) => {
      if (event.lengthComputable) view.bar.value = Math.round((100 * event.loaded) / event.total);
    });
    request.addEventListener("load", () => {
      let body = null;
      try {
        body = JSON.parse(request.responseText);
      } catch (error) {
        body = null;
      }
      if (request.status === 429) {
        // Past the upload quota: wait as long as the server says, then send it again.
        const wait = parseInt(request.getResponseHeader("Retry-After") || "60", 10);
        view.bar.hidden = true;
        view.outcome.textContent = "Waiting " + wait + " s: the upload quota is used up for now…";
        setTimeout(() => { view.item.remove(); send(file); }, wait * 1000);
        return;
      }
      if (request.status === 202 && Array.isArray(body) && body.length) {
        show(view, body[0]);
        if (body[0].outcome === "queued") follow(view, body[0].id, 400);
      } else {
        const detail = body && body.detail ? (typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail)) : "the server answered " + request.status;
        show(view, { outcome: "rejected", reason: detail });
      }
    });
    request.addEventListener("error", () => show(view, { outcome: "rejected", reason: "the upload did not reach the server; try again." }));
    request.send(form);
  }

  function sendAll(files) {
    Array.from(files).forEach(send);
  }

  input.addEventListener("change", () => {
    // Chosen from "Add photos" at the top of the page: show where their progress is.
    if (input.files.length) section.scrollIntoView({ behavior: "smooth", block: "start" });
    sendAll(input.files);
    input.value = "";
  });
  ["dragenter", "dragover"].forEach((type) =>
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.add("dragging");
    })
  );
  ["dragleave", "drop"].forEach((type) =>
    zone.addEventListener(type, (event) => {
      event.preventDefault();
      zone.classList.remove("dragging");
    })
  );
  zone.addEventListener("drop", (event) => sendAll(event.dataTransfer.files));
})();
