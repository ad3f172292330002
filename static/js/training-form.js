// Training form: show only the settings the chosen provider's trainer takes. The others are
// hidden and disabled, so they are not posted (the server refuses them if they are).
(function () {
  "use strict";
  function sync(form) {
    const provider = form.querySelector("[name=provider]");
    if (!provider) return;
    form.querySelectorAll("[data-providers]").forEach(function (input) {
      const taken = input.dataset.providers.split(" ").indexOf(provider.value) !== -1;
      input.disabled = !taken;
      const field = input.closest(".field");
      if (field) field.hidden = !taken;
    });
  }
  function all() {
    document.querySelectorAll("form.training-form").forEach(sync);
  }
  document.addEventListener("change", function (event) {
    if (event.target.name === "provider") sync(event.target.form);
  });
  document.addEventListener("DOMContentLoaded", all);
  all();
})();
