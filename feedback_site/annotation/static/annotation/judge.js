// Keyboard-first judging. 1-4 choose, s/c/m strength, Enter submits (Ctrl+Enter inside a text box),
// r revises the last judgment. Time spent is measured from when the comparison appeared.
(function () {
  "use strict";
  var shownAt = performance.now();
  var CHOICES = { "1": "A", "2": "B", "3": "tie", "4": "both_bad" };
  var STRENGTHS = { s: "1", c: "2", m: "3" };

  function form() { return document.getElementById("judgment"); }

  function pick(name, value) {
    var input = form().querySelector('input[name="' + name + '"][value="' + value + '"]');
    if (input) { input.checked = true; highlight(); }
  }

  function highlight() {
    var f = form();
    if (!f) return;
    var checked = f.querySelector('input[name="choice"]:checked');
    var value = checked ? checked.value : "";
    document.getElementById("response-left").classList.toggle("picked", value === "A");
    document.getElementById("response-right").classList.toggle("picked", value === "B");
  }

  function submit() {
    var f = form();
    if (!f || f.dataset.sending) return;
    if (!f.querySelector('input[name="choice"]:checked')) return;
    f.dataset.sending = "1"; // one submit per comparison, however fast Enter is pressed
    // htmx.ajax rather than a submit event: it works even before htmx has processed a freshly swapped form.
    htmx.ajax("POST", f.getAttribute("hx-post"), { source: f, target: "#panel", swap: "innerHTML" });
  }

  document.body.addEventListener("htmx:afterSwap", function () { shownAt = performance.now(); highlight(); });
  document.body.addEventListener("htmx:configRequest", function (evt) {
    if (evt.detail.elt.id === "judgment") {
      evt.detail.parameters.time_spent_ms = String(Math.round(performance.now() - shownAt));
    }
  });
  document.body.addEventListener("change", highlight);

  document.addEventListener("keydown", function (evt) {
    var f = form();
    var inText = evt.target && (evt.target.tagName === "TEXTAREA" || evt.target.tagName === "INPUT" && evt.target.type === "text");
    if (evt.key === "Enter") {
      if (!f) return;
      if (inText && !(evt.ctrlKey || evt.metaKey)) return;
      evt.preventDefault();
      submit();
      return;
    }
    if (inText || evt.ctrlKey || evt.metaKey || evt.altKey) return;
    if (f && CHOICES[evt.key]) { evt.preventDefault(); pick("choice", CHOICES[evt.key]); }
    else if (f && STRENGTHS[evt.key]) { evt.preventDefault(); pick("strength", STRENGTHS[evt.key]); }
    else if (evt.key === "r") {
      var revise = document.getElementById("revise");
      if (revise) {
        evt.preventDefault();
        htmx.ajax("GET", revise.getAttribute("hx-get"), { target: "#panel", swap: "innerHTML" });
      }
    }
  });
})();
