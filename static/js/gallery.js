// Image gallery: keyboard curation.
//   ← → ↑ ↓    previous / next tile; up and down keep the column
//   Home End   first / last tile
//   a r        approve / reject, then move on to the next tile
//   u          back to unreviewed
//   s          star or unstar
//   x          select or deselect (Shift+click on checkboxes selects a range)
//   Enter      open the lightbox: full size, prompt, seed, strength, source, cost, buttons
//   Space      the same lightbox (shows the source anchor beside); ← → a r u s keep working
//              while it is open, and a swipe left or right steps through on a touch screen
//   Escape     close the lightbox, else the help, else clear the selection
// → on the last tile of a page (or a / r there) loads the next page and goes on.
//   ?          show or hide the key help
// Everything is bound once on the document, so htmx may replace #gallery or single tiles freely.
(function () {
  "use strict";
  const root = document.documentElement;
  // A second copy of this script (e.g. inside an htmx partial) would bind every key twice.
  if (root.hasAttribute("data-gallery-keys")) return;
  root.setAttribute("data-gallery-keys", "");

  const REVIEWS = { a: "approved", r: "rejected", u: "unreviewed" };
  const MOVES = ["ArrowLeft", "ArrowRight", "ArrowUp", "ArrowDown", "Home", "End"];
  const ACTIONS = [" ", "Enter", "a", "r", "u", "s", "x"];
  const SIZES = ["s", "m", "l"];
  const NO_SOURCE = "No source anchor: this is a candidate or an upload.";
  let gallery = null;
  let bar = null;
  let dialog = null;
  let current = null; // the tile the keys act on
  let anchorId = null; // image id of the last clicked checkbox, for Shift+click ranges
  let compared = null; // the tile shown in the lightbox
  let loadingNext = false;

  function tiles() {
    return gallery ? Array.from(gallery.querySelectorAll(".tile")) : [];
  }

  function tileById(id) {
    return gallery && id ? gallery.querySelector('.tile[data-image-id="' + CSS.escape(id) + '"]') : null;
  }

  function currentTile() {
    if (current && current.isConnected) return current;
    const active = document.activeElement;
    current = active && gallery && gallery.contains(active) ? active.closest(".tile") : null;
    return current;
  }

  function markCurrent(tile) {
    gallery.querySelectorAll(".tile.focused").forEach(function (t) {
      if (t !== tile) t.classList.remove("focused");
    });
    tile.classList.add("focused");
    current = tile;
  }

  function focusTile(tile, scroll) {
    if (!tile) return;
    markCurrent(tile);
    if (dialog && dialog.open) {
      showCompare(tile); // the page behind a modal dialog is inert: focus returns on close
    } else if (!tile.contains(document.activeElement)) {
      tile.focus({ preventScroll: true });
    }
    if (scroll !== false) tile.scrollIntoView({ block: "nearest" });
  }

  // The next page of the gallery, when the user moves on from its last tile.
  function loadNextPage() {
    const url = gallery && gallery.dataset.nextPage;
    if (!url || loadingNext || !window.htmx) return;
    loadingNext = true;
    setStatus("");
    window.htmx.ajax("GET", url, { target: "#gallery-region", swap: "outerHTML" }).then(function () {
      loadingNext = false;
      history.replaceState(history.state, "", url);
      const first = tiles()[0];
      if (first) focusTile(first);
    }, function () {
      loadingNext = false;
      setStatus("Could not load the next page. Check your connection and try again.");
    });
  }

  function atEnd(tile) {
    const all = tiles();
    return all.length > 0 && all.indexOf(tile) === all.length - 1;
  }

  function moveRight() {
    const tile = currentTile();
    if (tile && atEnd(tile) && gallery.dataset.nextPage) loadNextPage();
    else focusTile(neighbour("ArrowRight"));
  }

  function neighbour(key) {
    const all = tiles();
    const i = all.indexOf(currentTile());
    if (i < 0) return all[0];
    const last = all.length - 1;
    const cols = all.filter(function (t) { return t.offsetTop === all[0].offsetTop; }).length || 1;
    switch (key) {
      case "ArrowLeft": return all[Math.max(i - 1, 0)];
      case "ArrowRight": return all[Math.min(i + 1, last)];
      case "ArrowUp": return all[i - cols] || all[i];
      // From a column the shorter last row lacks, Down lands on the last tile.
      case "ArrowDown": return all[i + cols] || (Math.floor(i / cols) < Math.floor(last / cols) ? all[last] : all[i]);
      case "Home": return all[0];
      default: return all[last];
    }
  }

  function setStatus(text) {
    const status = document.getElementById("gallery-status");
    if (status) status.textContent = text;
  }

  function post(url, params) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Content-Type": "application/x-www-form-urlencoded",
        "X-CSRFToken": gallery.dataset.csrf || "",
        "HX-Request": "true",
      },
      body: params.toString(),
    });
  }

  // The server's own words when it sent a short message; a generic hint for error pages.
  async function failureText(res, what) {
    let text = (await res.text().catch(function () { return ""; })).trim();
    if (text.startsWith("<")) text = (new DOMParser().parseFromString(text, "text/html").body.textContent || "").trim();
    if (!text || text.length > 300) text = what + " failed (HTTP " + res.status + "). Reload the page and try again.";
    return text;
  }

  function setSelected(tile, on) {
    tile.classList.toggle("selected", on);
    const box = tile.querySelector(".tile-select");
    if (box) box.checked = on;
  }

  function updateBar() {
    if (!bar) return;
    const n = gallery ? gallery.querySelectorAll(".tile.selected").length : 0;
    const count = bar.querySelector(".bulk-count");
    if (count) count.textContent = n + " selected";
    bar.classList.toggle("active", n > 0);
  }

  function clearSelection() {
    tiles().forEach(function (t) { setSelected(t, false); });
    anchorId = null;
    updateBar();
  }

  function replaceTile(old, html) {
    const template = document.createElement("template");
    template.innerHTML = html.trim();
    const fresh = template.content.firstElementChild;
    if (!fresh || !fresh.classList.contains("tile")) {
      old.classList.remove("pending");
      return;
    }
    const wasCurrent = old === current;
    const hadFocus = old.contains(document.activeElement);
    const selected = old.classList.contains("selected");
    old.replaceWith(fresh);
    if (window.htmx) window.htmx.process(fresh); // the tile may carry hx- attributes of its own
    setSelected(fresh, selected);
    if (!wasCurrent) return;
    markCurrent(fresh);
    if (dialog && dialog.open) showCompare(fresh);
    else if (hadFocus || document.activeElement === document.body) fresh.focus({ preventScroll: true });
  }

  // Saves one change to one tile. After a and r the user moves on at once; the answer
  // replaces the tile wherever it is, and focus only follows it if the user is still there.
  // Changes of one image are saved one after another, in the order the keys were pressed: a
  // key pressed while an earlier change is still being saved (s, then a at once) waits for it
  // instead of being lost.
  const saving = new Map(); // image id → its last change, being saved

  function change(tile, fields, moveOn) {
    const id = tile.dataset.imageId;
    // From the last tile, the next page is loaded once this change is saved: loaded before,
    // a filtered page could still show the image just reviewed.
    const nextPageAfter = moveOn && currentTile() === tile && atEnd(tile) && Boolean(gallery.dataset.nextPage);
    if (moveOn && currentTile() === tile && !nextPageAfter) moveRight();
    tile.classList.remove("error");
    tile.classList.add("pending");
    const run = function () { return save(tile, id, fields, nextPageAfter); };
    const saved = (saving.get(id) || Promise.resolve()).then(run, run);
    saving.set(id, saved);
    saved.finally(function () {
      if (saving.get(id) === saved) saving.delete(id);
    });
  }

  async function save(tile, id, fields, nextPageAfter) {
    const template = gallery.dataset.reviewUrlTemplate;
    const at = template.lastIndexOf("/0/"); // the image's slot, even if a slug were "0"
    const url = template.slice(0, at) + "/" + id + "/" + template.slice(at + 3);
    const here = function () { return tile.isConnected ? tile : tileById(id); };
    if (here()) here().classList.add("pending"); // an earlier answer may have replaced it
    let res;
    try {
      res = await post(url, new URLSearchParams(fields));
      if (!res.ok) throw new Error(await failureText(res, "Saving image " + id));
      const html = await res.text();
      if (here()) replaceTile(here(), html);
    } catch (err) {
      const failed = here();
      if (failed) {
        failed.classList.remove("pending");
        failed.classList.add("error");
      }
      setStatus(res ? err.message : "Could not reach the server to save image " + id + ". Check your connection and try again.");
      return;
    }
    setStatus("");
    document.body.dispatchEvent(new CustomEvent("curation-changed", { bubbles: true }));
    if (nextPageAfter) loadNextPage();
  }

  async function bulk(value) {
    const chosen = gallery.querySelectorAll(".tile.selected");
    if (!chosen.length) return;
    const params = new URLSearchParams({ review: value });
    chosen.forEach(function (t) { params.append("image", t.dataset.imageId); });
    const buttons = bar.querySelectorAll("button");
    buttons.forEach(function (b) { b.disabled = true; });
    const res = await post(gallery.dataset.bulkUrl, params).catch(function () { return null; });
    if (res && res.ok) {
      const tile = currentTile();
      history.replaceState(history.state, "", location.pathname + location.search + (tile ? "#image-" + tile.dataset.imageId : ""));
      location.reload();
      return;
    }
    buttons.forEach(function (b) { b.disabled = false; });
    setStatus(res ? await failureText(res, "Updating " + chosen.length + " images") : "Could not reach the server. Check your connection and try again.");
  }

  // A fresh <img> per image: reusing one would keep showing the previous picture until the
  // next has loaded, and a key pressed meanwhile would judge the wrong one.
  function setImage(figure, url, alt) {
    const old = figure.querySelector("img");
    if (url && old.getAttribute("src") === url) return;
    const img = old.cloneNode(false);
    img.removeAttribute("src");
    if (url) img.src = url;
    if (alt !== undefined) img.alt = alt;
    old.replaceWith(img);
  }

  function setText(selector, text) {
    const el = dialog.querySelector(selector);
    if (el) el.textContent = text || "—";
  }

  function showCompare(tile) {
    compared = tile;
    const d = tile.dataset;
    setText(".lb-label", d.label);
    setText(".lb-prompt", d.prompt);
    setText(".lb-seed", d.seed);
    setText(".lb-strength", d.strength);
    setText(".lb-source", d.sourceLabel);
    setText(".lb-cost", d.cost);
    setText(".lb-likeness", d.likeness);
    const run = dialog.querySelector(".lb-run");
    if (run) {
      run.textContent = "";
      if (d.runUrl) {
        const link = document.createElement("a");
        link.href = d.runUrl;
        link.textContent = "Run #" + d.run;
        run.appendChild(link);
      } else run.textContent = "—";
    }
    const badge = dialog.querySelector(".lb-review");
    if (badge) {
      const review = d.review || "unreviewed";
      badge.className = "badge lb-review " + review;
      badge.textContent = review.charAt(0).toUpperCase() + review.slice(1) + (d.starred === "true" ? " ★" : "");
    }
    const caption = dialog.querySelector(".compare-image figcaption");
    if (caption) caption.textContent = d.sourceUrl ? "This image" : d.label || "";
    const source = tile.dataset.sourceUrl || "";
    const sourceFigure = dialog.querySelector(".compare-source");
    const thumb = tile.querySelector("img");
    sourceFigure.hidden = !source;
    setImage(sourceFigure, source);
    setImage(dialog.querySelector(".compare-image"), tile.dataset.fullUrl, thumb ? thumb.alt : "");
    dialog.querySelector(".compare-help").textContent = source ? "" : NO_SOURCE;
    dialog.dataset.review = tile.dataset.review || "";
    dialog.dataset.starred = tile.dataset.starred || "false";
    const next = tile.nextElementSibling;
    if (next && next.classList.contains("tile")) new Image().src = next.dataset.fullUrl; // warm the cache for →
  }

  // The browser puts focus back on the tile that opened the dialog; go to the one it showed last.
  function afterCompare() {
    if (compared) focusTile(compared.isConnected ? compared : tileById(compared.dataset.imageId));
    compared = null;
  }

  function closeCompare() {
    dialog.close();
    afterCompare(); // now, not on the "close" event a task later: the next key must find its tile
  }

  function openLightbox(tile) {
    if (!dialog || !tile) return;
    markCurrent(tile);
    showCompare(tile);
    if (!dialog.open) dialog.showModal();
  }

  // Returns true when the key was handled.
  function handle(key, comparing, repeat) {
    const help = document.getElementById("gallery-help");
    if (key === "Escape") {
      if (comparing) closeCompare();
      else if (help && !help.hidden) help.hidden = true;
      else clearSelection();
      return true;
    }
    if (MOVES.includes(key)) {
      if (comparing && key !== "ArrowLeft" && key !== "ArrowRight") return false;
      if (key === "ArrowRight") moveRight();
      else focusTile(neighbour(key));
      return true;
    }
    if (key === "?" && help && !comparing) {
      help.hidden = !help.hidden;
      return true;
    }
    const tile = currentTile();
    if (!tile || !ACTIONS.includes(key)) return false;
    if (repeat) return true; // holding a key down must not approve a whole row
    if (key === " " || key === "Enter") {
      if (comparing) closeCompare();
      else openLightbox(tile);
    } else if (key in REVIEWS) {
      // With images selected (x, shift-click), a review key judges the selection, as the
      // bulk bar's buttons do; otherwise the image in focus.
      if (!comparing && gallery.querySelector(".tile.selected")) bulk(REVIEWS[key]);
      else change(tile, { review: REVIEWS[key] }, key !== "u");
    } else if (key === "s") {
      change(tile, { starred: tile.dataset.starred === "true" ? "false" : "true" }, false);
    } else {
      setSelected(tile, !tile.classList.contains("selected"));
      anchorId = tile.dataset.imageId;
      updateBar();
    }
    return true;
  }

  document.addEventListener("keydown", function (e) {
    if (!gallery || !gallery.isConnected || e.defaultPrevented || e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    const onTileBox = t.matches && t.matches(".tile .tile-select") && gallery.contains(t);
    if (!onTileBox && (t.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(t.tagName))) return;
    const comparing = Boolean(dialog && dialog.open);
    // Enter or Space on a lightbox button presses that button (the browser clicks it).
    if (comparing && (e.key === "Enter" || e.key === " ") && t.closest && t.closest("#lightbox button")) return;
    const help = document.getElementById("gallery-help");
    const inScope = gallery.contains(t) || t === document.body || t === root || (help && help.contains(t));
    if (!comparing && !inScope) return; // keys on other controls (nav, forms, the bulk bar) are theirs
    const key = e.key.length === 1 ? e.key.toLowerCase() : e.key;
    if (handle(key, comparing, e.repeat)) e.preventDefault();
  });

  // Space on a focused tile checkbox would otherwise tick it on key-up.
  document.addEventListener("keyup", function (e) {
    if (e.key === " " && e.target.matches && e.target.matches(".tile .tile-select")) e.preventDefault();
  });

  document.addEventListener("click", function (e) {
    if (!gallery) return;
    const t = e.target;
    if (dialog && t === dialog && dialog.open) {
      const r = dialog.getBoundingClientRect();
      const outside = e.clientX < r.left || e.clientX > r.right || e.clientY < r.top || e.clientY > r.bottom;
      if (outside) closeCompare(); // a click on the backdrop
      return;
    }
    const lightboxButton = dialog && dialog.open ? t.closest("#lightbox [data-key]") : null;
    if (lightboxButton) {
      handle(lightboxButton.dataset.key, true, false);
      return;
    }
    const sizeButton = t.closest(".size-control [data-size]");
    if (sizeButton) {
      setSize(sizeButton.dataset.size, true);
      return;
    }
    const quick = t.closest(".tile [data-quick]");
    if (quick) {
      const quickTile = quick.closest(".tile");
      markCurrent(quickTile);
      change(quickTile, { review: quick.dataset.quick }, false);
      return;
    }
    const bulkButton = t.closest("#bulk-bar [data-bulk]");
    if (bulkButton) {
      bulk(bulkButton.dataset.bulk);
      return;
    }
    if (t.closest("#bulk-bar [data-bulk-clear]")) {
      clearSelection();
      if (currentTile()) focusTile(current, false);
      return;
    }
    const tile = t.closest(".tile");
    if (!tile || !gallery.contains(tile)) return;
    const box = t.closest(".tile-select");
    if (box) {
      const all = tiles();
      const anchor = tileById(anchorId);
      if (e.shiftKey && anchor && anchor !== tile) {
        const ends = [all.indexOf(anchor), all.indexOf(tile)].sort(function (p, q) { return p - q; });
        all.slice(ends[0], ends[1] + 1).forEach(function (x) { setSelected(x, true); });
      } else {
        setSelected(tile, box.checked);
      }
      anchorId = tile.dataset.imageId;
      updateBar();
      focusTile(tile, false);
      return;
    }
    focusTile(tile, false);
    if (t.closest("img")) openLightbox(tile); // a click on the picture shows it large
  });

  // Swipe left or right on the lightbox steps through the images (touch review).
  let touchStart = null;
  document.addEventListener("touchstart", function (e) {
    if (!dialog || !dialog.open || !dialog.contains(e.target) || e.touches.length !== 1) return;
    touchStart = { x: e.touches[0].clientX, y: e.touches[0].clientY };
  }, { passive: true });
  document.addEventListener("touchend", function (e) {
    if (!touchStart || !dialog || !dialog.open) return;
    const dx = e.changedTouches[0].clientX - touchStart.x;
    const dy = e.changedTouches[0].clientY - touchStart.y;
    touchStart = null;
    if (Math.abs(dx) < 50 || Math.abs(dx) < Math.abs(dy) * 1.5) return;
    handle(dx < 0 ? "ArrowRight" : "ArrowLeft", true, false);
  }, { passive: true });

  // Thumbnail size, remembered in this browser.
  function setSize(size, save) {
    if (!SIZES.includes(size) || !gallery) return;
    SIZES.forEach(function (s) { gallery.classList.toggle("size-" + s, s === size); });
    document.querySelectorAll(".size-control [data-size]").forEach(function (b) {
      b.setAttribute("aria-pressed", String(b.dataset.size === size));
    });
    if (save) {
      try { localStorage.setItem("gallery-size", size); } catch (err) { /* private mode: not remembered */ }
    }
  }

  function savedSize() {
    try { return localStorage.getItem("gallery-size") || "m"; } catch (err) { return "m"; }
  }

  document.addEventListener("focusin", function (e) {
    const tile = gallery && e.target.closest ? e.target.closest(".tile") : null;
    if (tile && gallery.contains(tile)) markCurrent(tile);
  });

  // Closed some other way (a form method=dialog, the browser). "close" does not bubble; a
  // capturing listener still sees it.
  document.addEventListener("close", function (e) {
    if (e.target === dialog) afterCompare();
  }, true);

  function init(fromLoad) {
    gallery = document.getElementById("gallery");
    bar = document.getElementById("bulk-bar");
    dialog = document.getElementById("lightbox");
    current = null;
    anchorId = null;
    if (!gallery) return;
    setSize(savedSize(), false);
    // Start from what the server rendered, not from a checkbox state the browser restored.
    tiles().forEach(function (t) { setSelected(t, t.classList.contains("selected")); });
    updateBar();
    const active = document.activeElement;
    if (active && active !== document.body && active !== root) return; // don't steal focus
    // After a bulk change the page reloads with #image-<id> to keep the user's place.
    const match = fromLoad === true && /^#image-([\w-]+)$/.exec(location.hash);
    const named = match ? tileById(match[1]) : null;
    if (named) focusTile(named);
    else if (tiles().length) focusTile(tiles()[0], false);
  }

  // Not htmx:afterSwap: until settling ends htmx leaves the old tiles' classes on new tiles
  // with the same id (image-123), so a selection or focus mark set then would be undone.
  document.addEventListener("htmx:afterSettle", function (e) {
    const found = document.getElementById("gallery");
    const target = e.detail && e.detail.target;
    if (!found) return;
    if (found !== gallery || target === found || (target && target.contains && target.contains(found))) init();
  });

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", function () { init(true); });
  else init(true);
})();
