// Page shell: the menu button that opens the collapsed nav on narrow screens.
(function () {
  "use strict";
  document.addEventListener("click", function (event) {
    const toggle = event.target.closest(".nav-toggle");
    if (!toggle) return;
    const open = toggle.getAttribute("aria-expanded") !== "true";
    toggle.setAttribute("aria-expanded", String(open));
    toggle.closest(".topbar").classList.toggle("nav-open", open);
  });
})();
