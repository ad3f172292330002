// A refusal answered to an htmx request (lorastudio/refusals.py) arrives as a `refused`
// event: show its message where the page shows messages, so a click never fails silently.
(function () {
  "use strict";

  // A change done without a page load says what it did the same way (`notice` event).
  document.body.addEventListener("notice", function (event) {
    const message = event.detail && event.detail.message;
    const main = document.querySelector("main");
    if (!message || !main) return;
    let list = main.querySelector(".messages");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      list.setAttribute("role", "status");
      main.prepend(list);
    }
    const item = document.createElement("li");
    item.className = "success";
    item.textContent = message;
    list.replaceChildren(item);
  });

  document.body.addEventListener("refused", function (event) {
    const message = event.detail && event.detail.message;
    if (!message) return;
    let list = document.querySelector("main .messages");
    if (!list) {
      list = document.createElement("ul");
      list.className = "messages";
      list.setAttribute("role", "status");
      const main = document.querySelector("main");
      if (!main) return;
      main.prepend(list);
    }
    const item = document.createElement("li");
    item.className = "error";
    item.textContent = message;
    list.replaceChildren(item);
  });
})();
