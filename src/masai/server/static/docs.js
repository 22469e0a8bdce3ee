// The API docs: Swagger UI on this server's /openapi.json. With API keys on, it uses the key the
// web UI keeps for this tab (or asks for one), so the schema loads and "Try it out" works.
const KEY = "masai.apiKey";

function key() {
  let value = sessionStorage.getItem(KEY);
  if (!value) {
    value = window.prompt("API key for this server (empty if it needs none)") ?? "";
    if (value) sessionStorage.setItem(KEY, value);
  }
  return value;
}

async function main() {
  let headers = {};
  let response = await fetch("/openapi.json");
  if (response.status === 401) {
    headers = { Authorization: `Bearer ${key()}` };
    response = await fetch("/openapi.json", { headers });
  }
  const spec = await response.json();
  window.SwaggerUIBundle({
    spec,
    dom_id: "#swagger-ui",
    requestInterceptor: (request) => {
      if (headers.Authorization) request.headers.Authorization = headers.Authorization;
      return request;
    },
  });
}

main();
