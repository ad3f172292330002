// Compare LoRA versions: side by side, or one at a time flipped with the arrow keys.
(function () {
  const root = document.querySelector("[data-compare]");
  if (!root) return;
  const heads = Array.from(root.querySelectorAll("thead th[data-col]"));
  const count = heads.length;
  const label = root.querySelector("[data-compare-current]");
  const toggle = root.querySelector("[data-compare-mode]");
  let current = 0;

  function show() {
    root.querySelectorAll("[data-col]").forEach((cell) => {
      cell.classList.toggle("current", Number(cell.dataset.col) === current);
    });
    label.textContent = count ? `${current + 1} of ${count}: ${heads[current].textContent.trim()}` : "";
    toggle.textContent = root.dataset.mode === "flip" ? "Side by side" : "Flip one at a time";
  }

  function flip(step) {
    current = (current + step + count) % count;
    show();
  }

  toggle.addEventListener("click", () => {
    root.dataset.mode = root.dataset.mode === "flip" ? "grid" : "flip";
    show();
  });
  // Click to zoom: the full image in a dialog (Escape or Close puts it away).
  const dialog = document.querySelector("[data-zoom-dialog]");
  root.addEventListener("click", (event) => {
    const link = event.target.closest("[data-zoom]");
    if (!link || !dialog) return;
    event.preventDefault();
    const cell = link.closest("[data-col]");
    const version = cell ? heads[Number(cell.dataset.col)].textContent.trim() : "";
    dialog.querySelector("img").src = link.href;
    dialog.querySelector("img").alt = link.dataset.caption;
    dialog.querySelector("[data-zoom-caption]").textContent =
      version ? `${link.dataset.caption} · ${version}` : link.dataset.caption;
    dialog.showModal();
  });
  if (dialog) dialog.addEventListener("click", (event) => {
    if (event.target === dialog) dialog.close();  // a click beside the picture
  });

  document.addEventListener("keydown", (event) => {
    if (dialog && dialog.open) return;
    if (event.target.closest("input, textarea, select")) return;
    if (event.key === "ArrowRight") flip(1);
    else if (event.key === "ArrowLeft") flip(-1);
    else if (event.key === "g" || event.key === "G") {
      root.dataset.mode = root.dataset.mode === "flip" ? "grid" : "flip";
      show();
    } else return;
    if (root.dataset.mode !== "flip" && event.key.startsWith("Arrow")) root.dataset.mode = "flip";
    show();
    event.preventDefault();
  });
  show();
})();
