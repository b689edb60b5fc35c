/* The framed mail runs no scripts; the page sizes the frame to its content. */
(function () {
  "use strict";
  var frame = document.getElementById("archive-frame");
  if (!frame) { return; }
  function fit() {
    try { frame.style.height = frame.contentDocument.documentElement.scrollHeight + 20 + "px"; } catch (e) {}
  }
  frame.addEventListener("load", fit);
  window.addEventListener("resize", fit);
  fit();  /* the srcdoc may have loaded before this deferred script ran */
})();
