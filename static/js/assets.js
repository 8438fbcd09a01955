/*
 * Loads the pinned third-party files (htmx, uPlot) from the CDN with their SRI hashes and
 * falls back to the local copies under /vendor/ when the CDN fails or is slow; with
 * `offline` only the local copies are used. When every file is in, dispatches
 * `connscope:assets-ready` on document (and sets window.connscopeAssets.ready).
 *
 * The list comes from <script type="application/json" id="connscope-assets">.
 */
(function () {
  "use strict";

  var CDN_PATIENCE_MS = 2000;
  // The page's Content-Security-Policy runs only scripts from this origin or with its nonce:
  // the fetched files (checked against their SRI hash) run with this script's own nonce.
  var NONCE = document.currentScript ? document.currentScript.nonce : "";
  var config = JSON.parse(document.getElementById("connscope-assets").textContent);
  var state = (window.connscopeAssets = { ready: false, offline: !!config.offline, loaded: {}, failed: [] });

  /*
   * htmx initialises on DOMContentLoaded, or at once if readyState is already "complete".
   * A script run between the two (DOMContentLoaded fired, a slow stylesheet still loading)
   * would wait for an event that already happened; such a run is noted, and the event is
   * replayed once when every file is in.
   */
  var contentLoaded = document.readyState === "complete";
  var replayContentLoaded = false;
  document.addEventListener("DOMContentLoaded", function () { contentLoaded = true; }, { once: true });

  /*
   * Scripts are fetched rather than added as <script src>: a <script> that loses the race
   * against the 2 s timer cannot be cancelled and would still run when the CDN answers,
   * so htmx would initialise twice. fetch() takes the same SRI hash and is abortable.
   */
  function fetchScript(url, integrity) {
    var controller = new AbortController();
    var timer = integrity ? setTimeout(function () { controller.abort(); }, CDN_PATIENCE_MS) : null;
    var options = { signal: controller.signal, credentials: "omit" };
    if (integrity) {
      options.integrity = integrity;
      options.mode = "cors";
    }
    return fetch(url, options)
      .then(function (response) {
        if (!response.ok) throw new Error(url + ": HTTP " + response.status);
        return response.text();
      })
      .finally(function () { if (timer) clearTimeout(timer); });
  }

  function runScript(asset, source, url, text) {
    if (contentLoaded && document.readyState !== "complete") replayContentLoaded = true;
    var script = document.createElement("script");
    script.dataset.asset = asset.name;
    script.dataset.source = source;
    script.dataset.src = url;
    script.nonce = NONCE;
    script.text = text + "\n//# sourceURL=" + url;
    document.head.appendChild(script);
    return Promise.resolve();
  }

  function loadScript(asset) {
    var local = function () {
      return fetchScript(asset.local, null).then(function (text) {
        return runScript(asset, "local", asset.local, text).then(function () { return "local"; });
      });
    };
    if (config.offline) return local();
    return fetchScript(asset.cdn, asset.integrity)
      .then(function (text) {
        return runScript(asset, "cdn", asset.cdn, text).then(function () { return "cdn"; });
      })
      .catch(function (error) {
        console.warn("connscope: " + asset.name + " from the CDN failed (" + error.message + "), using the local copy");
        return local();
      });
  }

  function linkStylesheet(asset, source, url, integrity) {
    return new Promise(function (resolve, reject) {
      var link = document.createElement("link");
      link.rel = "stylesheet";
      link.href = url;
      link.dataset.asset = asset.name;
      link.dataset.source = source;
      if (integrity) {
        link.integrity = integrity;
        link.crossOrigin = "anonymous";
      }
      var timer = null;
      var settle = function (ok, why) {
        if (timer) clearTimeout(timer);
        link.onload = link.onerror = null;
        if (ok) resolve(source);
        else {
          // A detached stylesheet no longer applies nor delays the load event.
          link.remove();
          reject(new Error(why));
        }
      };
      link.onload = function () { settle(true); };
      link.onerror = function () { settle(false, url + " failed"); };
      if (integrity) timer = setTimeout(function () { settle(false, url + " timed out"); }, CDN_PATIENCE_MS);
      // Before our own stylesheets, so they can override the library's defaults.
      var ours = document.querySelector('link[rel="stylesheet"][href^="/static/"]');
      document.head.insertBefore(link, ours);
    });
  }

  function loadStylesheet(asset) {
    var local = function () { return linkStylesheet(asset, "local", asset.local, null); };
    if (config.offline) return local();
    return linkStylesheet(asset, "cdn", asset.cdn, asset.integrity).catch(function (error) {
      console.warn("connscope: " + asset.name + " stylesheet from the CDN failed (" + error.message + "), using the local copy");
      return local();
    });
  }

  var loads = config.assets.map(function (asset) {
    var key = asset.name + "." + asset.kind;
    var load = asset.kind === "css" ? loadStylesheet(asset) : loadScript(asset);
    return load.then(
      function (source) { state.loaded[key] = source; },
      function (error) {
        console.error("connscope: could not load " + key + ": " + error.message);
        state.failed.push(key);
      }
    );
  });

  Promise.all(loads).then(function () {
    if (replayContentLoaded) document.dispatchEvent(new Event("DOMContentLoaded"));
    state.ready = true;
    document.documentElement.dataset.assets = state.failed.length ? "partial" : "ready";
    document.dispatchEvent(new CustomEvent("connscope:assets-ready", { detail: state }));
  });
})();
