// cors.mjs: a dashboard on another origin, in a real browser (Debian's headless
// Chromium, driven by playwright-core), against the real server ($RILL_BIN, default
// ../../build/san/rill) started with --cors-origin.
//
// A small Node.js server here serves an empty page on its own port. Loaded as
// http://127.0.0.1:PAGE it is the allowed origin; loaded as http://localhost:PAGE it is
// another origin, not allowed. From the allowed page, fetch() calls every kind of
// operation with the headers the API reads (so each one goes through a preflight):
// Authorization, Content-Type: application/json, Idempotency-Key, If-Match,
// X-Hub-Signature-256 and X-GitHub-Event; the page reads the answers' bodies and the
// headers a script needs (Location, Idempotent-Replayed, WWW-Authenticate,
// Retry-After), and an EventSource with ?access_token= receives a record. From the other
// origin the browser refuses to hand over any answer.
//
// Usage: node cors.mjs   (RILL_BIN, CHROMIUM as for sse.mjs)
// Prints one line per check and "N passed, N failed" last; exits 1 on any failure.
import { createHmac } from "node:crypto";
import { mkdtempSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";
import { check } from "../js/report.mjs";
import { finish, freePort, RillServer } from "../js/rill_server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const BIN = path.resolve(here, process.env.RILL_BIN ?? "../../build/san/rill");
const CHROMIUM = process.env.CHROMIUM ?? "/usr/bin/chromium";
const WAIT_MS = 15000;
const SECRET = "cors-webhook-secret";

const tmp = mkdtempSync(path.join(os.tmpdir(), "rill-cors-"));
const logPath = path.join(tmp, "rill.log");
const server = new RillServer(BIN, path.join(tmp, "data"), logPath);

// The dashboard's origin: an empty HTML page on every path.
const pages = http.createServer((req, res) => {
  res.writeHead(200, { "content-type": "text/html" });
  res.end("<!doctype html><title>dashboard</title>");
});

// Runs fetch(base + urlPath, init) in the page; returns {status, headers, body} as the
// page sees them, or {error} when the browser refused the answer.
function pageFetch(page, urlPath, init = {}) {
  return page.evaluate(async ({ url, init }) => {
    try {
      const res = await fetch(url, init);
      const text = await res.text();
      let body = text;
      try {
        body = JSON.parse(text);
      } catch { /* not JSON */ }
      return { status: res.status, headers: Object.fromEntries(res.headers), body };
    } catch (err) {
      return { error: String(err) };
    }
  }, { url: server.base + urlPath, init });
}

const show = (r) => JSON.stringify(r).slice(0, 400);

async function allowedOrigin(page) {
  const auth = { authorization: `Bearer ${server.token}` };
  const json = { ...auth, "content-type": "application/json" };
  let r;

  r = await pageFetch(page, "/topics", { method: "POST", headers: json,
    body: JSON.stringify({ name: "cors", partitions: 1,
      config: { "flush.policy": "interval", "webhook.secret": SECRET } }) });
  check(r.status === 201 && r.body?.name === "cors",
    "POST /topics with Authorization and a JSON body: 201, body readable", show(r));

  const produce = { method: "POST", body: JSON.stringify({ records: [{ value: { n: 1 } }] }),
    headers: { ...json, "idempotency-key": "cors-1" } };
  r = await pageFetch(page, "/topics/cors/messages", produce);
  check(r.status === 200 && r.body?.offsets?.[0]?.offset === 0,
    "POST messages with Idempotency-Key: 200", show(r));
  r = await pageFetch(page, "/topics/cors/messages", produce);
  check(r.status === 200 && r.headers["idempotent-replayed"] === "true",
    "the retry's Idempotent-Replayed header is readable", show(r));

  r = await pageFetch(page, "/topics/cors/messages", { method: "POST",
    headers: { ...json, "if-match": '"0"' }, body: JSON.stringify({ records: [{ value: 2 }] }) });
  check(r.status === 412 && r.body?.code === "offset_mismatch",
    "POST messages with If-Match: 412, problem readable", show(r));

  r = await pageFetch(page, "/topics/cors", { method: "PATCH", headers: json,
    body: JSON.stringify({ config: { "retention.ms": 3600000 } }) });
  check(r.status === 200, "PATCH /topics/cors: 200", show(r));

  r = await pageFetch(page, "/topics/cors/partitions/0?offset=earliest", { headers: auth });
  check(r.status === 200 && r.body?.records?.[0]?.value?.n === 1,
    "GET a partition: 200, the record readable", show(r));

  r = await pageFetch(page, "/topics");
  check(r.status === 401 && (r.headers["www-authenticate"] ?? "").startsWith("Bearer"),
    "no token: 401 with a readable WWW-Authenticate", show(r));

  const body = JSON.stringify({ zen: "cors" });
  const sig = createHmac("sha256", SECRET).update(body).digest("hex");
  r = await pageFetch(page, "/topics/cors/webhook", { method: "POST", body,
    headers: { "content-type": "application/json", "x-hub-signature-256": `sha256=${sig}`,
      "x-github-event": "ping", "x-github-delivery": "cors-delivery-1" } });
  check(r.status === 200 && r.body?.offsets?.[0]?.offset === 1,
    "POST a signed webhook with X-Hub-Signature-256 and X-GitHub-*: 200", show(r));

  r = await pageFetch(page, "/groups/dash/offsets", { method: "POST", headers: json,
    body: JSON.stringify({ offsets: [{ topic: "cors", partition: 0, offset: 1 }] }) });
  check(r.status === 200, "POST /groups/dash/offsets: 200", show(r));

  r = await pageFetch(page, "/tokens", { method: "POST", headers: json,
    body: JSON.stringify({ name: "tab", scopes: [{ topics: "cors", actions: ["consume"] }],
      rate_limit: { requests_per_s: 1 } }) });
  const tab = r.body;
  check(r.status === 201 && (r.headers.location ?? "") === `/tokens/${tab?.id}`,
    "POST /tokens: 201 with a readable Location", show(r));

  const tabAuth = { authorization: `Bearer ${tab?.token}` };
  let limited = null;
  for (let i = 0; i < 5 && !limited; i++) {
    r = await pageFetch(page, "/topics/cors/partitions/0/offsets", { headers: tabAuth });
    if (r.status === 429) limited = r;
  }
  check(limited && Number(limited.headers["retry-after"]) >= 1 &&
    limited.body?.code === "rate_limited",
    "a token over its rate limit: 429 with a readable Retry-After", show(limited ?? r));

  // An EventSource on the API's origin, opened from the dashboard's.
  const events = await page.evaluate(({ url, wait }) => new Promise((resolve) => {
    const es = new EventSource(url);
    const got = [];
    const done = () => {
      es.close();
      resolve(got);
    };
    es.addEventListener("record", (e) => {
      got.push({ id: e.lastEventId, value: JSON.parse(e.data).value });
      if (got.length === 2) done();
    });
    setTimeout(done, wait);
  }), { url: `${server.base}/topics/cors/partitions/0/stream?offset=earliest&access_token=${
    encodeURIComponent(server.token)}`, wait: WAIT_MS });
  check(events.length === 2 && events[0].id === "1" && events[0].value?.n === 1 &&
    events[1].value?.zen === "cors",
    "a cross-origin EventSource with ?access_token= receives the records", show(events));

  r = await pageFetch(page, `/tokens/${tab?.id}`, { method: "DELETE", headers: auth });
  check(r.status === 204, "DELETE /tokens/{id}: 204", show(r));
  r = await pageFetch(page, "/topics/cors", { method: "DELETE", headers: auth });
  check(r.status === 204, "DELETE /topics/cors: 204", show(r));
}

async function otherOrigin(page) {
  const r = await pageFetch(page, "/topics", { headers: { authorization: `Bearer ${server.token}` } });
  check(r.error !== undefined, "from an origin not in --cors-origin the browser gets no answer",
    show(r));
  const simple = await pageFetch(page, "/healthz");
  check(simple.error !== undefined, "... not even to a request without a preflight", show(simple));
}

let browser;
try {
  const pagePort = await freePort();
  await new Promise((resolve) => pages.listen(pagePort, "127.0.0.1", resolve));
  const allowed = `http://127.0.0.1:${pagePort}`;
  if (await server.start(await freePort(), ["--cors-origin", `https://elsewhere.example, ${allowed}`],
    "start")) {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
    check(true, `chromium ${browser.version()} started headless`);
    const page = await browser.newPage();
    await page.goto(`${allowed}/dashboard`);
    await allowedOrigin(page);
    await page.goto(`http://localhost:${pagePort}/dashboard`);
    await otherOrigin(page);
  }
} catch (err) {
  check(false, "the CORS test ran to the end", err.stack);
} finally {
  if (browser) await browser.close().catch(() => {});
  await server.stop("end");
  pages.close();
}
finish(tmp, logPath);
