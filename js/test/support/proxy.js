// A loopback TCP proxy in front of the real server, to cut connections the way a network does:
// drop() destroys every open connection mid-stream; while `refusing`, new connections are reset
// at once (the client's fetch fails, as when the server is unreachable).
import { once } from "node:events";
import { connect, createServer } from "node:net";

export async function startProxy(targetUrl) {
  const target = new URL(targetUrl);
  const sockets = new Set();
  const state = { refusing: false, connections: 0, dropped: 0 };
  const server = createServer((client) => {
    state.connections += 1;
    if (state.refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connect(Number(target.port), target.hostname);
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on("close", () => sockets.delete(socket));
      socket.on("error", () => {}); // a dropped connection errors: expected here
    }
    client.pipe(upstream);
    upstream.pipe(client);
    client.on("close", () => upstream.destroy());
    upstream.on("close", () => client.destroy());
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    state,
    /** Cut every open connection now (both sides). */
    drop() {
      for (const socket of sockets) if (!socket.destroyed) socket.resetAndDestroy();
      state.dropped += 1;
    },
    set refusing(value) {
      state.refusing = value;
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      server.close();
      await once(server, "close");
    },
  };
}
