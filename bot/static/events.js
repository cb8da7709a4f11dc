// Live updates shared by the inbox and dashboard pages: a server-sent event stream read with fetch()
// rather than EventSource, which cannot send the Authorization header.
"use strict";

// Follows `url` while `session.token` is set; the running request's AbortController sits in
// `session.stream`, so aborting it (logout) stops following. Calls onEvent(kind, data) for each event
// that carries JSON data, onLive(true/false) as the stream opens and drops, onUnauthorized() on a 401
// (and stops), onReconnect() after each pause before trying again; pauses grow from 1 s to 30 s.
async function followEvents(url, session, { onEvent, onLive, onUnauthorized, onReconnect = () => {} }) {
  let delay = 1000;
  while (session.token) {
    const controller = new AbortController();
    session.stream = controller;
    try {
      const r = await fetch(url, { headers: { "Authorization": `Bearer ${session.token}` }, signal: controller.signal });
      if (r.status === 401) { onUnauthorized(); return; }
      if (!r.ok) throw new Error(`events ${r.status}`);
      onLive(true);
      delay = 1000;
      const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value;
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          const kind = (block.split("\n").find((l) => l.startsWith("event:")) || "").slice(6).trim();
          const data = block.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5)).join("");
          if (data) onEvent(kind, JSON.parse(data));
        }
      }
    } catch (e) {
      if (controller.signal.aborted) return;
    }
    onLive(false);
    await new Promise((ok) => setTimeout(ok, delay));
    delay = Math.min(delay * 2, 30000);
    if (session.token) onReconnect();
  }
}
