/* The API docs page (/docs): Swagger UI from the local copy, as FastAPI configures it.
 * "Try it out" sends the control token as the dashboard's own pages do (token.js, loaded
 * first: this tab's, or one an open dashboard tab hands over), so off loopback a request
 * that changes something is not refused for the want of it. */
window.ui = SwaggerUIBundle({
  url: "/openapi.json",
  dom_id: "#swagger-ui",
  layout: "BaseLayout",
  deepLinking: true,
  showExtensions: true,
  showCommonExtensions: true,
  presets: [SwaggerUIBundle.presets.apis, SwaggerUIBundle.SwaggerUIStandalonePreset],
  requestInterceptor: function (request) {
    // Without token.js (it failed to load) the docs still work, as the audience's.
    if (window.connscopeToken) {
      request.headers = Object.assign(request.headers || {}, window.connscopeToken.headers(request.url));
    }
    return request;
  },
});
