// arrow-mino's own page behaviour beyond HTMX attributes. It lives in a
// file, not in hx-on attributes, so the Content-Security-Policy can
// refuse inline and eval'd script.

// The banner "Live updates paused" follows the event stream.
document.addEventListener("htmx:sseError", function () {
  document.body.classList.add("offline");
});
document.addEventListener("htmx:sseOpen", function () {
  document.body.classList.remove("offline");
});

// A button with data-abort cancels the request of the element it names.
document.addEventListener("click", function (event) {
  var button = event.target.closest("[data-abort]");
  if (button) {
    htmx.trigger(button.dataset.abort, "htmx:abort");
  }
});
