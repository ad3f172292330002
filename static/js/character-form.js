// New character form: the trigger word is offered lower-cased as it is typed (a phone's
// capital first letter included); choosing a preset (in the list, or by clicking its card)
// fills in its example prompts while those are empty.
(function () {
  const trigger = document.getElementById("id_trigger_word");
  if (trigger) {
    trigger.addEventListener("input", function () {
      const lower = trigger.value.toLowerCase();
      if (lower === trigger.value) return;
      const at = trigger.selectionStart;
      trigger.value = lower;
      trigger.setSelectionRange(at, at);
    });
  }
})();
(function () {
  const select = document.getElementById("id_preset");
  const base = document.getElementById("id_base_prompt");
  const negative = document.getElementById("id_negative_prompt");
  if (!select || !base) return;
  let filled = { base: null, negative: null };
  function markChosen() {
    document.querySelectorAll(".preset-info").forEach(function (card) {
      const chosen = card.dataset.preset === select.value;
      card.classList.toggle("chosen", chosen);
      card.setAttribute("aria-pressed", String(chosen));
    });
  }
  select.addEventListener("change", function () {
    markChosen();
    const info = document.querySelector('.preset-info[data-preset="' + select.value + '"] .preset-prompts');
    if (!info) return;
    if (!base.value.trim() || base.value === filled.base) {
      base.value = filled.base = info.dataset.base;
    }
    if (negative && (!negative.value.trim() || negative.value === filled.negative)) {
      negative.value = filled.negative = info.dataset.negative;
    }
  });
  function choose(card) {
    select.value = card.dataset.preset;
    select.dispatchEvent(new Event("change", { bubbles: true }));
  }
  document.querySelectorAll(".preset-info").forEach(function (card) {
    card.setAttribute("role", "button");
    card.setAttribute("tabindex", "0");
    card.addEventListener("click", function () { choose(card); });
    card.addEventListener("keydown", function (e) {
      if (e.key === "Enter" || e.key === " ") { e.preventDefault(); choose(card); }
    });
  });
  markChosen();
})();
