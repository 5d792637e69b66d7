// WEB呼叫 embeddable form (ivr400): <form data-ivr400-c2c="https://BACKOFFICE/c2c/TOKEN"> with an input
// name="number", a submit button and an element with class "ivr400-c2c-message". Posts the number and shows
// the answer; the page's origin must be one the hotline allows (ivr400 call setup --origins).
(function () {
  "use strict";
  function bind(form) {
    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var out = form.querySelector(".ivr400-c2c-message");
      var body = new URLSearchParams();
      body.set("number", (form.querySelector("[name=number]") || {}).value || "");
      fetch(form.getAttribute("data-ivr400-c2c"), { method: "POST", body: body, credentials: "omit" })
        .then(function (r) { return r.json(); })
        .then(function (data) { if (out) { out.textContent = data.message; } })
        .catch(function () { if (out) { out.textContent = "暂时无法呼叫,请稍后再试。"; } });
    });
  }
  var forms = document.querySelectorAll("form[data-ivr400-c2c]");
  for (var i = 0; i < forms.length; i++) { bind(forms[i]); }
})();
