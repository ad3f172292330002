// New character form: choosing a preset fills in its example prompts while those are empty.
(function () {
  const select = document.getElementById("id_preset");
  const base = document.getElementById("id_base_prompt");
  const negative = document.getElementById("id_negative_prompt");
  if (!select || !base) return;
  let filled = { base: null, negative: null };
  select.addEventListener("change", function () {
    const info = document.querySelector('.preset-info[data-preset="' + select.value + '"] .preset-prompts');
    if (!info) return;
    if (!base.value.trim() || base.value === filled.base) {
      base.value = filled.base = info.dataset.base;
    }
    if (negative && (!negative.value.trim() || negative.value === filled.negative)) {
      negative.value = filled.negative = info.dataset.negative;
    }
  });
})();
