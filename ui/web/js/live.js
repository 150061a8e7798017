// Live updates: one EventSource per tab on /api/events, reopened when the page changes.
// Each page opens it after its snapshot, with the snapshot's cursor, so nothing in between is
// lost. While the stream is down the page's refetch() runs every 2 s instead (polling fallback).
// body[data-sse] says "open" or "closed"; body[data-last-event-id] the last id seen.

const POLL_MS = 2000;
const REOPEN_MS = 5000;

let es = null;
let opts = null;
let lastId = '';
let pollTimer = null;
let reopenTimer = null;
let polling = false;

function setState(state) {
  document.body.dataset.sse = state;
  const ind = document.getElementById('live-indicator');
  if (!ind) return;
  const text = {
    open: 'Live updates',
    closed: opts ? 'Polling every 2 s' : 'Not live',
    fatal: 'Not live',
  }[state];
  ind.textContent = text;
  ind.dataset.state = state;
}

function startPolling() {
  if (pollTimer || !opts || !opts.refetch) return;
  pollTimer = setInterval(async () => {
    if (polling || !opts) return;
    polling = true;
    try {
      await opts.refetch();
    } catch {
      // The page shows its own error; keep polling.
    } finally {
      polling = false;
    }
  }, POLL_MS);
}

function stopPolling() {
  clearInterval(pollTimer);
  pollTimer = null;
}

function open() {
  const q = new URLSearchParams();
  if (opts.run != null) q.set('run', opts.run);
  if (lastId) q.set('last_event_id', lastId);
  const src = new EventSource('/api/events' + (q.toString() ? `?${q}` : ''));
  es = src;
  const mine = (fn) => (e) => {
    if (es !== src) return;
    if (e.lastEventId) {
      lastId = e.lastEventId;
      document.body.dataset.lastEventId = lastId;
    }
    fn(e);
  };
  src.onopen = mine(() => {
    setState('open');
    stopPolling();
  });
  src.onerror = mine(() => {
    setState('closed');
    startPolling();
    if (src.readyState === EventSource.CLOSED) {
      // The browser gave up (e.g. an HTTP error): try again a little later.
      clearTimeout(reopenTimer);
      reopenTimer = setTimeout(() => opts && es === src && open(), REOPEN_MS);
    }
  });
  const json = (e) => {
    try {
      return JSON.parse(e.data);
    } catch {
      return null;
    }
  };
  src.addEventListener('run', mine((e) => opts.onRun && json(e) && opts.onRun(json(e))));
  src.addEventListener('step', mine((e) => opts.onStep && json(e) && opts.onStep(json(e))));
  src.addEventListener('resync', mine(() => opts.refetch && opts.refetch()));
  src.addEventListener('fatal', mine((e) => {
    const d = json(e);
    src.close();
    stopPolling();
    setState('fatal');
    if (opts.onFatal) opts.onFatal((d && d.error) || { code: 'internal', message: 'The live stream stopped.' });
  }));
}

// connect({run, cursor, onRun, onStep, refetch, onFatal}): replaces the tab's stream.
export function connect(o) {
  disconnect();
  opts = o;
  lastId = o.cursor || '';
  if (lastId) document.body.dataset.lastEventId = lastId;
  setState('closed');
  if (typeof EventSource === 'undefined') return startPolling();
  open();
}

export function disconnect() {
  if (es) es.close();
  es = null;
  opts = null;
  stopPolling();
  clearTimeout(reopenTimer);
  setState('closed');
}

// A page's snapshot was refetched (resync or poll): later reconnects start from its cursor.
export function setCursor(cursor) {
  if (cursor) lastId = cursor;
}
