// Variation form: "Use it" on the anchor suggestion selects the suggested pose.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-use-pose]");
    const select = document.getElementById("id_anchor_pose");
    if (!button || !select) return;
    select.value = button.dataset.usePose;
    select.dispatchEvent(new Event("change", { bubbles: true }));
  });
})();
