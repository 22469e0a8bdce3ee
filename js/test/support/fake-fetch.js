// A fetch that answers from bytes, piece by piece, and behaves like a real one on abort: the
// request's signal errors the body stream. It records requests, reads and cancellation.

export function fakeFetch(
  bytes,
  {
    pieces = null,
    pieceSize = 64,
    status = 200,
    contentType = "text/event-stream",
    hang = false,
    headers: extraHeaders = {},
  } = {},
) {
  const state = { requests: [], reads: 0, cancelled: false, served: 0 };
  const chunks = pieces ?? [];
  if (!pieces) for (let i = 0; i < bytes.length; i += pieceSize) chunks.push(bytes.slice(i, i + pieceSize));

  state.fetch = async (url, init = {}) => {
    const headers = Object.fromEntries(new Headers(init.headers));
    state.requests.push({ url: String(url), method: init.method, headers, body: init.body, signal: init.signal });
    if (init.signal?.aborted) throw init.signal.reason;
    let next = 0;
    const body = new ReadableStream(
      {
        start(controller) {
          init.signal?.addEventListener("abort", () => {
            try {
              controller.error(init.signal.reason);
            } catch {
              // already closed
            }
          });
        },
        pull(controller) {
          state.reads += 1;
          if (next < chunks.length) {
            const chunk = chunks[next++];
            state.served += 1;
            controller.enqueue(typeof chunk === "string" ? new TextEncoder().encode(chunk) : chunk);
            return undefined;
          }
          if (hang) return new Promise(() => {}); // a run that goes on and on
          controller.close();
          return undefined;
        },
        cancel() {
          state.cancelled = true;
        },
      },
      { highWaterMark: 0 },
    );
    const headersOut = { ...(contentType ? { "content-type": contentType } : {}), ...extraHeaders };
    return new Response(status === 204 ? null : body, { status, headers: headersOut });
  };
  return state;
}

/** Answers with a fixed status and body (an error), plus any `headers` (e.g. Retry-After). */
export function errorFetch(status, body, contentType = "application/json", headers = {}) {
  return async () => new Response(body, { status, headers: { "content-type": contentType, ...headers } });
}
