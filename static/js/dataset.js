// The dataset page's filters: show the images of a shot type, source or flag, count them, and
// send the shown ones to "Include shown" / "Exclude shown" (htmx posts the form; the changed
// tiles, the counts and the balance plan come back as out-of-band swaps).
(function () {
  "use strict";
  const form = document.getElementById("ds-filters");
  if (!form) return;
  const shown = form.querySelector(".ds-shown");

  function tiles() {
    return Array.from(document.querySelectorAll(".ds-grid .ds-item"));
  }

  function matches(tile) {
    const shot = form.elements["f-shot"].value;
    const source = form.elements["f-source"].value;
    const flag = form.elements["f-flag"].value;
    if (shot && tile.dataset.shot !== shot) return false;
    if (source && tile.dataset.source !== source) return false;
    if (flag && !(tile.dataset.flags || "").split(" ").includes(flag)) return false;
    return true;
  }

  function apply() {
    const all = tiles();
    let count = 0;
    all.forEach((tile) => {
      const keep = matches(tile);
      tile.hidden = !keep;
      if (keep) count += 1;
    });
    shown.textContent = count === all.length ? "Showing all " + all.length : "Showing " + count + " of " + all.length;
    form.querySelectorAll(".ds-bulk button").forEach((button) => {
      button.disabled = count === 0;
    });
  }

  form.addEventListener("change", apply);
  // The shown tiles go with the bulk request (never the hidden ones).
  form.addEventListener("htmx:configRequest", (event) => {
    event.detail.parameters["item_ids"] = tiles()
      .filter((tile) => !tile.hidden)
      .map((tile) => tile.dataset.itemId);
  });
  document.body.addEventListener("htmx:afterSettle", apply);
  apply();
})();
