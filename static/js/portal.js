// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";
  document.documentElement.classList.add("js");
  // The language select submits itself; the fallback button is hidden once this runs.
  document.querySelectorAll("select.js-autosubmit").forEach(function (select) {
    var form = select.form;
    form.querySelectorAll(".js-hide-when-enhanced").forEach(function (el) { el.hidden = true; });
    select.addEventListener("change", function () { form.submit(); });
  });
  // Move focus to an error summary so screen readers announce it.
  var summary = document.querySelector(".error-summary");
  if (summary) { summary.focus(); }
})();
