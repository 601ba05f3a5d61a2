// Enhancements only: every page works without this file.
(function () {
  "use strict";

  function debounce(fn, ms) {
    var timer;
    return function () {
      clearTimeout(timer);
      timer = setTimeout(fn, ms);
    };
  }

  // The rule editor: check the form as the services would, as you type.
  function ruleEditor(form) {
    var status = document.getElementById("check-status");
    var url = form.getAttribute("data-check-url");
    var seq = 0;
    function clearErrors() {
      form.querySelectorAll(".field-error.live").forEach(function (el) { el.remove(); });
    }
    function check() {
      var mine = ++seq;
      fetch(url, { method: "POST", body: new FormData(form), credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (result) {
          if (mine !== seq) return;
          clearErrors();
          status.textContent = result.message;
          status.className = "check " + (result.ok ? "ok" : "bad");
          Object.keys(result.errors || {}).forEach(function (field) {
            var name = field.split(".")[0] === "effect" ? "effect_type" : field.split(".")[0];
            if (name === "limits") name = "budget_points";
            var input = form.querySelector("[name='" + name + "']");
            if (!input) return;
            var span = document.createElement("span");
            span.className = "field-error live";
            span.textContent = field + ": " + result.errors[field].join(" ");
            input.insertAdjacentElement("afterend", span);
          });
        })
        .catch(function () { /* the form still checks on submit */ });
    }
    var later = debounce(check, 350);
    form.addEventListener("input", later);
    form.addEventListener("change", later);
  }

  // A background simulation: poll its progress instead of reloading the page.
  function simulation(section) {
    var url = section.getAttribute("data-poll-url");
    if (["queued", "running"].indexOf(section.getAttribute("data-status")) < 0) return;
    var refresh = document.querySelector("meta[http-equiv='refresh']");
    if (refresh) refresh.remove();
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          document.getElementById("sim-status").textContent = s.status;
          document.getElementById("sim-count").textContent = s.done + " of " + s.total;
          document.getElementById("sim-progress").value = s.percent;
          if (s.status === "done" || s.status === "failed") {
            window.location.reload();
            return;
          }
          setTimeout(poll, 1500);
        })
        .catch(function () { setTimeout(poll, 5000); });
    }
    setTimeout(poll, 1000);
  }

  // The campaign editor: the audience's size as you change the filter.
  function campaignEditor(form) {
    var url = form.getAttribute("data-estimate-url");
    var out = document.getElementById("audience-size");
    var seq = 0;
    function estimate() {
      var mine = ++seq;
      fetch(url, { method: "POST", body: new FormData(form), credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (result) {
          if (mine !== seq) return;
          out.textContent = result.members === null ? "— (check the filter)" : result.members.toLocaleString("en") + " members";
        })
        .catch(function () { /* the Estimate button still works */ });
    }
    var later = debounce(estimate, 350);
    form.querySelectorAll("fieldset")[1].addEventListener("input", later);
    form.querySelectorAll("fieldset")[1].addEventListener("change", later);
    estimate();
  }

  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("form.campaign-editor").forEach(campaignEditor);
    document.querySelectorAll("form.rule-editor").forEach(ruleEditor);
    var sim = document.getElementById("simulation");
    if (sim) simulation(sim);
  });
})();
