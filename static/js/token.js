/*
 * Off loopback, the control token: every state-changing request this page makes carries it
 * in a header (X-Connscope-Token), never in a cookie, which every other server on this host
 * name would receive whatever its port. htmx requests get it from htmx:configRequest,
 * fetch() calls from connscopeToken.headers(), and a form marked data-token-post is sent
 * by fetch when there is a token (on loopback there is none: the browser posts it itself).
 *
 * The control link's page (app/web/security.py) puts it in sessionStorage, not
 * localStorage. Both are kept per origin, port included; sessionStorage also ends with the
 * tab, so on a shared classroom machine closing the browser gives control up instead of
 * leaving it on disk for the next user. A teacher's second tab asks the tabs already open
 * on this dashboard for it (a BroadcastChannel is per origin too); with none open, the
 * next control link the terminal printed (each works once) opens control again.
 */
(function () {
  "use strict";
  var KEY = "connscope-token"; // TOKEN_STORAGE_KEY in app/web/security.py
  var HEADER = "X-Connscope-Token";
  var token = null;
  try {
    token = sessionStorage.getItem(KEY);
  } catch (e) {
    // Storage blocked: no token, the audience's 403 says how to get control.
  }

  function keep(value) {
    token = value;
    try {
      sessionStorage.setItem(KEY, value);
    } catch (e) {
      // Kept for this page only.
    }
  }

  function sameOrigin(url) {
    try {
      return new URL(url, location.href).origin === location.origin;
    } catch (e) {
      return false;
    }
  }

  function headers(url) {
    var found = {};
    if (token && sameOrigin(url)) found[HEADER] = token;
    return found;
  }

  if ("BroadcastChannel" in window) {
    var channel = new BroadcastChannel(KEY);
    channel.onmessage = function (event) {
      var message = event.data || {};
      if (message.ask && token) channel.postMessage({ token: token });
      else if (typeof message.token === "string" && !token) keep(message.token);
    };
    if (!token) channel.postMessage({ ask: true });
  }

  document.addEventListener("htmx:configRequest", function (event) {
    if (token && sameOrigin(event.detail.path)) event.detail.headers[HEADER] = token;
  });

  /* An answer that is no page (403 without the token, 413, 429): as text, in the form's own alert line. */
  function say(form, text) {
    var line = form.querySelector("[data-token-post-error]");
    line.textContent = text;
    line.hidden = false;
  }

  /* What the browser would have shown after a native post: the page redirected to, or the
   * form again with its errors inline (swapped in as the server rendered it). */
  async function post(form) {
    var response;
    try {
      response = await fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: headers(form.action),
      });
    } catch (e) {
      say(form, "The dashboard did not answer: " + e.message);
      return;
    }
    if (response.redirected) {
      location.assign(response.url);
      return;
    }
    var kind = response.headers.get("content-type") || "";
    var text = await response.text();
    var fresh = kind.startsWith("text/html") && new DOMParser().parseFromString(text, "text/html").querySelector("main");
    var main = form.closest("main");
    if (fresh && main) {
      main.replaceWith(document.adoptNode(fresh));
      var invalid = fresh.querySelector("[aria-invalid=true]") || fresh.querySelector(".error[role=alert]:not([hidden])");
      if (invalid) {
        invalid.scrollIntoView({ block: "center" });
        if (invalid.focus) invalid.focus();
      }
      return;
    }
    say(form, "HTTP " + response.status + ": " + (text.trim().split("\n")[0].slice(0, 200) || response.statusText));
  }

  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (!token || !form.matches("form[data-token-post]")) return;
    event.preventDefault();
    post(form);
  });

  window.connscopeToken = { headers: headers };
})();
