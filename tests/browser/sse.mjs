// sse.mjs: server-sent events in a real browser (Debian's headless Chromium, driven by
// playwright-core).
//
// Starts the real server ($RILL_BIN, default ../../build/san/rill) as
// `serve --listen 127.0.0.1:PORT --data DIR` (PORT: a free port picked here, so that a
// restart can take the same one), waits for DIR/rill.addr, reads DIR/admin.token. The
// browser opens http://ADDR/healthz, so that the page is of the server's own origin,
// and runs EventSource code there with page.evaluate(); EventSource sends no headers,
// so the token goes as ?access_token=. Records are produced from Node.js with fetch.
//
// 1. A partition stream (offset=earliest) gets the records produced before and after it
//    opened, in order: lastEventId is offset + 1, JSON.parse(data) is the record.
// 2. The server stops (SIGTERM, exit 0) and starts again on the same port and data
//    dir; the EventSource reconnects by itself (retry: 2000) with Last-Event-ID and gets
//    exactly the records produced after the restart: no duplicate, no gap.
// 3. A topic stream of 2 partitions gets the records of both; its lastEventId is the
//    vector of next offsets ("0:2,1:1").
// 4. A group stream (?group=tab&commit=auto) commits what the tab was sent; the same
//    URL opened again starts at the group's offset, not from zero.
//
// Usage: node sse.mjs   (RILL_BIN=/path/to/rill to test another binary,
// CHROMIUM=/path/to/chromium for another browser)
// Prints one line per check and "N passed, N failed" last; exits 1 on any failure.
// RILL_TEST_KEEP=1 keeps the temp dir (data and server log).
import { mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { isDeepStrictEqual } from "node:util";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { check, sleep } from "../js/report.mjs";
import { finish, freePort, RillServer } from "../js/rill_server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, process.env.RILL_BIN ?? "../../build/san/rill");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const WAIT_MS = 15000; // deadline of every wait for the browser



// Polls 'fn' (async) until it returns a truthy value or the deadline passes; returns
// the last value.
async function waitFor(fn, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  let v;
  for (;;) {
    v = await fn();
    if (v || Date.now() >= deadline) return v;
    await sleep(50);
  }
}

// ---- the server ----

const tmp = mkdtempSync(path.join(os.tmpdir(), "rill-browser-"));
const logPath = path.join(tmp, "rill.log");
const server = new RillServer(BIN, path.join(tmp, "data"), logPath);
const startServer = (port, label) => server.start(port, [], label);
const stopServer = (label) => server.stop(label);

// ---- requests from Node.js ----

async function api(method, urlPath, json) {
  const headers = { authorization: `Bearer ${server.token}` };
  if (json !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(server.base + urlPath, {
    method, headers, body: json === undefined ? undefined : JSON.stringify(json),
    signal: AbortSignal.timeout(10000),
  });
  const text = await res.text();
  let body;
  try {
    body = JSON.parse(text);
  } catch {
    body = text;
  }
  return { status: res.status, body };
}

async function createTopic(name, partitions) {
  const r = await api("POST", "/topics",
    { name, partitions, config: { "flush.policy": "interval" } });
  return check(r.status === 201 || r.status === 200, `topic ${name} (${partitions} partitions) created`,
    `${r.status} ${JSON.stringify(r.body)}`);
}

// Produces 'records' ({value, partition?}) to topic 't'; returns the records with their
// partition and offset as the server answered, or null.
async function produce(t, records, label) {
  const r = await api("POST", `/topics/${t}/messages`, { records });
  const offs = r.body?.offsets;
  if (!check(r.status === 200 && Array.isArray(offs) && offs.length === records.length,
    `${label}: produced ${records.length} record(s) to ${t}`, `${r.status} ${JSON.stringify(r.body)}`))
    return null;
  return records.map((rec, i) => ({ ...rec, partition: offs[i].partition, offset: offs[i].offset }));
}

// ---- the browser ----

let browser;
let page;
const esRequests = []; // {url, status, lastEventId}: each EventSource request answered
const consoleLines = [];

// Opens an EventSource named 'name' in the page; its events are kept in the page.
async function openStream(name, urlPath) {
  await page.evaluate(({ name, url }) => {
    const all = (window.__rill ??= {});
    const st = (all[name] = { events: [], opens: 0, errors: 0, errorStates: [] });
    const es = new EventSource(url);
    st.es = es;
    es.addEventListener("open", () => st.opens++);
    es.addEventListener("error", () => {
      st.errors++;
      st.errorStates.push(es.readyState);
    });
    for (const type of ["record", "gap", "message"]) {
      es.addEventListener(type, (e) => {
        let value;
        let parseError = null;
        try {
          value = JSON.parse(e.data);
        } catch (err) {
          parseError = String(err);
        }
        st.events.push({ type, id: e.lastEventId, data: e.data, value, parseError });
      });
    }
  }, { name, url: urlPath });
}

async function streamState(name) {
  return page.evaluate((name) => {
    const st = window.__rill[name];
    return {
      events: st.events, opens: st.opens, errors: st.errors,
      errorStates: st.errorStates, readyState: st.es.readyState,
    };
  }, name);
}

async function closeStream(name) {
  await page.evaluate((name) => window.__rill[name].es.close(), name);
}

const show = (v) => JSON.stringify(v).slice(0, 400);

// Compares the events received with the records expected (partition stream): same
// count, same order, type record, lastEventId offset + 1, JSON.parse(data) the record.
function checkPartitionEvents(label, events, expected) {
  const got = events.map((e) => `${e.type}:${e.value?.offset}`);
  const want = expected.map((r) => `record:${r.offset}`);
  if (!check(isDeepStrictEqual(got, want),
    `${label}: ${expected.length} record events, in order, no duplicate, no gap`,
    `got ${show(got)}, want ${show(want)}`))
    return;
  const bad = [];
  expected.forEach((r, i) => {
    const e = events[i];
    if (e.parseError) bad.push(`#${i}: JSON.parse failed: ${e.parseError}: ${e.data}`);
    else if (e.id !== String(r.offset + 1)) bad.push(`#${i}: lastEventId ${e.id}, want ${r.offset + 1}`);
    else if (e.value.partition !== r.partition || !isDeepStrictEqual(e.value.value, r.value) ||
             ("key" in r ? e.value.key !== r.key : e.value.key !== null))
      bad.push(`#${i}: ${e.data} is not ${show(r)}`);
  });
  check(!bad.length, `${label}: each lastEventId is offset + 1 and JSON.parse(e.data) is the record`,
    bad.join("; "));
}

// ---- the scenarios ----

const recordValue = (i) => {
  switch (i % 4) {
    case 0: return { n: i, s: "é ✓ \u{1F680}" };
    case 1: return `line ${i}\nsecond line`;
    case 2: return [i, true, null, { deep: { n: i } }];
    default: return i;
  }
};

async function partitionStreamScenarios(port) {
  if (!await createTopic("t", 1)) return;
  let seq = 0;
  const batch = (n) => Array.from({ length: n }, () => {
    const i = seq++;
    return i % 3 === 0 ? { key: `k${i}`, value: recordValue(i) } : { value: recordValue(i) };
  });
  const expected = [];

  const before = await produce("t", batch(3), "before the stream opened");
  if (!before) return;
  expected.push(...before);

  const url = `/topics/t/partitions/0/stream?offset=earliest&access_token=${encodeURIComponent(server.token)}`;
  await openStream("p", url);
  const opened = await waitFor(async () => (await streamState("p")).opens >= 1);
  check(opened, "partition stream: the EventSource opened");
  let st = await waitFor(async () => {
    const s = await streamState("p");
    return s.events.length >= expected.length ? s : null;
  }) ?? await streamState("p");
  checkPartitionEvents("partition stream, records produced before it opened", st.events, expected);

  const after = await produce("t", batch(4), "after the stream opened");
  if (!after) return;
  expected.push(...after);
  st = await waitFor(async () => {
    const s = await streamState("p");
    return s.events.length >= expected.length ? s : null;
  }) ?? await streamState("p");
  checkPartitionEvents("partition stream, records produced before and after it opened",
    st.events, expected);
  check(st.opens === 1 && st.errors === 0 && st.readyState === 1,
    "partition stream: stayed open (one open event, no error event)",
    `opens ${st.opens}, errors ${st.errors}, readyState ${st.readyState}`);
  const lastIdBefore = st.events.at(-1)?.id;

  // The drop: the server stops, the browser sees the stream end and tries again.
  const errorsBefore = st.errors;
  const requestsBefore = esRequests.length;
  if (!await stopServer("drop")) return;
  st = await waitFor(async () => {
    const s = await streamState("p");
    return s.errors > errorsBefore ? s : null;
  }) ?? await streamState("p");
  check(st.errors > errorsBefore && st.errorStates.at(-1) === 0,
    "drop: the browser saw the stream end (error event, readyState CONNECTING)",
    `errors ${st.errors}, states ${show(st.errorStates)}, readyState ${st.readyState}`);
  // Let at least one reconnect fail against the stopped server (connection refused).
  await sleep(2500);
  st = await streamState("p");
  check(st.readyState === 0, "drop: while the server is down the EventSource keeps trying",
    `readyState ${st.readyState} (0 CONNECTING, 1 OPEN, 2 CLOSED)`);

  // Same port, same data dir: nothing was produced while down.
  if (!await startServer(port, "restart")) return;
  const early = await produce("t", batch(3), "restart, before the browser reconnected");
  if (!early) return;
  expected.push(...early);
  const reopened = await waitFor(async () => (await streamState("p")).opens >= 2);
  check(reopened, "restart: the EventSource reconnected by itself (second open event)",
    show(await streamState("p")));
  const late = await produce("t", batch(3), "restart, after the browser reconnected");
  if (!late) return;
  expected.push(...late);
  st = await waitFor(async () => {
    const s = await streamState("p");
    return s.events.length >= expected.length ? s : null;
  }) ?? await streamState("p");
  // A duplicate would come late: give it a moment to show.
  await sleep(300);
  st = await streamState("p");
  checkPartitionEvents("resume: every record once, in order, across the drop", st.events, expected);
  check(st.opens === 2 && st.readyState === 1, "resume: one reconnect, and the stream stays open",
    `opens ${st.opens}, readyState ${st.readyState}`);

  const again = esRequests.slice(requestsBefore);
  check(again.length === 1 && again[0].lastEventId === lastIdBefore,
    `resume: the browser's reconnect that reached the server sent Last-Event-ID: ${lastIdBefore}`,
    show(again));
  await closeStream("p");
}

async function topicStreamScenarios() {
  if (!await createTopic("t2", 2)) return;
  const produced = await produce("t2", [
    { partition: 0, value: { p: 0, n: 0 } },
    { partition: 1, value: { p: 1, n: 0 } },
    { partition: 0, value: "p0 second" },
  ], "topic stream");
  if (!produced) return;
  const url = `/topics/t2/stream?offset=earliest&access_token=${encodeURIComponent(server.token)}`;
  await openStream("t", url);
  const st = await waitFor(async () => {
    const s = await streamState("t");
    return s.events.length >= produced.length ? s : null;
  }) ?? await streamState("t");
  await sleep(300);
  const end = await streamState("t");
  const events = end.events;
  check(end.opens === 1 && end.errors === 0 && end.readyState === 1,
    "topic stream: stayed open (one open event, no error event)",
    `opens ${end.opens}, errors ${end.errors}, readyState ${end.readyState}`);
  const key = (p, o) => `${p}/${o}`;
  const got = events.map((e) => key(e.value?.partition, e.value?.offset)).sort();
  const want = produced.map((r) => key(r.partition, r.offset)).sort();
  check(st.opens >= 1 && isDeepStrictEqual(got, want),
    "topic stream: the records of both partitions, each once", `got ${show(got)}, want ${show(want)}`);
  for (const p of [0, 1]) {
    const offs = events.filter((e) => e.value?.partition === p).map((e) => e.value.offset);
    check(isDeepStrictEqual(offs, [...offs].sort((a, b) => a - b)),
      `topic stream: partition ${p} in offset order`, show(offs));
  }
  const bad = [];
  const next = { 0: 0, 1: 0 };
  for (const e of events) {
    if (e.type !== "record" || e.parseError) {
      bad.push(`${e.type} ${e.parseError ?? ""} ${e.data}`);
      continue;
    }
    next[e.value.partition] = e.value.offset + 1;
    const want = `0:${next[0]},1:${next[1]}`;
    const r = produced.find((x) => x.partition === e.value.partition && x.offset === e.value.offset);
    if (e.id !== want) bad.push(`lastEventId ${e.id}, want ${want}`);
    else if (!r || !isDeepStrictEqual(e.value.value, r.value)) bad.push(`${e.data} was not produced`);
  }
  check(!bad.length, "topic stream: each lastEventId is the vector of next offsets, data the record",
    bad.join("; "));
  check(events.at(-1)?.id === "0:2,1:1", 'topic stream: the last lastEventId is "0:2,1:1"',
    events.at(-1)?.id);
  await closeStream("t");
}

// 4. A browser tab as a group's consumer: ?group=tab&commit=auto commits what it was
//    sent; a new EventSource on the same URL (a tab opened again, with no Last-Event-ID)
//    starts where the group is, not from zero.
async function groupStreamScenarios() {
  if (!await createTopic("t3", 1)) return;
  const first = await produce("t3", [{ value: "g0" }, { value: "g1" }, { value: "g2" }],
    "before the group stream");
  if (!first) return;
  const url = `/topics/t3/partitions/0/stream?group=tab&commit=auto&offset=earliest&access_token=${
    encodeURIComponent(server.token)}`;
  await openStream("g1", url);
  const st = await waitFor(async () => {
    const s = await streamState("g1");
    return s.events.length >= 3 ? s : null;
  }) ?? await streamState("g1");
  checkPartitionEvents("group stream", st.events, first);
  const committed = await waitFor(async () => {
    const r = await api("GET", "/groups/tab/offsets");
    return r.body?.offsets?.[0]?.offset === 3 ? r.body : null;
  });
  check(committed, "group stream: the group's offset is at what the tab was sent (3)",
    JSON.stringify((await api("GET", "/groups/tab/offsets")).body));
  await closeStream("g1");
  const more = await produce("t3", [{ value: "g3" }, { value: "g4" }], "while the tab is closed");
  if (!more) return;
  await openStream("g2", url); /* the same URL: offset=earliest, but the group decides */
  const again = await waitFor(async () => {
    const s = await streamState("g2");
    return s.events.length >= 2 ? s : null;
  }) ?? await streamState("g2");
  await sleep(300);
  checkPartitionEvents("group stream opened again", (await streamState("g2")).events, more);
  check(again.events[0]?.value?.offset === 3, "group stream opened again: starts at the commit, not at 0",
    show(again.events[0]?.value));
  await closeStream("g2");
}

// ---- run ----

try {
  const port = await freePort();
  if (await startServer(port, "start")) {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    check(true, `chromium ${browser.version()} started headless`);
    page = await browser.newPage();
    page.on("console", (m) => consoleLines.push(`${m.type()}: ${m.text()}`));
    // The headers a request went out with (Last-Event-ID is added by the network
    // stack) are known once it has an answer: a reconnect refused while the server is
    // down has none, and is not listed.
    page.on("response", async (res) => {
      const r = res.request();
      if (r.resourceType() !== "eventsource") return;
      const entry = { url: r.url().replace(/access_token=[^&]*/, "access_token=<token>"),
        status: res.status() };
      esRequests.push(entry);
      entry.lastEventId = (await r.allHeaders().catch(() => ({})))["last-event-id"] ?? null;
    });
    const res = await page.goto(`${server.base}/healthz`);
    check(res?.status() === 200, `the page ${server.base}/healthz loaded (the server's origin)`,
      `${res?.status()}`);
    await partitionStreamScenarios(port);
    await topicStreamScenarios();
    await groupStreamScenarios();
  }
} catch (err) {
  check(false, "the browser test ran to the end", err.stack);
} finally {
  if (browser) await browser.close().catch(() => {});
  await stopServer("end");
}
finish(tmp, logPath,
  consoleLines.length ? ["--- browser console ---", ...consoleLines.slice(-30)] : []);
