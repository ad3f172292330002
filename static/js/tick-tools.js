// Run forms: "Tick all / none / missing" buttons for the checkboxes of their form, and a
// live count of what is ticked (nothing ticked is refused by the server, never "everything").
(function () {
  "use strict";
  function boxes(form) {
    return Array.from(form.querySelectorAll("input[type=checkbox][name=variations], input[type=checkbox][name=poses]"));
  }
  function update(form) {
    const out = form.querySelector(".tick-count");
    if (!out) return;
    const all = boxes(form);
    const n = all.filter(function (b) { return b.checked; }).length;
    out.textContent = n + " of " + all.length + " ticked";
  }
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-tick]");
    if (!button) return;
    const form = button.closest("form");
    boxes(form).forEach(function (box) {
      const row = box.closest("[data-missing]");
      if (button.dataset.tick === "all") box.checked = true;
      else if (button.dataset.tick === "none") box.checked = false;
      else box.checked = Boolean(row && row.dataset.missing === "true");
    });
    update(form);
  });
  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("input[type=checkbox]") && event.target.form) update(event.target.form);
  });
  function init() { document.querySelectorAll("form .tick-count").forEach(function (o) { update(o.closest("form")); }); }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
