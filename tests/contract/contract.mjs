// contract.mjs: the live server against openapi.yaml.
//
// Starts the real server ($RILL_BIN, default ../../build/san/rill) as
// `serve --listen 127.0.0.1:0 --data DIR`, waits for DIR/rill.addr, reads
// DIR/admin.token, then calls every operation (happy paths and the main errors). For
// each answer it checks that the status is documented for that operation, that the
// content type is one documented for that status, that required response headers are
// there, and that the body validates against the documented schema (JSON Schema
// 2020-12, ajv). Router-level answers (404 no route, 405) are checked against
// components.responses.NotFound / MethodNotAllowed. Also: GET /openapi.yaml is the
// file byte for byte, and SIGTERM stops the server with exit status 0.
//
// Then a second server, with `--max-connections 3 --max-connections-per-ip 2`, for the
// answers given before any operation: connections held open from 127.0.0.1 (and
// 127.0.0.2, another loopback address) fill the limits, and the next connection's
// answer is checked against components.responses.TooManyConnectionsPerIp (429) or
// TooManyConnections (503); a request arriving while that server stops is checked
// against TooManyConnections (503 shutting_down).
//
// The two stream operations (server-sent events) are read incrementally with fetch():
// the 200's status, content type and headers are checked against the spec, every
// `event: record` data against StreamRecord and `event: gap` data against StreamGap,
// and the event ids, start positions, resumes and live delivery against what the
// operations describe; their errors as for any operation. A third server, with
// `--heartbeat-ms 200 --retention-check-ms 50 --stream-buffer-bytes 65536`, is for
// heartbeats, a gap (a resume id that retention overtook), a client too slow for the
// stream buffer, and streams ended cleanly by SIGTERM.
//
// Consumer groups: commits read back (offset, latest, lag), every documented error, the
// all-or-nothing rule, and the records in __consumer_offsets decoded as Kafka's
// OffsetCommitKey v1 / OffsetCommitValue v3 (tombstones for a deleted group); offsets
// removed with their topic. Members: join (Location), the documented assignment rule
// (every partition exactly once, p mod k), heartbeats, leaves, expiry (a 200 ms
// session), reads (offsets to commit, a long poll), fencing (stale_generation,
// unknown_member, member_required, invalid_member) and every join error. Group streams:
// ?group= starts at the group's offsets, &commit=auto commits the delivered position.
// A fourth server, stopped and started again on its data, for offsets surviving a
// restart and membership not.
//
// Tokens: made (scopes, expiry, rate limits; the request bodies checked against
// TokenCreate too, good and bad), listed, described, revoked, and every documented 400
// and 404; a scoped token against every operation that checks a scope (403 with
// `error="insufficient_scope"`, before 404), the lists and metrics that filter instead,
// groups covered by their topics (offsets and members' subscriptions), expiry (401
// token_expired), rate limits (429 with Retry-After, for requests and for request and
// answer bytes) and revocation (401 token_revoked; its stream ends and its long polls
// answer at once). A server of its own, restarted, keeps its tokens. CORS: OPTIONS on
// the main server (no --cors-origin) against components.responses.Preflight, then
// servers with `--cors-origin <list>` and `--cors-origin *` for the headers of answers,
// streams, preflights and answers given before any operation.
//
// Usage: node contract.mjs   (RILL_BIN=/path/to/rill to test another binary)
// Prints one line per check and "N passed, N failed" last; exits 1 on any failure.
// RILL_TEST_KEEP=1 keeps the temp dir (data and server log).
import { spawn } from "node:child_process";
import { createHmac } from "node:crypto";
import { existsSync, mkdtempSync, openSync, readFileSync, closeSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import SwaggerParser from "@apidevtools/swagger-parser";
import { describeErrors, makeAjv } from "./schema.mjs";
import { check, sleep } from "../js/report.mjs";
import { finish, RillServer } from "../js/rill_server.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const specPath = path.join(root, "openapi.yaml");
const BIN = path.resolve(here, process.env.RILL_BIN ?? "../../build/san/rill");
const START_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 20000;
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];



// ---- the spec ----

const specBytes = readFileSync(specPath);
const api = await SwaggerParser.dereference(specPath);
const ajv = makeAjv();
const operations = new Map(); // operationId -> {method, path, op, regex}
for (const [p, item] of Object.entries(api.paths)) {
  for (const m of METHODS) {
    if (!item[m]) continue;
    const regex = new RegExp(
      "^" + p.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\\?\{[^}/]+\\?\}/g, "[^/]+") + "$");
    operations.set(item[m].operationId, { method: m.toUpperCase(), path: p, op: item[m], regex });
  }
}
const exercised = new Map(); // operationId -> Set of statuses seen

const validators = new WeakMap();
function validatorFor(schema) {
  let v = validators.get(schema);
  if (!v) {
    v = ajv.compile(schema);
    validators.set(schema, v);
  }
  return v;
}

const mediaType = (ct) => (ct ?? "").split(";")[0].trim().toLowerCase();

// Checks one answer against a response object of the spec. Returns the parsed body.
function checkResponse(label, respSpec, res, buf, method) {
  let json;
  const ct = mediaType(res.headers.get("content-type"));
  const documented = Object.keys(respSpec.content ?? {});
  for (const [name, h] of Object.entries(respSpec.headers ?? {})) {
    if (h.required)
      check(res.headers.has(name), `${label}: has header ${name}`);
    const value = res.headers.get(name);
    if (value !== null && h.schema) {
      const v = validatorFor(h.schema);
      const typed = h.schema.type === "integer" && /^-?\d+$/.test(value) ? Number(value) : value;
      check(v(typed), `${label}: header ${name}: ${value} matches the schema`, describeErrors(v.errors));
    }
  }
  if (!documented.length) {
    check(buf.length === 0, `${label}: no body, as documented`, `${buf.length} bytes`);
    return undefined;
  }
  if (method === "HEAD") {
    check(buf.length === 0, `${label}: HEAD has no body`, `${buf.length} bytes`);
    return undefined;
  }
  const media = respSpec.content[ct] ??
    respSpec.content[`${ct.split("/")[0]}/*`] ?? respSpec.content["*/*"];
  if (!check(!!media, `${label}: content type ${ct || "(none)"} is documented`,
    `documented: ${documented.join(", ")}`))
    return undefined;
  if (ct === "application/json" || ct.endsWith("+json")) {
    try {
      json = JSON.parse(buf.toString("utf8"));
    } catch (err) {
      check(false, `${label}: body is JSON`, err.message);
      return undefined;
    }
  } else {
    json = buf.toString("utf8");
  }
  if (media.schema) {
    const v = validatorFor(media.schema);
    check(v(json), `${label}: body matches the schema`,
      `${describeErrors(v.errors)} in ${JSON.stringify(json).slice(0, 300)}`);
  }
  if (ct === "application/problem+json" && json && typeof json === "object")
    check(json.status === res.status, `${label}: problem status is ${res.status}`, `${json.status}`);
  return json;
}

// ---- the server ----

const tmp = mkdtempSync(path.join(os.tmpdir(), "rill-contract-"));
const data = path.join(tmp, "data");
const logPath = path.join(tmp, "rill.log");
let child;
let exited = null; // {code, signal} once the server ended
let base;
let TOKEN;

async function startServer() {
  if (!check(existsSync(BIN), `server binary ${BIN} exists`, "build it: make build/san/rill"))
    return false;
  const log = openSync(logPath, "a");
  child = spawn(BIN, ["serve", "--listen", "127.0.0.1:0", "--data", data], {
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  const ended = new Promise((resolve) => {
    child.on("exit", (code, signal) => {
      exited = { code, signal };
      resolve(exited);
    });
    child.on("error", (err) => {
      exited = { code: null, signal: null, error: err };
      resolve(exited);
    });
  });
  child.ended = ended;
  const addrFile = path.join(data, "rill.addr");
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!existsSync(addrFile) && !exited && Date.now() < deadline) await sleep(20);
  if (!check(existsSync(addrFile), `server started: ${addrFile} exists`,
    exited ? `the server exited ${JSON.stringify(exited)}` : `not within ${START_TIMEOUT_MS} ms`))
    return false;
  const addr = readFileSync(addrFile, "utf8").trim();
  base = `http://${addr}`;
  check(/^127\.0\.0\.1:\d+$/.test(addr), `rill.addr holds the address (${addr})`);
  const tokenFile = path.join(data, "admin.token");
  check(existsSync(tokenFile), "admin.token was written before rill.addr");
  TOKEN = readFileSync(tokenFile, "utf8").trim();
  check(/^rill_[A-Za-z0-9_-]+$/.test(TOKEN), "admin.token holds a rill_ token");
  return true;
}

async function stopServer() {
  if (!child || exited) return;
  child.kill("SIGTERM");
  const timer = sleep(STOP_TIMEOUT_MS).then(() => null);
  const result = await Promise.race([child.ended, timer]);
  if (!result) {
    child.kill("SIGKILL");
    check(false, "SIGTERM stops the server", `still running after ${STOP_TIMEOUT_MS} ms`);
    return;
  }
  check(result.code === 0, "SIGTERM stops the server with exit status 0", JSON.stringify(result));
  check(!existsSync(path.join(data, "rill.addr")), "rill.addr is removed at stop");
}

// ---- requests ----

// Calls operation 'opId' and checks the answer against the spec; 'expect' is the
// status this scenario must produce (and, for problems, 'code' the problem code).
async function call(opId, urlPath, opts = {}) {
  const o = operations.get(opId);
  const method = opts.method ?? o.method;
  const headers = { ...(opts.headers ?? {}) };
  if (opts.token !== null) headers.authorization ??= `Bearer ${opts.token ?? TOKEN}`;
  let body = opts.body;
  if (opts.json !== undefined) {
    body = JSON.stringify(opts.json);
    headers["content-type"] ??= "application/json";
  }
  const pathOnly = urlPath.split("?")[0];
  const shown = urlPath.replace(/access_token=rill_[^&]*/, "access_token=<token>");
  const label = `${opId} ${method} ${shown.length > 90 ? shown.slice(0, 90) + "..." : shown}` +
    (opts.note ? ` [${opts.note}]` : "");
  if (!check(o && o.regex.test(pathOnly) && (method === o.method || (method === "HEAD" && o.method === "GET")),
    `${label}: is the documented operation ${o?.method} ${o?.path}`))
    return {};
  const t0 = Date.now();
  const res = await fetch(base + urlPath, { method, headers, body,
    signal: AbortSignal.timeout(opts.timeout ?? 40000) });
  const buf = Buffer.from(await res.arrayBuffer());
  const ms = Date.now() - t0;
  const full = `${label} -> ${res.status}`;
  if (opts.expect !== undefined)
    check(res.status === opts.expect, `${full}: status is ${opts.expect}`,
      `got ${res.status} ${buf.toString("utf8").slice(0, 300)}`);
  if (!exercised.has(opId)) exercised.set(opId, new Set());
  exercised.get(opId).add(res.status);
  const respSpec = o.op.responses[String(res.status)] ?? o.op.responses.default;
  if (!check(!!respSpec, `${full}: status ${res.status} is documented`,
    `documented: ${Object.keys(o.op.responses).join(", ")}`))
    return { res, buf, ms };
  const json = checkResponse(full, respSpec, res, buf, method);
  if (opts.code !== undefined)
    check(json?.code === opts.code, `${full}: code is ${opts.code}`, `got ${json?.code}: ${json?.detail}`);
  return { res, buf, json, ms };
}

// GET /metrics: Prometheus text, with the partition and group families.
async function metricsScenarios() {
  await call("createTopic", "/topics", { json: { name: "metrics-t", partitions: 1 }, expect: 201 });
  await call("produceRecords", "/topics/metrics-t/messages", { json: { records: [{ value: 1 }, { value: 2 }] },
    expect: 200 });
  await call("commitGroupOffsets", "/groups/metrics-g/offsets", {
    json: { offsets: [{ topic: "metrics-t", partition: 0, offset: 1 }] }, expect: 200 });
  const { buf } = await call("getMetrics", "/metrics", { expect: 200 });
  const text = buf?.toString("utf8") ?? "";
  check(/^rill_partition_high_watermark\{topic="[^"]+",partition="\d+"\} \d+$/m.test(text),
    "getMetrics: each partition's high watermark is a sample", text.slice(0, 300));
  check(/^# TYPE rill_consumer_group_lag gauge$/m.test(text) &&
    text.includes('\nrill_consumer_group_lag{group="metrics-g",topic="metrics-t",partition="0"} 1\n'),
    "getMetrics: a group's lag per topic and partition (committed 1 of 2: lag 1)", text.slice(0, 300));
  check(text.split("\n").every((l) => l === "" || l.startsWith("# ") || /^[a-z_]+\{.*\} -?\d+$/.test(l)),
    "getMetrics: every line is a comment or a sample");
  await call("getMetrics", "/metrics?x=1", { expect: 400, code: "unknown_parameter" });
  await call("getMetrics", "/metrics", { token: null, expect: 401 });
  await call("deleteTopic", "/topics/metrics-t", { expect: 204 }); /* its offsets go too */
  const after = (await call("getMetrics", "/metrics", { expect: 200 })).buf?.toString("utf8") ?? "";
  check(!after.includes('group="metrics-g"'), "getMetrics: a deleted topic's group lag is gone");
}

// POST /topics/{t}/webhook: signed with the topic's webhook.secret, no token. Leaves no
// topic behind (listTopics is checked later).
async function webhookScenarios() {
  const secret = "wh-s3cret";
  const sign = (body, key = secret) => `sha256=${createHmac("sha256", key).update(body).digest("hex")}`;
  const W = "/topics/webhooks/webhook";
  const hook = (body, headers = {}, opts = {}) => call("produceWebhook", opts.path ?? W, {
    token: null, body, headers: { "content-type": "application/json", "x-hub-signature-256": sign(body), ...headers },
    ...opts });
  const challenge = 'HMAC-SHA256 realm="rill", header="X-Hub-Signature-256"';
  const body = JSON.stringify({ zen: "Keep it logically awesome.", hook_id: 292430182 });
  await call("createTopic", "/topics", {
    json: { name: "webhooks", partitions: 2, config: { "webhook.secret": secret, "max.message.bytes": 1024 } },
    expect: 201, note: "for webhooks" });
  {
    const delivery = { "x-github-event": "ping", "x-github-delivery": "72d3162e-cc78-11e3-81ab-4c9367dc0958" };
    const first = await hook(body, delivery, { expect: 200, note: "signed, first delivery" });
    const again = await hook(body, delivery, { expect: 200, note: "redelivery" });
    check(JSON.stringify(again.json) === JSON.stringify(first.json) &&
      again.res?.headers.get("idempotent-replayed") === "true" && !first.res?.headers.has("idempotent-replayed"),
    "produceWebhook: a redelivery gets the first answer", `${JSON.stringify(first.json)} ${JSON.stringify(again.json)}`);
    const at = first.json?.offsets?.[0];
    const { json } = await call("fetchRecords", `/topics/webhooks/partitions/${at?.partition}?offset=${at?.offset}&limit=1`,
      { expect: 200, note: "the webhook's record" });
    const rec = json?.records?.[0];
    check(JSON.stringify(rec?.value) === body && rec?.headers?.["x-github-event"] === "ping" &&
      rec?.headers?.["x-github-delivery"] === delivery["x-github-delivery"] &&
      rec?.headers?.["content-type"] === "application/json" && !("x-hub-signature-256" in (rec?.headers ?? {})),
    "produceWebhook: the body is the value, the event headers are kept, the signature is not", JSON.stringify(rec));
    await hook("{}", delivery, { expect: 409, code: "idempotency_key_reused", note: "same delivery, other body" });
  }
  await hook(body, { "x-github-delivery": "d".repeat(256) }, { expect: 400, code: "invalid_idempotency_key" });
  await hook(body, {}, { path: `${W}?key=repo%2Frill`, expect: 200, note: "?key=" });
  await hook(body, {}, { path: `${W}?partition=1`, expect: 200, note: "?partition=" });
  await hook(body, {}, { path: `${W}?partition=2`, expect: 404, code: "partition_not_found" });
  await hook(body, {}, { path: `${W}?partition=-1`, expect: 400, code: "invalid_parameter" });
  await hook(body, {}, { path: `${W}?raw=1`, expect: 400, code: "unknown_parameter" });
  await hook("x".repeat(2000), {}, { expect: 413, code: "record_too_large" });
  for (const [note, sig, code] of [
    ["no signature", undefined, "missing_signature"],
    ["another secret", sign(body, "other"), "invalid_signature"],
    ["sha1=", `sha1=${"0".repeat(40)}`, "invalid_signature"],
    ["63 hex digits", sign(body).slice(0, -1), "invalid_signature"],
  ]) {
    const headers = { "content-type": "application/json" };
    if (sig) headers["x-hub-signature-256"] = sig;
    const { res } = await call("produceWebhook", W, { token: null, body, headers, expect: 401, code, note });
    check(res?.headers.get("www-authenticate") === challenge, `produceWebhook 401 [${note}]: WWW-Authenticate`,
      res?.headers.get("www-authenticate"));
  }
  await call("produceWebhook", W, { body, expect: 401, code: "missing_signature", note: "a bearer token alone" });
  await hook(body, {}, { path: "/topics/orders/webhook", expect: 403, code: "webhook_not_enabled", note: "no secret" });
  await hook(body, {}, { path: "/topics/nope/webhook", expect: 403, code: "webhook_not_enabled", note: "no topic" });
  await hook(body, {}, { path: "/topics/__idempotency/webhook", expect: 403, code: "webhook_not_enabled", note: "internal" });
  await hook(body, {}, { path: "/topics/%zz/webhook", expect: 400, code: "bad_path" });
  await call("deleteTopic", "/topics/webhooks", { expect: 204 });
}

// A router-level answer (no operation), checked against a components.responses entry.
async function callRoute(component, method, urlPath, opts = {}) {
  const headers = { ...(opts.headers ?? {}) };
  const res = await fetch(base + urlPath, { method, headers, body: opts.body });
  const buf = Buffer.from(await res.arrayBuffer());
  const label = `${method} ${urlPath} -> ${res.status} (components.responses.${component})`;
  check(res.status === opts.expect, `${label}: status is ${opts.expect}`, buf.toString("utf8"));
  const json = checkResponse(label, api.components.responses[component], res, buf, method);
  return { res, json };
}

// A request with a raw socket, for what fetch will not send (a Content-Length with no
// body). Returns {status, headers (Headers), buf}.
function rawRequest(head) {
  const { hostname, port } = new URL(base);
  return new Promise((resolve, reject) => {
    const chunks = [];
    const sock = net.connect(Number(port), hostname, () => sock.write(head));
    sock.setTimeout(10000, () => sock.destroy(new Error("timeout")));
    const finish = () => {
      const all = Buffer.concat(chunks);
      const sep = all.indexOf("\r\n\r\n");
      if (sep < 0) return reject(new Error(`no response: ${all.toString()}`));
      const lines = all.subarray(0, sep).toString("latin1").split("\r\n");
      const status = Number(lines[0].split(" ")[1]);
      const headers = new Headers();
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
      }
      let buf = all.subarray(sep + 4);
      const len = headers.get("content-length");
      if (len !== null) buf = buf.subarray(0, Number(len));
      resolve({ status, headers, buf });
    };
    sock.on("data", (d) => {
      chunks.push(d);
      // done once the whole body (by Content-Length) is in
      const all = Buffer.concat(chunks);
      const sep = all.indexOf("\r\n\r\n");
      const m = /\r\ncontent-length:\s*(\d+)/i.exec(all.subarray(0, Math.max(sep, 0)).toString("latin1"));
      if (sep >= 0 && m && all.length >= sep + 4 + Number(m[1])) {
        sock.destroy();
        finish();
      }
    });
    sock.on("end", finish);
    sock.on("error", (err) => (chunks.length ? finish() : reject(err)));
  });
}

// One whole answer at the start of 'all' (by Content-Length; none means no body), or
// null while it is incomplete. Returns {status, headers (Headers), buf, length}.
function parseResponse(all) {
  const sep = all.indexOf("\r\n\r\n");
  if (sep < 0) return null;
  const lines = all.subarray(0, sep).toString("latin1").split("\r\n");
  const headers = new Headers();
  for (const l of lines.slice(1)) {
    const i = l.indexOf(":");
    headers.append(l.slice(0, i).trim(), l.slice(i + 1).trim());
  }
  const len = Number(headers.get("content-length") ?? 0);
  if (all.length < sep + 4 + len) return null;
  return { status: Number(lines[0].split(" ")[1]), headers,
    buf: all.subarray(sep + 4, sep + 4 + len), length: sep + 4 + len };
}

// A raw connection to 'url' from 'localAddress' that stays open (and counted by the
// server) until close(). request(head) sends one request and reads its answer;
// closed() resolves once the server has closed the connection.
async function connectRaw(url, localAddress = "127.0.0.1") {
  const { hostname, port } = new URL(url);
  const sock = net.connect({ port: Number(port), host: hostname, localAddress });
  let pending = Buffer.alloc(0);
  let wake = null;
  let isClosed = false;
  const closed = new Promise((resolve) => sock.on("close", () => {
    isClosed = true;
    resolve();
    wake?.();
  }));
  sock.on("data", (d) => {
    pending = Buffer.concat([pending, d]);
    wake?.();
  });
  sock.on("error", () => {}); // seen as a close
  sock.setTimeout(10000, () => sock.destroy());
  await new Promise((resolve, reject) => {
    sock.once("connect", resolve);
    sock.once("close", () => reject(new Error(`cannot connect from ${localAddress}`)));
  });
  return {
    async request(head) {
      sock.write(head);
      for (;;) {
        const r = parseResponse(pending);
        if (r) {
          pending = pending.subarray(r.length);
          return r;
        }
        if (isClosed)
          throw new Error(`closed before a whole answer: ${pending.toString("latin1").slice(0, 300)}`);
        await new Promise((resolve) => { wake = resolve; });
        wake = null;
      }
    },
    write: (data) => sock.write(data),
    closed: () => Promise.race([closed.then(() => true), sleep(10000).then(() => false)]),
    close: () => sock.destroy(),
  };
}

// ---- server-sent events ----

// A stream (streamPartition, streamTopic) opened with fetch() and read incrementally.
// openStream() checks the answer's status, content type and headers against the spec
// and returns {res, next(ms), close(), raw()}; next() resolves to the next SSE block
// ({id, event, data, dataLines, retry, comments}; data is the data lines joined with
// LF, as EventSource joins them), to {end: true} once the body has ended cleanly, to
// {error} if it broke off, or to null if nothing came within 'ms'. For an answer other
// than 200 it checks that answer as call() does and returns null.
async function openStream(opId, urlPath, opts = {}) {
  const o = operations.get(opId);
  const headers = { ...(opts.headers ?? {}) };
  // the token once: a URL with ?access_token= gets no Authorization header (both is 400)
  if (opts.token !== null && !/[?&]access_token=/.test(urlPath))
    headers.authorization ??= `Bearer ${opts.token ?? TOKEN}`;
  const shown = urlPath.replace(/access_token=rill_[^&]*/, "access_token=<token>");
  const label = `${opId} GET ${shown}` + (opts.note ? ` [${opts.note}]` : "");
  if (!check(o && o.regex.test(urlPath.split("?")[0]), `${label}: is the documented operation ${o?.method} ${o?.path}`))
    return null;
  const ctl = new AbortController();
  const timer = setTimeout(() => ctl.abort(), 10000); // for the headers
  let res;
  try {
    res = await fetch(base + urlPath, { headers, signal: ctl.signal });
  } catch (err) {
    check(false, `${label}: answers`, err.message);
    return null;
  } finally {
    clearTimeout(timer);
  }
  if (!exercised.has(opId)) exercised.set(opId, new Set());
  exercised.get(opId).add(res.status);
  const full = `${label} -> ${res.status}`;
  if (res.status !== 200) {
    const body = await Promise.race([res.text(), sleep(2000).then(() => "")]);
    check(false, `${full}: status is 200`, body.slice(0, 300));
    ctl.abort();
    return null;
  }
  check(true, `${full}: status is 200`);
  const respSpec = o.op.responses["200"];
  const ct = mediaType(res.headers.get("content-type"));
  check(!!respSpec.content?.[ct], `${full}: content type ${ct} is documented`,
    Object.keys(respSpec.content ?? {}).join(", "));
  for (const [name, h] of Object.entries(respSpec.headers ?? {})) {
    const value = res.headers.get(name);
    if (h.required) check(value !== null, `${full}: has header ${name}`);
    if (value !== null && h.schema) {
      const v = validatorFor(h.schema);
      check(v(value), `${full}: header ${name}: ${value} matches the schema`, describeErrors(v.errors));
    }
  }

  const reader = res.body.getReader();
  const decoder = new TextDecoder();
  const blocks = [];
  let all = "";
  let text = "";
  let block = null;
  let pending = null;
  let done = null;
  const badLines = [];
  const parse = () => {
    for (;;) {
      const m = /\r\n|\r(?=[^\n])|\n/.exec(text);
      if (!m) break;
      const line = text.slice(0, m.index);
      text = text.slice(m.index + m[0].length);
      if (line === "") {
        if (block) blocks.push(block);
        block = null;
        continue;
      }
      block ??= { id: undefined, event: undefined, dataLines: [], retry: undefined, comments: [] };
      if (line.startsWith(":")) {
        block.comments.push(line.slice(1).trim());
        continue;
      }
      // rill writes "field: value": one of the documented fields, one space
      const f = /^(retry|id|event|data): (.*)$/s.exec(line);
      if (!f) badLines.push(line);
      const i = line.indexOf(":");
      const field = i < 0 ? line : line.slice(0, i);
      const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
      if (field === "data") block.dataLines.push(value);
      else if (field === "id") block.id = value;
      else if (field === "event") block.event = value;
      else if (field === "retry") block.retry = Number(value);
    }
  };
  const finish = (b) => (b.data = b.dataLines.join("\n"), b);
  async function next(ms = 5000) {
    for (;;) {
      if (blocks.length) return finish(blocks.shift());
      if (done) return done;
      pending ??= reader.read().then(
        (r) => {
          pending = null;
          if (r.done) done = { end: true };
          else {
            const chunk = decoder.decode(r.value, { stream: true });
            all = (all + chunk).slice(-65536);
            text += chunk;
            parse();
          }
        },
        (err) => {
          pending = null;
          done = { error: err.cause?.message ?? err.message };
        });
      const got = await Promise.race([pending.then(() => true), sleep(ms).then(() => false)]);
      if (!got) return null;
    }
  }
  return {
    res,
    label: full,
    next,
    badLines,
    raw: () => all,
    close: () => {
      ctl.abort();
      reader.cancel().catch(() => {});
    },
  };
}

// Validates one event of a stream against the spec: a record's data against
// StreamRecord, a gap's against StreamGap. Returns the parsed data.
function checkEvent(label, ev) {
  const schemas = { record: "StreamRecord", gap: "StreamGap" };
  const name = schemas[ev.event];
  if (!check(!!name, `${label}: event ${ev.event} is a documented event (record or gap)`, JSON.stringify(ev)))
    return undefined;
  let json;
  try {
    json = JSON.parse(ev.data);
  } catch (err) {
    check(false, `${label}: ${ev.event} data is JSON`, `${err.message} in ${ev.data.slice(0, 200)}`);
    return undefined;
  }
  const v = validatorFor(api.components.schemas[name]);
  check(v(json), `${label}: ${ev.event} data matches ${name}`,
    `${describeErrors(v.errors)} in ${ev.data.slice(0, 300)}`);
  check(typeof ev.id === "string" && ev.id.length > 0, `${label}: ${ev.event} event has an id`, JSON.stringify(ev));
  return json;
}

// Reads events from stream 's' until 'n' record/gap events have come (each checked
// with checkEvent); comments and retry blocks are skipped. Returns [{ev, json}] (fewer
// if the body ended or nothing came within 'ms').
async function readEvents(s, n, label, ms = 5000) {
  const out = [];
  while (out.length < n) {
    const ev = await s.next(ms);
    if (!ev || ev.end || ev.error) break;
    if (ev.event === undefined && !ev.dataLines.length) continue; // retry:, a comment
    out.push({ ev, json: checkEvent(label, ev) });
  }
  check(out.length === n, `${label}: ${n} events came`, `${out.length}: ${s.raw().slice(-400)}`);
  return out;
}

// The first block of a stream is "retry: 2000" alone.
async function checkRetry(s) {
  const first = await s.next();
  check(first?.retry === 2000 && first.event === undefined && !first.dataLines.length,
    `${s.label}: the stream begins with retry: 2000`, JSON.stringify(first));
}

// An error answer of a stream operation (call(), but a stream answered by mistake
// fails the check instead of hanging).
async function streamError(opId, urlPath, opts) {
  try {
    return await call(opId, urlPath, { ...opts, timeout: 5000 });
  } catch (err) {
    check(false, `${opId} GET ${urlPath}: answers ${opts.expect}`, err.message);
    return {};
  }
}

// Produces records (a JSON envelope) and returns the offsets answered.
async function produce(topic, records, note) {
  const { json } = await call("produceRecords", `/topics/${topic}/messages`, {
    json: { records }, expect: 200, note });
  return json?.offsets ?? [];
}

// ---- the scenarios ----

const defaultsConfig = {
  "retention.ms": 604800000, "retention.bytes": -1, "segment.bytes": 1073741824,
  "segment.ms": 604800000, "cleanup.policy": "delete", "flush.policy": "always",
  "flush.ms": 1000, "max.message.bytes": 1048576, "delete.retention.ms": 86400000,
};

async function operationsScenarios() {
  // -- operations --
  await call("getHealth", "/healthz", { token: null, expect: 200 });
  {
    const res = await fetch(`${base}/healthz`, { method: "HEAD" });
    const buf = Buffer.from(await res.arrayBuffer());
    check(res.status === 200 && buf.length === 0, "HEAD /healthz -> 200 with no body", `${res.status}`);
  }
  {
    const { res, buf } = await call("getOpenapi", "/openapi.yaml", { expect: 200 });
    check(res && buf.equals(specBytes), "GET /openapi.yaml is openapi.yaml byte for byte",
      `${buf?.length} bytes served, ${specBytes.length} in the file (rebuild the binary?)`);
  }
  await call("getOpenapi", "/openapi.yaml", { token: null, expect: 401, code: "unauthorized" });
  await call("getOpenapi", `/openapi.yaml?access_token=${TOKEN}`, { token: null, expect: 200, note: "access_token" });
  await call("getOpenapi", "/openapi.yaml?access_token=rill_wrong", { token: null, expect: 401, code: "invalid_token" });

  // -- topics --
  await call("listTopics", "/topics", { expect: 200 });
  await call("listTopics", "/topics", { token: "rill_not_the_token", expect: 401, code: "invalid_token" });
  {
    const { res } = await call("listTopics", "/topics", { headers: { authorization: "Basic YTpi" }, expect: 401,
      code: "unauthorized", note: "another scheme" });
    check(res?.headers.get("www-authenticate") === 'Bearer realm="rill"',
      "listTopics 401 [another scheme]: WWW-Authenticate: Bearer realm=\"rill\"", res?.headers.get("www-authenticate"));
  }
  {
    const { res } = await call("listTopics", "/topics", { token: "rill_not_the_token", expect: 401, code: "invalid_token",
      note: "its challenge" });
    check(res?.headers.get("www-authenticate") ===
      'Bearer realm="rill", error="invalid_token", error_description="the bearer token is not valid"',
    "listTopics 401 invalid_token: WWW-Authenticate has error=\"invalid_token\"", res?.headers.get("www-authenticate"));
  }
  await call("listTopics", "/topics", { token: null, expect: 401, code: "unauthorized" });

  {
    const { res, json } = await call("createTopic", "/topics", {
      json: { name: "orders", partitions: 3, config: { "retention.ms": 86400000, "cleanup.policy": "delete" } },
      expect: 201,
    });
    check(res?.headers.get("location") === "/topics/orders", "createTopic: Location is /topics/orders",
      res?.headers.get("location"));
    check(json?.partitions?.length === 3 && json?.config?.["retention.ms"] === 86400000 &&
      json?.config?.["segment.bytes"] === 1073741824 && json?.internal === false,
    "createTopic: answer has 3 partitions, the given config and defaults for the rest",
    JSON.stringify(json));
  }
  {
    const { json } = await call("createTopic", "/topics", {
      json: { name: "defaults" }, expect: 201, note: "name only" });
    check(JSON.stringify(json?.config) === JSON.stringify(defaultsConfig) && json?.partitions?.length === 1,
      "createTopic: defaults are 1 partition and the documented config defaults", JSON.stringify(json?.config));
  }
  {
    const { json } = await call("createTopic", "/topics", {
      json: { name: "hooks", config: { "retention.ms": "3600000", "webhook.secret": "s3cr\"t" } },
      expect: 201, note: "string integer, webhook.secret",
    });
    check(json?.config?.["retention.ms"] === 3600000 && !("webhook.secret" in (json?.config ?? {})),
      "createTopic: a decimal-string config value comes back a number; webhook.secret is not returned",
      JSON.stringify(json?.config));
  }
  await call("createTopic", "/topics", { json: { name: "orders" }, expect: 409, code: "topic_exists" });
  await call("createTopic", "/topics", { body: "", headers: { "content-type": "application/json" }, expect: 400, code: "invalid_json" });
  await call("createTopic", "/topics", { body: "{\"name\":", headers: { "content-type": "application/json" }, expect: 400, code: "invalid_json" });
  await call("createTopic", "/topics", { json: [1], expect: 400, code: "invalid_json" });
  await call("createTopic", "/topics", { json: { name: "x", color: "red" }, expect: 400, code: "unknown_field" });
  await call("createTopic", "/topics", { json: { name: "bad name" }, expect: 400, code: "invalid_topic_name" });
  await call("createTopic", "/topics", { json: { name: ".." }, expect: 400, code: "invalid_topic_name" });
  await call("createTopic", "/topics", { json: { name: "x".repeat(250) }, expect: 400, code: "invalid_topic_name" });
  await call("createTopic", "/topics", { json: { name: "__consumer_offsets" }, expect: 400, code: "reserved_topic_name" });
  await call("createTopic", "/topics", { json: { name: "x", partitions: 0 }, expect: 400, code: "invalid_partitions" });
  await call("createTopic", "/topics", { json: { name: "x", partitions: 10001 }, expect: 400, code: "invalid_partitions" });
  await call("createTopic", "/topics", { json: { name: "x", config: { "no.such.key": 1 } }, expect: 400, code: "invalid_config" });
  await call("createTopic", "/topics", { json: { name: "x", config: { "segment.bytes": 1023 } }, expect: 400, code: "invalid_config" });
  await call("createTopic", "/topics", { json: { name: "x", config: { "cleanup.policy": "shred" } }, expect: 400, code: "invalid_config" });
  await call("createTopic", "/topics", { json: { name: "x", config: [] }, expect: 400, code: "invalid_config" });
  await call("createTopic", `/topics?access_token=${TOKEN}`, { token: null, json: { name: "x" }, expect: 401,
    code: "unauthorized", note: "access_token is GET only" });
  {
    // a declared body over --max-body-bytes (8 MiB): 413 before the body is read
    const r = await rawRequest("POST /topics HTTP/1.1\r\nHost: rill\r\nContent-Type: application/json\r\n" +
      "Content-Length: 100000000\r\nConnection: close\r\n\r\n");
    const label = "createTopic POST /topics [Content-Length: 100000000] -> " + r.status;
    check(r.status === 413, `${label}: status is 413`);
    const json = checkResponse(label, operations.get("createTopic").op.responses["413"],
      { status: r.status, headers: r.headers }, r.buf, "POST");
    check(json?.code === "content_too_large", `${label}: code is content_too_large`, json?.code);
  }
  {
    const { json } = await call("listTopics", "/topics", { expect: 200, note: "with topics" });
    check(JSON.stringify(json?.topics?.map((t) => t.name)) === JSON.stringify(["defaults", "hooks", "orders"]),
      "listTopics: lists the topics, sorted by name", JSON.stringify(json?.topics?.map((t) => t.name)));
  }
  await call("listTopics", "/topics?internal=true", { expect: 200, note: "internal" });

  await call("getTopic", "/topics/orders", { expect: 200 });
  await call("getTopic", `/topics/orders?access_token=${TOKEN}`, { token: null, expect: 200, note: "access_token" });
  await call("getTopic", "/topics/nope", { expect: 404, code: "topic_not_found" });
  await call("getTopic", "/topics/bad%20name", { expect: 400, code: "invalid_topic_name" });
  await call("getTopic", "/topics/a%2Fb", { expect: 400, code: "invalid_topic_name" });
  await call("getTopic", "/topics/a%zzb", { expect: 400, code: "bad_path" });
  await call("getTopic", "/topics/a%00b", { expect: 400, code: "bad_path" });
  await call("getTopic", "/topics/orders", { token: null, expect: 401, code: "unauthorized" });
  {
    const res = await fetch(`${base}/topics/orders`, { method: "HEAD", headers: { authorization: `Bearer ${TOKEN}` } });
    const buf = Buffer.from(await res.arrayBuffer());
    check(res.status === 200 && buf.length === 0 && mediaType(res.headers.get("content-type")) === "application/json",
      "HEAD /topics/orders -> 200, JSON content type, no body", `${res.status}`);
  }

  {
    const { json } = await call("updateTopic", "/topics/orders", {
      json: { partitions: 4, config: { "retention.ms": -1 } }, expect: 200 });
    check(json?.partitions?.length === 4 && json?.config?.["retention.ms"] === -1 &&
      json?.config?.["cleanup.policy"] === "delete",
    "updateTopic: grew to 4 partitions, retention.ms -1, other keys kept", JSON.stringify(json));
  }
  await call("updateTopic", "/topics/orders", { json: {}, expect: 200, note: "no change" });
  await call("updateTopic", "/topics/orders", { json: { partitions: 2 }, expect: 400, code: "partitions_cannot_shrink" });
  await call("updateTopic", "/topics/orders", { json: { name: "x" }, expect: 400, code: "unknown_field" });
  await call("updateTopic", "/topics/orders", { json: { partitions: "5" }, expect: 400, code: "invalid_partitions" });
  await call("updateTopic", "/topics/orders", { json: { config: { "flush.policy": "never" } }, expect: 400, code: "invalid_config" });
  await call("updateTopic", "/topics/orders", { body: "nope", headers: { "content-type": "application/json" }, expect: 400, code: "invalid_json" });
  await call("updateTopic", "/topics/nope", { json: { partitions: 2 }, expect: 404, code: "topic_not_found" });
  await call("updateTopic", "/topics/orders", { token: null, json: {}, expect: 401, code: "unauthorized" });

  // -- produce --
  let lastOffset;
  let firstOffset;
  {
    const { json } = await call("produceRecords", "/topics/orders/messages", {
      json: {
        records: [
          { key: "user-42", value: { action: "login" }, headers: { source: "web" } },
          { value_base64: "AAEC", partition: 2, timestamp: 1764000000000 },
        ],
      },
      expect: 200, note: "API.md example",
    });
    check(json?.offsets?.length === 2 && json.offsets[1].partition === 2,
      "produceRecords: one offset per record, in request order", JSON.stringify(json));
  }
  {
    const { json } = await call("produceRecords", "/topics/orders/messages", {
      json: {
        records: [
          { value: { n: 1 }, partition: 0, timestamp: 1000 },
          { key: null, value: null, partition: 0, timestamp: 2000 },
          { key_base64: "/w==", value: "text", partition: 0, timestamp: 3000 },
          { partition: 0, timestamp: 4000 },
          { key: "k", value: [1, 2, { a: null }], headers: {}, partition: 0, timestamp: 5000 },
        ],
      },
      expect: 200, note: "partition 0",
    });
    const offs = json?.offsets?.map((o) => o.offset) ?? [];
    check(offs.length === 5 && offs.every((o, i) => i === 0 || o === offs[i - 1] + 1),
      "produceRecords: records of one partition get consecutive offsets", JSON.stringify(offs));
    lastOffset = offs[4];
    firstOffset = offs[0];
  }
  {
    const { json } = await call("produceRecords", "/topics/orders/messages?key=k1&partition=0", {
      body: "hello, raw", headers: { "content-type": "text/plain" }, expect: 200, note: "raw text/plain",
    });
    check(json?.offsets?.[0]?.offset === lastOffset + 1, "produceRecords: raw record appended next",
      JSON.stringify(json));
  }
  await call("produceRecords", "/topics/orders/messages?raw=1&partition=0", {
    json: { records: "not an envelope" }, expect: 200, note: "?raw=1 with application/json" });
  await call("produceRecords", "/topics/orders/messages?raw&partition=0", {
    body: Buffer.from([0xff, 0x00, 0xfe]), headers: { "content-type": "application/octet-stream" },
    expect: 200, note: "?raw (empty value), binary" });
  await call("produceRecords", "/topics/orders/messages", {
    body: JSON.stringify({ records: [{ value: 1, partition: 1 }] }), expect: 200,
    note: "no Content-Type: envelope" });
  await call("produceRecords", "/topics/orders/messages", {
    body: JSON.stringify({ records: [{ value: 1, partition: 1 }] }),
    headers: { "content-type": "application/x-www-form-urlencoded" }, expect: 200,
    note: "form type with a JSON object: envelope (curl -d)" });
  await call("produceRecords", "/topics/orders/messages?partition=1", {
    body: "a=1&b=2", headers: { "content-type": "application/x-www-form-urlencoded" }, expect: 200,
    note: "form type, not JSON: raw" });
  await call("produceRecords", "/topics/orders/messages?key=some-key", {
    body: "keyed", headers: { "content-type": "text/plain" }, expect: 200, note: "raw, keyed" });

  // conditional appends
  let hw;
  {
    const { json } = await call("getOffsets", "/topics/orders/partitions/3/offsets", { expect: 200 });
    hw = json?.latest;
  }
  await call("produceRecords", "/topics/orders/messages", {
    json: { records: [{ value: 1, partition: 3 }] }, headers: { "if-match": `"${hw}"` }, expect: 200,
    note: "If-Match matches" });
  {
    const { res, json } = await call("produceRecords", "/topics/orders/messages", {
      json: { records: [{ value: 2, partition: 3 }] }, headers: { "if-match": `"${hw}"` }, expect: 412,
      code: "offset_mismatch", note: "If-Match stale" });
    check(json?.next_offset === hw + 1 && res?.headers.get("etag") === `"${hw + 1}"`,
      "produceRecords 412: next_offset and ETag are the current next offset",
      `${json?.next_offset} ${res?.headers.get("etag")}`);
  }
  await call("produceRecords", "/topics/orders/messages?partition=3", {
    body: "raw", headers: { "content-type": "text/plain", "if-match": `${hw + 1}` }, expect: 200,
    note: "If-Match without quotes, raw" });
  await call("produceRecords", "/topics/orders/messages", {
    json: { records: [{ value: 1, partition: 0 }, { value: 1, partition: 1 }] },
    headers: { "if-match": '"0"' }, expect: 400, code: "if_match_needs_one_partition" });
  await call("produceRecords", "/topics/orders/messages", {
    json: { records: [{ value: 1, partition: 0 }] }, headers: { "if-match": '"abc"' }, expect: 400,
    code: "invalid_if_match" });

  // Idempotency-Key
  const P = "/topics/orders/messages";
  {
    const req = { json: { records: [{ value: "once", partition: 1 }] }, headers: { "idempotency-key": "order-1001" } };
    const first = await call("produceRecords", P, { ...req, expect: 200, note: "Idempotency-Key, first" });
    const before = (await call("getOffsets", "/topics/orders/partitions/1/offsets", { expect: 200 })).json;
    const again = await call("produceRecords", P, { ...req, expect: 200, note: "Idempotency-Key, retry" });
    const after = (await call("getOffsets", "/topics/orders/partitions/1/offsets", { expect: 200 })).json;
    check(JSON.stringify(again.json) === JSON.stringify(first.json) &&
      again.res?.headers.get("idempotent-replayed") === "true" && before?.latest === after?.latest,
    "produceRecords: a retry with the same Idempotency-Key gets the first answer and writes nothing",
    `${JSON.stringify(first.json)} ${JSON.stringify(again.json)} ${before?.latest} ${after?.latest}`);
    await call("produceRecords", P, { json: { records: [{ value: "other", partition: 1 }] },
      headers: { "idempotency-key": "order-1001" }, expect: 409, code: "idempotency_key_reused",
      note: "same key, other body" });
    await call("produceRecords", P, { json: { records: [{ value: 1 }] },
      headers: { "idempotency-key": "k".repeat(256) }, expect: 400, code: "invalid_idempotency_key" });
  }
  // the internal topic __idempotency
  {
    const { json } = await call("listTopics", "/topics?internal=true", { expect: 200, note: "internal topics" });
    const t = json?.topics?.find((x) => x.name === "__idempotency");
    check(t?.internal === true, "listTopics?internal=true lists __idempotency as internal", JSON.stringify(t));
    const { json: plain } = await call("listTopics", "/topics", { expect: 200, note: "no internal topics" });
    check(!plain?.topics?.some((x) => x.internal), "listTopics leaves internal topics out by default");
  }
  await call("getTopic", "/topics/__idempotency", { expect: 200, note: "internal" });
  await call("produceRecords", "/topics/__idempotency/messages", {
    json: { records: [{ value: 1 }] }, expect: 403, code: "internal_topic" });
  await call("deleteTopic", "/topics/__idempotency", { expect: 403, code: "internal_topic" });
  await call("updateTopic", "/topics/__idempotency", {
    method: "PATCH", json: { config: { "flush.policy": "interval" } }, expect: 403,
    code: "internal_topic" });

  // produce errors
  await call("produceRecords", P, { json: { records: [] }, expect: 400, code: "invalid_envelope" });
  await call("produceRecords", P, { json: { records: [{}], extra: 1 }, expect: 400, code: "invalid_envelope" });
  await call("produceRecords", P, { json: { value: 1 }, expect: 400, code: "invalid_envelope" });
  await call("produceRecords", P, { body: "", headers: { "content-type": "application/json" }, expect: 400, code: "invalid_json" });
  await call("produceRecords", P, { json: { records: [1] }, expect: 400, code: "invalid_record" });
  await call("produceRecords", P, { json: { records: [{ key: "a", key_base64: "YQ==" }] }, expect: 400, code: "invalid_record" });
  await call("produceRecords", P, { json: { records: [{ value: 1, value_base64: "YQ==" }] }, expect: 400, code: "invalid_record" });
  await call("produceRecords", P, { json: { records: [{ key: 5 }] }, expect: 400, code: "invalid_record" });
  await call("produceRecords", P, { json: { records: [{ headers: { a: 1 } }] }, expect: 400, code: "invalid_record" });
  await call("produceRecords", P, { json: { records: [{ timestamp: -1 }] }, expect: 400, code: "invalid_record" });
  await call("produceRecords", P, { json: { records: [{ partition: -1 }] }, expect: 400, code: "invalid_record" });
  await call("produceRecords", P, { json: { records: [{ value: 1, colour: "red" }] }, expect: 400, code: "unknown_field" });
  await call("produceRecords", P, { json: { records: [{ value_base64: "@@@" }] }, expect: 400, code: "invalid_base64" });
  await call("produceRecords", `${P}?partition=-1`, { body: "x", headers: { "content-type": "text/plain" }, expect: 400, code: "invalid_parameter" });
  await call("produceRecords", P, { json: { records: [{ value: 1 }, { value: 1, partition: 99 }] }, expect: 404, code: "partition_not_found" });
  await call("produceRecords", `${P}?partition=99`, { body: "x", headers: { "content-type": "text/plain" }, expect: 404, code: "partition_not_found" });
  await call("produceRecords", "/topics/nope/messages", { json: { records: [{ value: 1 }] }, expect: 404, code: "topic_not_found" });
  await call("produceRecords", "/topics/bad%20name/messages", { json: { records: [{ value: 1 }] }, expect: 400, code: "invalid_topic_name" });
  await call("produceRecords", P, { token: null, json: { records: [{ value: 1 }] }, expect: 401, code: "unauthorized" });
  await call("produceRecords", P, {
    json: { records: Array.from({ length: 10001 }, () => ({})) }, expect: 413, code: "too_many_records",
    note: "10001 records" });
  await call("createTopic", "/topics", {
    json: { name: "small", config: { "max.message.bytes": 1024 } }, expect: 201, note: "max.message.bytes 1024" });
  await call("produceRecords", "/topics/small/messages", {
    json: { records: [{ value: "x".repeat(2000) }] }, expect: 413, code: "record_too_large" });
  {
    // all or nothing: nothing of a rejected request is written
    const before = (await call("getOffsets", "/topics/orders/partitions/0/offsets", { expect: 200 })).json;
    await call("produceRecords", P, { json: { records: [{ value: 1, partition: 0 }, { value: 1, partition: 0, x: 1 }] },
      expect: 400, code: "unknown_field", note: "second record bad" });
    const after = (await call("getOffsets", "/topics/orders/partitions/0/offsets", { expect: 200 })).json;
    check(before?.latest === after?.latest, "produceRecords: a rejected request writes nothing",
      `${before?.latest} -> ${after?.latest}`);
  }

  // -- fetch --
  const F = "/topics/orders/partitions/0";
  {
    const { json } = await call("fetchRecords", F, { expect: 200, note: "from earliest" });
    const recs = json?.records ?? [];
    check(recs.length >= 9 && json?.next_offset === recs[recs.length - 1].offset + 1 &&
      json?.high_watermark === json?.next_offset,
    "fetchRecords: everything from earliest; next_offset follows the last record",
    `${recs.length} records, next ${json?.next_offset}, hw ${json?.high_watermark}`);
    const byTs = Object.fromEntries(recs.map((r) => [r.timestamp, r]));
    check(JSON.stringify(byTs[1000]?.value) === '{"n":1}' && byTs[1000]?.key === null,
      "fetchRecords: a JSON value comes back embedded; no key is null", JSON.stringify(byTs[1000]));
    check(byTs[2000] && byTs[2000].value === null, "fetchRecords: a null value is \"value\":null", JSON.stringify(byTs[2000]));
    check(byTs[3000]?.key_base64 === "/w==" && byTs[3000]?.value === "text",
      "fetchRecords: a non-UTF-8 key comes back as key_base64", JSON.stringify(byTs[3000]));
    const raw = recs.find((r) => r.key === "k1");
    check(raw?.value_base64 === Buffer.from("hello, raw").toString("base64") &&
      raw?.headers?.["content-type"] === "text/plain",
    "fetchRecords: a raw non-JSON body comes back as value_base64 with its content-type header",
    JSON.stringify(raw));
    const rawJson = recs.find((r) => r.value && r.value.records === "not an envelope");
    check(!!rawJson, "fetchRecords: a raw JSON body comes back as value, verbatim");
    const empty = recs.find((r) => r.value_base64 === Buffer.from([0xff, 0, 0xfe]).toString("base64"));
    check(!!empty && empty.headers["content-type"] === "application/octet-stream",
      "fetchRecords: a raw binary body comes back as value_base64");
  }
  {
    const { json } = await call("fetchRecords", `${F}?offset=1&limit=2`, { expect: 200, note: "limit" });
    check(json?.records?.length === 2 && json.records[0].offset === 1 && json.next_offset === 3,
      "fetchRecords: offset and limit", JSON.stringify(json?.records?.map((r) => r.offset)));
  }
  {
    const { json } = await call("fetchRecords", `${F}?value_format=base64&limit=1&offset=${firstOffset}`, { expect: 200, note: "base64" });
    check(json?.records?.[0]?.value_base64 === Buffer.from('{"n":1}').toString("base64"),
      "fetchRecords: value_format=base64 forces value_base64", JSON.stringify(json?.records?.[0]));
  }
  await call("fetchRecords", `${F}?value_format=auto&max_bytes=1`, { expect: 200, note: "max_bytes=1, auto" });
  {
    await call("createTopic", "/topics", { json: { name: "timeline" }, expect: 201, note: "for timestamps" });
    await call("produceRecords", "/topics/timeline/messages", {
      json: { records: [1000, 2000, 3000].map((t) => ({ value: t, timestamp: t })) }, expect: 200 });
    const T = "/topics/timeline/partitions/0";
    let { json } = await call("fetchRecords", `${T}?timestamp=2500`, { expect: 200, note: "timestamp" });
    check(json?.records?.[0]?.offset === 2 && json.records[0].timestamp === 3000,
      "fetchRecords: timestamp finds the first record at or after it", JSON.stringify(json?.records?.[0]));
    ({ json } = await call("fetchRecords", `${T}?timestamp=0`, { expect: 200, note: "timestamp before all" }));
    check(json?.records?.[0]?.offset === 0, "fetchRecords: a timestamp before every record reads from the start");
    ({ json } = await call("fetchRecords", `${T}?timestamp=4000`, { expect: 200, note: "timestamp after all" }));
    check(json?.records?.length === 0 && json?.next_offset === 3,
      "fetchRecords: a timestamp after every record reads at the high watermark", JSON.stringify(json));
  }
  {
    const { json } = await call("fetchRecords", `${F}?offset=latest`, { expect: 200, note: "latest" });
    check(json?.records?.length === 0 && json?.next_offset === json?.high_watermark,
      "fetchRecords: offset=latest is empty", JSON.stringify(json));
  }
  {
    const { json, ms } = await call("fetchRecords", `${F}?offset=latest&wait_ms=300`, { expect: 200, note: "long poll, no data" });
    check(json?.records?.length === 0 && ms >= 250, "fetchRecords: a long poll with no data waits and answers empty",
      `${ms} ms`);
  }
  {
    const { json: off } = await call("getOffsets", `${F}/offsets`, { expect: 200 });
    const poll = call("fetchRecords", `${F}?offset=${off?.latest}&wait_ms=10000`, { expect: 200, note: "long poll, woken" });
    await sleep(200);
    await call("produceRecords", P, { json: { records: [{ value: "wake", partition: 0 }] }, expect: 200, note: "wakes the poll" });
    const { json, ms } = await poll;
    check(json?.records?.length === 1 && json.records[0].value === "wake" && ms < 9000,
      "fetchRecords: a long poll answers as soon as a record comes", `${ms} ms ${JSON.stringify(json?.records)}`);
  }
  await call("fetchRecords", `${F}?access_token=${TOKEN}&limit=1`, { token: null, expect: 200, note: "access_token" });
  {
    const { json } = await call("fetchRecords", `${F}?offset=999999`, { expect: 416, code: "offset_out_of_range" });
    check(json?.earliest === 0 && typeof json?.latest === "number", "fetchRecords 416: earliest and latest are there",
      JSON.stringify(json));
  }
  await call("fetchRecords", `${F}?offset=-1`, { expect: 400, code: "invalid_parameter", note: "negative" });
  await call("fetchRecords", `${F}?ofset=5`, { expect: 400, code: "unknown_parameter", note: "typo" });
  await call("listTopics", "/topics?intrnal=true", { expect: 400, code: "unknown_parameter" });
  await call("createTopic", "/topics", { method: "POST", body: "name=x",
    headers: { "content-type": "text/plain" }, expect: 415, code: "unsupported_media_type" });
  for (const q of ["limit=0", "limit=10001", "limit=x", "max_bytes=0", "max_bytes=67108865",
    "wait_ms=-1", "wait_ms=30001", "value_format=hex", "offset=first", "offset=1&timestamp=1",
    "timestamp=soon", "timestamp=-1"])
    await call("fetchRecords", `${F}?${q}`, { expect: 400, code: "invalid_parameter" });
  await call("fetchRecords", "/topics/orders/partitions/x", { expect: 400, code: "invalid_partition" });
  await call("fetchRecords", "/topics/orders/partitions/-1", { expect: 400, code: "invalid_partition" });
  await call("fetchRecords", "/topics/orders/partitions/4", { expect: 404, code: "partition_not_found" });
  await call("fetchRecords", "/topics/nope/partitions/0", { expect: 404, code: "topic_not_found" });
  await call("fetchRecords", F, { token: null, expect: 401, code: "unauthorized" });

  await call("getOffsets", "/topics/orders/partitions/0/offsets", { expect: 200 });
  await call("getOffsets", `/topics/orders/partitions/0/offsets?access_token=${TOKEN}`, { token: null, expect: 200, note: "access_token" });
  await call("getOffsets", "/topics/orders/partitions/9/offsets", { expect: 404, code: "partition_not_found" });
  await call("getOffsets", "/topics/nope/partitions/0/offsets", { expect: 404, code: "topic_not_found" });
  await call("getOffsets", "/topics/orders/partitions/zero/offsets", { expect: 400, code: "invalid_partition" });
  await call("getOffsets", "/topics/orders/partitions/0/offsets", { token: null, expect: 401, code: "unauthorized" });

  await streamScenarios();
  await groupScenarios();
  await memberScenarios();
  await metricsScenarios();
  await webhookScenarios();
  await tokenScenarios();

  // -- router level --
  {
    const { res } = await callRoute("MethodNotAllowed", "PUT", "/topics", { expect: 405 });
    check(res.headers.get("allow") === "GET, HEAD, POST", "405: Allow lists GET, HEAD, POST", res.headers.get("allow"));
  }
  {
    const { res } = await callRoute("MethodNotAllowed", "GET", "/topics/orders/messages", { expect: 405 });
    check(res.headers.get("allow") === "POST", "405: Allow lists POST", res.headers.get("allow"));
  }
  await callRoute("MethodNotAllowed", "POST", "/healthz", { expect: 405 });
  await callRoute("NotFound", "GET", "/nope", { expect: 404 });
  await callRoute("NotFound", "GET", "/topics/orders/partitions", { expect: 404 });
  await optionsWithoutCors();

  // -- delete --
  await call("deleteTopic", "/topics/defaults", { expect: 204 });
  await call("getTopic", "/topics/defaults", { expect: 404, code: "topic_not_found", note: "deleted" });
  await call("deleteTopic", "/topics/defaults", { expect: 404, code: "topic_not_found", note: "again" });
  await call("deleteTopic", "/topics/bad%20name", { expect: 400, code: "invalid_topic_name" });
  await call("deleteTopic", "/topics/orders", { token: null, expect: 401, code: "unauthorized" });
  await call("deleteTopic", "/topics/orders", { expect: 204 });
  {
    const { json } = await call("listTopics", "/topics", { expect: 200, note: "after deletes" });
    check(JSON.stringify(json?.topics?.map((t) => t.name)) === JSON.stringify(["hooks", "small", "timeline"]),
      "listTopics: deleted topics are gone", JSON.stringify(json?.topics?.map((t) => t.name)));
  }
}

// -- tokens: made, listed, revoked; scopes (403), expiry, rate limits (429) --
// Leaves no topic or group behind (listTopics and listGroups are checked later); the
// tokens it makes are revoked at the end.
const INSUFFICIENT_SCOPE = 'Bearer realm="rill", error="insufficient_scope"';
const challengeOf = (r) => r?.res?.headers.get("www-authenticate");

async function tokenScenarios() {
  await call("createTopic", "/topics", { json: { name: "tok-a", partitions: 1 }, expect: 201, note: "for tokens" });
  await call("createTopic", "/topics", { json: { name: "tok-b", partitions: 1 }, expect: 201, note: "for tokens" });
  await produce("tok-a", [{ value: "a" }], "for tokens");
  await produce("tok-b", [{ value: "b" }], "for tokens");
  const made = []; // ids to revoke at the end
  const tokenCreate = validatorFor(api.components.schemas.TokenCreate);
  const make = async (body, note) => {
    check(tokenCreate(body), `TokenCreate: the schema takes ${JSON.stringify(body).slice(0, 120)}`,
      describeErrors(tokenCreate.errors));
    const { res, json } = await call("createToken", "/tokens", { json: body, expect: 201, note });
    if (json?.id) made.push(json.id);
    check(res?.headers.get("location") === `/tokens/${json?.id}` && res?.headers.get("cache-control") === "no-store",
      `createToken [${note}]: Location is /tokens/{id}, Cache-Control: no-store`,
      `${res?.headers.get("location")} ${res?.headers.get("cache-control")}`);
    return json ?? {};
  };

  // -- createToken, getToken, listTokens --
  const before = Date.now();
  const ci = await make({ name: "ci", scopes: [{ topics: "tok-a*", actions: ["consume", "produce", "consume"] }],
    expires_in: 86400 }, "scopes, expiry");
  check(sameJson(ci.scopes, [{ topics: "tok-a*", actions: ["produce", "consume"] }]) && ci.status === "active" &&
    ci.name === "ci" && ci.created_at >= before - 1000 && ci.created_at <= Date.now() + 1000 &&
    ci.expires_at === ci.created_at + 86400 * 1000 && ci.revoked_at === null && ci.rate_limit === null,
  "createToken: the answer has the scopes (actions once, in order), created_at, expires_at = created_at + expires_in",
  JSON.stringify(ci));
  const CI = ci.token;
  {
    const { json } = await call("getToken", `/tokens/${ci.id}`, { expect: 200 });
    const { token: _secret, ...shown } = ci;
    check(sameJson(json, shown), "getToken: the token as made, without its secret", JSON.stringify(json));
    await call("getToken", `/tokens/${ci.id}?access_token=${TOKEN}`, { token: null, expect: 200, note: "access_token" });
    await call("getToken", `/tokens/${ci.id}`, { method: "HEAD", expect: 200, note: "HEAD" });
  }
  const limited = await make({ name: "limits ✓", scopes: [{ topics: "*", actions: ["admin"] }, { topics: "x", actions: ["consume"] }],
    expires_in: null, rate_limit: { requests_per_s: 1000, bytes_per_s: null } }, "rate limit, nulls, UTF-8 name");
  check(sameJson(limited.rate_limit, { requests_per_s: 1000 }) && limited.expires_at === null && limited.name === "limits ✓",
    "createToken: rate_limit shows the limits it has; expires_in null never expires", JSON.stringify(limited));
  {
    const edge = await make({ name: "é".repeat(64), scopes: [{ topics: "a".repeat(249), actions: ["produce"] },
      { topics: `${"b".repeat(249)}*`, actions: ["admin"] }, { topics: "*", actions: ["consume"] }],
    expires_in: 315360000, rate_limit: {} }, "limits: 128-byte name, 249-character names, 10 years, {}");
    check(edge.rate_limit === null && edge.expires_at === edge.created_at + 315360000 * 1000,
      "createToken: rate_limit {} is no limit", JSON.stringify(edge.rate_limit));
  }
  {
    const { json } = await call("listTokens", "/tokens", { expect: 200 });
    const ids = json?.tokens?.map((t) => t.id) ?? [];
    const admin = json?.tokens?.find((t) => t.name === "admin");
    check(ids.includes(ci.id) && ids.includes(limited.id) &&
      json.tokens.every((t, i) => !i || json.tokens[i - 1].created_at >= t.created_at),
    "listTokens: every token, newest first", ids.join(" "));
    check(sameJson(admin?.scopes, [{ topics: "*", actions: ["produce", "consume", "admin"] }]) && admin?.status === "active",
      "listTokens: the admin token of DATA/admin.token has every action on *", JSON.stringify(admin));
    await call("listTokens", `/tokens?access_token=${TOKEN}`, { token: null, expect: 200, note: "access_token" });
  }

  // -- bad input --
  const S = [{ topics: "tok-a", actions: ["consume"] }];
  const bad = async (body, code, note, schemaToo = true) => {
    if (schemaToo)
      check(!tokenCreate(body), `TokenCreate: the schema refuses it too [${note}]`, JSON.stringify(body).slice(0, 120));
    await call("createToken", "/tokens", { json: body, expect: 400, code, note });
  };
  await bad({ scopes: S }, "invalid_name", "no name");
  await bad({ name: "", scopes: S }, "invalid_name", "empty name");
  await bad({ name: 7, scopes: S }, "invalid_name", "a number");
  await bad({ name: "a\u0001b", scopes: S }, "invalid_name", "a control character");
  await bad({ name: "x".repeat(129), scopes: S }, "invalid_name", "129 bytes");
  await bad({ name: `${"é".repeat(64)}x`, scopes: S }, "invalid_name", "65 characters, 129 bytes", false);
  await bad({ name: "n" }, "invalid_scopes", "no scopes");
  await bad({ name: "n", scopes: [] }, "invalid_scopes", "no scope");
  await bad({ name: "n", scopes: Array(101).fill(S[0]) }, "invalid_scopes", "101 scopes");
  await bad({ name: "n", scopes: [1] }, "invalid_scopes", "a scope not an object");
  await bad({ name: "n", scopes: [{ actions: ["consume"] }] }, "invalid_scopes", "no topics");
  for (const topics of ["a b", "a*b", "**", "..", "", `${"a".repeat(250)}`, `${"a".repeat(250)}*`])
    await bad({ name: "n", scopes: [{ topics, actions: ["consume"] }] }, "invalid_scopes", `topics ${topics.slice(0, 12)}`);
  await bad({ name: "n", scopes: [{ topics: "a", actions: [] }] }, "invalid_scopes", "no action");
  await bad({ name: "n", scopes: [{ topics: "a", actions: "consume" }] }, "invalid_scopes", "actions not an array");
  await bad({ name: "n", scopes: [{ topics: "a", actions: ["consume", "read"] }] }, "invalid_scopes", "an unknown action");
  await bad({ name: "n", scopes: [{ topics: "a", actions: ["consume"], group: "g" }] }, "unknown_field", "in a scope");
  await bad({ name: "n", scopes: S, colour: "red" }, "unknown_field", "top level");
  await bad({ name: "n", scopes: S, rate_limit: { burst: 1 } }, "unknown_field", "in rate_limit");
  await bad({ name: "n", scopes: S, expires_in: 0 }, "invalid_parameter", "expires_in 0");
  await bad({ name: "n", scopes: S, expires_in: 315360001 }, "invalid_parameter", "expires_in over 10 years");
  await bad({ name: "n", scopes: S, expires_in: "60" }, "invalid_parameter", "expires_in a string");
  await bad({ name: "n", scopes: S, expires_in: 1.5 }, "invalid_parameter", "expires_in not an integer");
  await bad({ name: "n", scopes: S, rate_limit: 5 }, "invalid_parameter", "rate_limit not an object");
  await bad({ name: "n", scopes: S, rate_limit: { requests_per_s: 0 } }, "invalid_parameter", "requests_per_s 0");
  await bad({ name: "n", scopes: S, rate_limit: { bytes_per_s: 1e12 + 1 } }, "invalid_parameter", "bytes_per_s over 10^12");
  const raw = (body, status, code, note, type = "application/json") =>
    call("createToken", "/tokens", { body, headers: { "content-type": type }, expect: status, code, note });
  await raw("", 400, "invalid_json", "empty");
  await raw("[1]", 400, "invalid_json", "not an object");
  await raw('{"name":"a","name":"b","scopes":[]}', 400, "invalid_json", "duplicate member");
  await raw('{"name":"n","scopes":[{"topics":"a","actions":["consume"]}],"expires_in":99999999999999999999}', 400,
    "number_out_of_range", "a huge number");
  await raw(JSON.stringify({ name: "n", scopes: S }), 415, "unsupported_media_type", "text/plain", "text/plain");
  await call("createToken", "/tokens?name=x", { json: { name: "n", scopes: S }, expect: 400, code: "unknown_parameter" });
  await call("listTokens", "/tokens?all=1", { expect: 400, code: "unknown_parameter" });
  await call("getToken", `/tokens/${ci.id}?x=1`, { expect: 400, code: "unknown_parameter" });
  await call("deleteToken", `/tokens/${ci.id}?x=1`, { expect: 400, code: "unknown_parameter" });
  await call("getToken", "/tokens/a%zz", { expect: 400, code: "bad_path" });
  await call("deleteToken", "/tokens/a%00", { expect: 400, code: "bad_path" });
  await call("getToken", "/tokens/0000000000000000", { expect: 404, code: "token_not_found" });
  await call("getToken", "/tokens/nope", { expect: 404, code: "token_not_found", note: "not an id" });
  await call("deleteToken", "/tokens/0000000000000000", { expect: 404, code: "token_not_found" });
  await call("listTokens", "/tokens", { token: null, expect: 401, code: "unauthorized" });
  await call("createToken", "/tokens", { token: "rill_wrong", json: { name: "n", scopes: S }, expect: 401, code: "invalid_token" });
  {
    const r = await call("listTokens", `/tokens?access_token=${TOKEN}`, { expect: 400, code: "invalid_request",
      note: "a token in the header and in ?access_token=" });
    check(challengeOf(r) === 'Bearer realm="rill", error="invalid_request"',
      "listTokens 400 invalid_request: WWW-Authenticate has error=\"invalid_request\"", challengeOf(r));
    await call("getOpenapi", `/openapi.yaml?access_token=${TOKEN}`, { expect: 400, code: "invalid_request",
      note: "header and ?access_token=" });
    await call("getTopic", `/topics/tok-a?access_token=${TOKEN}`, { expect: 400, code: "invalid_request",
      note: "header and ?access_token=" });
    await call("deleteToken", "/tokens/0000000000000000?access_token=rill_wrong", { expect: 404, code: "token_not_found",
      note: "?access_token= on a DELETE is ignored" });
  }

  // -- scopes: ci may produce and consume tok-a* --
  const forbidden = async (opId, urlPath, opts = {}) => {
    const r = await call(opId, urlPath, { token: CI, expect: 403, code: opts.code ?? "forbidden", ...opts });
    if ((opts.code ?? "forbidden") === "forbidden")
      check(challengeOf(r) === INSUFFICIENT_SCOPE, `${opId} 403 ${urlPath}: WWW-Authenticate has error="insufficient_scope"`,
        challengeOf(r));
    return r;
  };
  await call("getTopic", "/topics/tok-a", { token: CI, expect: 200, note: "in scope" });
  await forbidden("getTopic", "/topics/tok-b");
  await forbidden("getTopic", "/topics/tok-none", { note: "403, not 404, outside its scopes" });
  await call("getTopic", "/topics/tok-a-none", { token: CI, expect: 404, code: "topic_not_found", note: "in scope" });
  await forbidden("getTopic", "/topics/tok-b?nope=1", { note: "403 before unknown_parameter" });
  {
    const { json } = await call("listTopics", "/topics?internal=true", { token: CI, expect: 200, note: "scoped" });
    check(sameJson(json?.topics?.map((t) => t.name), ["tok-a"]), "listTopics: a token sees only the topics in its scopes",
      JSON.stringify(json?.topics?.map((t) => t.name)));
  }
  await call("produceRecords", "/topics/tok-a/messages", { token: CI, json: { records: [{ value: 2 }] }, expect: 200,
    note: "in scope" });
  await forbidden("produceRecords", "/topics/tok-b/messages", { json: { records: [{ value: 2 }] } });
  await forbidden("produceRecords", "/topics/__idempotency/messages", { json: { records: [{ value: 2 }] },
    note: "an internal topic: the scope first" });
  await forbidden("updateTopic", "/topics/tok-a", { json: {}, note: "needs admin" });
  await forbidden("deleteTopic", "/topics/tok-a", { note: "needs admin" });
  await forbidden("createTopic", "/topics", { json: { name: "tok-a2" }, note: "needs admin on the name" });
  await call("createTopic", "/topics", { token: CI, json: { name: "bad name" }, expect: 400, code: "invalid_topic_name",
    note: "the name before the scope" });
  await call("fetchRecords", "/topics/tok-a/partitions/0", { token: CI, expect: 200, note: "in scope" });
  await forbidden("fetchRecords", "/topics/tok-b/partitions/0");
  await forbidden("fetchRecords", "/topics/tok-b/partitions/9", { note: "403, not 404" });
  await forbidden("getOffsets", "/topics/tok-b/partitions/0/offsets");
  await forbidden("streamPartition", "/topics/tok-b/partitions/0/stream", { timeout: 5000 });
  await forbidden("streamTopic", "/topics/tok-b/stream", { timeout: 5000 });
  await forbidden("listTokens", "/tokens", { note: "needs admin on *" });
  await forbidden("getToken", `/tokens/${ci.id}`, { note: "its own" });
  await forbidden("deleteToken", `/tokens/${ci.id}`, { note: "its own" });
  await forbidden("createToken", "/tokens", { json: { name: "n", scopes: S } });
  await call("getOpenapi", "/openapi.yaml", { token: CI, expect: 200, note: "any valid token" });
  {
    const { buf } = await call("getMetrics", "/metrics", { token: CI, expect: 200, note: "scoped" });
    const text = buf?.toString("utf8") ?? "";
    check(text.includes('{topic="tok-a",partition="0"}') && !text.includes('topic="tok-b"') &&
      !text.includes('topic="__consumer_offsets"'),
    "getMetrics: a token sees only the partitions of the topics in its scopes", text.slice(0, 300));
  }
  {
    // admin on a pattern: may create and delete topics it covers, and nothing else
    const ops = await make({ name: "ops", scopes: [{ topics: "tok-c.*", actions: ["admin"] }] }, "admin on a pattern");
    await call("createTopic", "/topics", { token: ops.token, json: { name: "tok-c.1" }, expect: 201, note: "admin on tok-c.*" });
    await call("getTopic", "/topics/tok-c.1", { token: ops.token, expect: 200, note: "admin is any action" });
    await call("createTopic", "/topics", { token: ops.token, json: { name: "tok-c" }, expect: 403, code: "forbidden",
      note: "tok-c is not tok-c.*" });
    await call("fetchRecords", "/topics/tok-c.1/partitions/0", { token: ops.token, expect: 403, code: "forbidden",
      note: "admin is not consume" });
    await call("createTopic", "/topics", { token: ops.token, json: { name: "tok-c.1" }, expect: 409, code: "topic_exists",
      note: "exists: after the scope" });
    await call("deleteTopic", "/topics/tok-c.1", { token: ops.token, expect: 204, note: "admin on tok-c.*" });
    await call("deleteTopic", "/topics/tok-c.1", { token: ops.token, expect: 404, code: "topic_not_found",
      note: "in scope, gone" });
  }

  // -- groups: covered by consume on every topic they read --
  const GO = (g) => `/groups/${g}/offsets`;
  await call("commitGroupOffsets", GO("tok-ga"), { json: { offsets: [{ topic: "tok-a", partition: 0, offset: 1 }] },
    expect: 200, note: "for tokens" });
  await call("commitGroupOffsets", GO("tok-gb"), { json: { offsets: [{ topic: "tok-b", partition: 0, offset: 1 }] },
    expect: 200, note: "for tokens" });
  await call("getGroupOffsets", GO("tok-ga"), { token: CI, expect: 200, note: "a group of its topics" });
  await forbidden("getGroupOffsets", GO("tok-gb"), { note: "a group that reads tok-b" });
  await call("getGroupOffsets", `${GO("tok-gb")}?x=1`, { token: CI, expect: 400, code: "unknown_parameter",
    note: "a group's scope is checked after the query" });
  await forbidden("listTokens", "/tokens?x=1", { note: "403 before unknown_parameter" });
  await call("getGroupOffsets", GO("tok-none"), { token: CI, expect: 404, code: "group_not_found",
    note: "a group that reads nothing is anyone's" });
  {
    const { json } = await call("listGroups", "/groups", { token: CI, expect: 200, note: "scoped" });
    const names = json?.groups?.map((g) => g.name) ?? [];
    check(names.includes("tok-ga") && !names.includes("tok-gb"), "listGroups: a token sees only the groups it covers",
      names.join(" "));
    const { json: all } = await call("listGroups", "/groups", { expect: 200, note: "admin" });
    check(all?.groups?.some((g) => g.name === "tok-gb"), "listGroups: the admin token sees every group");
  }
  {
    const { buf } = await call("getMetrics", "/metrics", { token: CI, expect: 200, note: "scoped, groups" });
    const text = buf?.toString("utf8") ?? "";
    check(text.includes('rill_consumer_group_members{group="tok-ga"}') && !text.includes('group="tok-gb"'),
      "getMetrics: a token sees only the groups it covers", text.slice(0, 300));
  }
  await forbidden("commitGroupOffsets", GO("tok-gx"), { json: { offsets: [{ topic: "tok-b", partition: 0, offset: 0 }] },
    note: "a topic of the body" });
  await forbidden("commitGroupOffsets", GO("tok-gx"), { json: { offsets: [{ topic: "tok-none", partition: 0, offset: 0 }] },
    note: "403, not 404, for a topic of the body" });
  await forbidden("commitGroupOffsets", GO("tok-gb"), { json: { offsets: [{ topic: "tok-a", partition: 0, offset: 0 }] },
    note: "the group reads tok-b" });
  await call("commitGroupOffsets", GO("tok-gx"), { token: CI, json: { offsets: [{ topic: "tok-a", partition: 0, offset: 0 }] },
    expect: 200, note: "in scope" });
  await forbidden("deleteGroup", "/groups/tok-gb");
  await forbidden("joinGroup", GM("tok-gj"), { json: { topics: ["tok-a", "tok-b"] }, note: "a topic of the body" });
  await forbidden("joinGroup", GM("tok-gb"), { json: { topics: ["tok-a"] }, note: "the group reads tok-b" });
  {
    const m = await join("tok-gj", { topics: ["tok-a"] }, { token: CI, note: "in scope" });
    await heartbeat("tok-gj", m?.member_id, { token: CI, note: "in scope" });
    await readMember("tok-gj", m?.member_id, "", { token: CI, note: "in scope" });
    await leave("tok-gj", m?.member_id, { token: CI, note: "in scope" });
  }
  await forbidden("heartbeatMember", `${GM("tok-gb")}/m-00000000000000000000000000000000/heartbeat`);
  await forbidden("leaveGroup", `${GM("tok-gb")}/m-00000000000000000000000000000000`);
  await forbidden("readMemberRecords", `${GM("tok-gb")}/m-00000000000000000000000000000000/records`);
  await forbidden("streamPartition", "/topics/tok-a/partitions/0/stream?group=tok-gb", { timeout: 5000,
    note: "a group it does not cover" });
  await forbidden("streamTopic", "/topics/tok-a/stream?group=tok-gb", { timeout: 5000, note: "a group it does not cover" });
  {
    // a group's members' topics count too, without any offsets
    const m = await join("tok-gm", { topics: ["tok-b"] }, { note: "admin, for tokens" });
    await forbidden("getGroupOffsets", GO("tok-gm"), { note: "its members read tok-b" });
    await forbidden("heartbeatMember", `${GM("tok-gm")}/${m?.member_id}/heartbeat`, { note: "its members read tok-b" });
    await leave("tok-gm", m?.member_id, { note: "admin" });
    await call("getGroupOffsets", GO("tok-gm"), { token: CI, expect: 404, code: "group_not_found",
      note: "no members left: anyone's" });
  }
  for (const g of ["tok-ga", "tok-gb", "tok-gx", "tok-gj"])
    await call("deleteGroup", `/groups/${g}`, { expect: 204, note: "tokens done" });

  // -- expiry --
  {
    const short = await make({ name: "short", scopes: [{ topics: "tok-a", actions: ["consume"] }], expires_in: 1 },
      "expires in 1 s");
    await call("getTopic", "/topics/tok-a", { token: short.token, expect: 200, note: "before it expires" });
    await sleep(Math.max(0, short.expires_at - Date.now()) + 200);
    const r = await call("getTopic", "/topics/tok-a", { token: short.token, expect: 401, code: "token_expired" });
    check(challengeOf(r) === 'Bearer realm="rill", error="invalid_token", error_description="the bearer token has expired"',
      "getTopic 401 token_expired: WWW-Authenticate has error=\"invalid_token\"", challengeOf(r));
    const { json } = await call("getToken", `/tokens/${short.id}`, { expect: 200, note: "expired" });
    check(json?.status === "expired" && json?.revoked_at === null, "getToken: an expired token is status expired",
      JSON.stringify(json));
  }

  // -- rate limits --
  {
    const slow = await make({ name: "slow", scopes: [{ topics: "tok-a", actions: ["consume"] }],
      rate_limit: { requests_per_s: 1 } }, "1 request per second");
    await call("getTopic", "/topics/tok-a", { token: slow.token, expect: 200, note: "the first request" });
    const r = await call("getTopic", "/topics/tok-a", { token: slow.token, expect: 429, code: "rate_limited",
      note: "the second, at once" });
    check(r.res?.headers.get("retry-after") === "1", "getTopic 429: Retry-After: 1", r.res?.headers.get("retry-after"));
    await call("getTopic", "/topics/tok-b", { token: slow.token, expect: 429, code: "rate_limited",
      note: "429 before 403" });
    await sleep(1100);
    await call("getTopic", "/topics/tok-a", { token: slow.token, expect: 200, note: "a second later" });
  }
  {
    // the bytes of an answer count: a topic answer is over 100 bytes
    const thin = await make({ name: "thin", scopes: [{ topics: "tok-a", actions: ["consume"] }],
      rate_limit: { bytes_per_s: 100 } }, "100 bytes per second");
    const { buf } = await call("getTopic", "/topics/tok-a", { token: thin.token, expect: 200, note: "an answer over 100 bytes" });
    const r = await call("getGroupOffsets", "/groups/tok-none/offsets", { token: thin.token, expect: 429,
      code: "rate_limited", note: "in debt for the last answer" });
    const wait = Number(r.res?.headers.get("retry-after"));
    check(wait >= Math.floor((buf.length - 100) / 100), `429: Retry-After (${wait} s) waits out the debt of a ${buf?.length}-byte answer`);
  }
  {
    // and the bytes of a request
    const big = await make({ name: "big", scopes: [{ topics: "tok-a", actions: ["produce"] }],
      rate_limit: { bytes_per_s: 1000 } }, "1000 bytes per second");
    await call("produceRecords", "/topics/tok-a/messages?raw=1", { token: big.token, body: "x".repeat(3000),
      headers: { "content-type": "text/plain" }, expect: 200, note: "a 3000-byte body, let in" });
    const r = await call("produceRecords", "/topics/tok-a/messages", { token: big.token, json: { records: [{ value: 1 }] },
      expect: 429, code: "rate_limited", note: "in debt for the last body" });
    check(Number(r.res?.headers.get("retry-after")) >= 2, "429: Retry-After waits out the debt of a 3000-byte body",
      r.res?.headers.get("retry-after"));
  }

  // -- revocation: at once, streams and long polls included --
  {
    const victim = await make({ name: "victim", scopes: [{ topics: "tok-a", actions: ["consume"] }] }, "to be revoked");
    await call("getTopic", "/topics/tok-a", { token: victim.token, expect: 200, note: "before its revocation" });
    const s = await openStream("streamPartition", "/topics/tok-a/partitions/0/stream", { token: victim.token,
      note: "its token to be revoked" });
    if (s) await checkRetry(s);
    const t0 = Date.now();
    const poll = call("fetchRecords", "/topics/tok-a/partitions/0?offset=latest&wait_ms=20000", { token: victim.token,
      expect: 401, code: "token_revoked", note: "a long poll, its token revoked" });
    const mem = await join("tok-gr", { topics: ["tok-a"] }, { token: victim.token, note: "to be revoked" });
    const memPoll = readMember("tok-gr", mem?.member_id, "?wait_ms=20000", { token: victim.token, expect: 401,
      code: "token_revoked", note: "a long poll, its token revoked" });
    await sleep(300);
    const revoked = Date.now();
    await call("deleteToken", `/tokens/${victim.id}`, { expect: 204 });
    await Promise.all([poll, memPoll]);
    check(Date.now() - revoked < 3000, "a revoked token's long polls answer 401 at once (not at wait_ms)",
      `${Date.now() - revoked} ms after the revocation`);
    if (s) {
      const end = await s.next(5000);
      check(end?.end === true, "a revoked token's stream ends (cleanly) at once", JSON.stringify(end));
      s.close();
    }
    const r = await call("getTopic", "/topics/tok-a", { token: victim.token, expect: 401, code: "token_revoked" });
    check(challengeOf(r) === 'Bearer realm="rill", error="invalid_token", error_description="the bearer token was revoked"',
      "getTopic 401 token_revoked: WWW-Authenticate has error=\"invalid_token\"", challengeOf(r));
    await call("getTopic", `/topics/tok-a?access_token=${victim.token}`, { token: null, expect: 401, code: "token_revoked",
      note: "access_token" });
    const { json } = await call("getToken", `/tokens/${victim.id}`, { expect: 200, note: "revoked" });
    check(json?.status === "revoked" && json?.revoked_at >= t0, "getToken: a revoked token is status revoked, with revoked_at",
      JSON.stringify(json));
    await call("deleteToken", `/tokens/${victim.id}`, { expect: 204, note: "again: nothing changes" });
    const { json: again } = await call("getToken", `/tokens/${victim.id}`, { expect: 200, note: "revoked twice" });
    check(again?.revoked_at === json?.revoked_at, "deleteToken: revoking again keeps revoked_at", JSON.stringify(again));
    await leave("tok-gr", mem?.member_id, { note: "admin" });
    await call("deleteGroup", "/groups/tok-gr", { expect: 204, note: "tokens done" });
  }

  for (const id of made) await call("deleteToken", `/tokens/${id}`, { expect: 204, note: "tokens done" });
  await call("getTopic", "/topics/tok-a", { token: CI, expect: 401, code: "token_revoked", note: "tokens done" });
  await call("deleteTopic", "/topics/tok-a", { expect: 204, note: "tokens done" });
  await call("deleteTopic", "/topics/tok-b", { expect: 204, note: "tokens done" });
}

// -- streams (server-sent events) --
async function streamScenarios() {
  await call("createTopic", "/topics", { json: { name: "live", partitions: 2 }, expect: 201, note: "for streams" });
  const SP = "/topics/live/partitions/0/stream";
  const ST = "/topics/live/stream";

  // a partition stream from latest (the default): only new records, live
  {
    const s = await openStream("streamPartition", SP, { note: "latest" });
    if (s) {
      await checkRetry(s);
      check((await s.next(300)) === null, `${s.label}: nothing before a produce (latest)`);
      const t0 = Date.now();
      await produce("live", [
        { value: { n: 1 }, partition: 0, timestamp: 1000 },
        { key: "k", value: "text", partition: 1, timestamp: 1000 },
        { key_base64: "/w==", value_base64: "AAEC", headers: { h: "v" }, partition: 0, timestamp: 2000 },
      ], "for the stream");
      const evs = await readEvents(s, 2, s.label);
      const ms = Date.now() - t0;
      check(evs.map((e) => e.ev.id).join(" ") === "1 2" &&
        evs.map((e) => e.json?.offset).join(" ") === "0 1" && evs.every((e) => e.json?.partition === 0),
      "streamPartition: record events of partition 0 only, id = offset + 1",
      evs.map((e) => `${e.ev.id} ${e.ev.data}`).join(" | "));
      check(JSON.stringify(evs[0]?.json?.value) === '{"n":1}' && evs[0]?.json?.key === null &&
        evs[1]?.json?.key_base64 === "/w==" && evs[1]?.json?.value_base64 === "AAEC" &&
        evs[1]?.json?.headers?.h === "v",
      "streamPartition: data is the record object of a fetch plus partition",
      evs.map((e) => e.ev.data).join(" | "));
      check(ms < 3000, "streamPartition: records come at once after the produce's answer", `${ms} ms`);
      check(s.badLines.length === 0, `${s.label}: every line is "field: value" or a comment`,
        JSON.stringify(s.badLines.slice(0, 3)));
      s.close();
    }
  }
  // start positions
  const startsAt = async (urlPath, want, note, headers) => {
    const s = await openStream("streamPartition", urlPath, { note, headers });
    if (!s) return;
    const evs = await readEvents(s, 1, s.label);
    check(evs[0]?.json?.offset === want && evs[0]?.ev.id === String(want + 1),
      `streamPartition [${note}]: starts at offset ${want}`, evs[0]?.ev.data);
    s.close();
  };
  await startsAt(`${SP}?offset=earliest`, 0, "offset=earliest");
  {
    // a stream whose first read of the log gives exactly two records stays open
    const s = await openStream("streamPartition", `${SP}?offset=earliest`, { note: "two records to read" });
    if (s) {
      await readEvents(s, 2, s.label);
      const more = await s.next(500);
      check(more === null, `${s.label}: stays open after the records`, JSON.stringify(more));
      s.close();
    }
  }
  await startsAt(`${SP}?offset=1`, 1, "offset=1");
  await startsAt(`${SP}?timestamp=1500`, 1, "timestamp=1500");
  await startsAt(`${SP}?last_event_id=1`, 1, "last_event_id=1");
  await startsAt(SP, 1, "Last-Event-ID: 1", { "last-event-id": "1" });
  await startsAt(`${SP}?last_event_id=2`, 0, "Last-Event-ID wins over last_event_id", { "last-event-id": "0" });
  await startsAt(`${SP}?last_event_id=1&offset=0`, 1, "a resume id beats offset");
  await startsAt(`${SP}?offset=1`, 1, "an empty Last-Event-ID counts as none", { "last-event-id": "" });
  await startsAt(`${SP}?offset=1&last_event_id=`, 1, "an empty last_event_id counts as none");
  await startsAt(`${SP}?access_token=${TOKEN}&offset=earliest`, 0, "access_token");
  {
    // resuming at the end: nothing until the next record, which comes next
    const s = await openStream("streamPartition", SP, { headers: { "last-event-id": "2" }, note: "resume at the end" });
    if (s) {
      await checkRetry(s);
      check((await s.next(300)) === null, `${s.label}: nothing is repeated`);
      // a JSON value stored raw with line breaks comes as several data lines
      await call("produceRecords", "/topics/live/messages?raw=1&partition=0", {
        body: '{\n  "a": 1,\r\n  "b": [2]\n}', headers: { "content-type": "application/json" }, expect: 200,
        note: "raw pretty-printed JSON" });
      const [e] = await readEvents(s, 1, s.label);
      check(e?.ev.id === "3" && e?.ev.dataLines.length === 4 && JSON.stringify(e?.json?.value) === '{"a":1,"b":[2]}',
        "streamPartition: a value with line breaks comes as several data: lines that join to the JSON",
        JSON.stringify(e?.ev.dataLines));
      s.close();
    }
  }
  await call("streamPartition", SP, { method: "HEAD", expect: 200, note: "HEAD", timeout: 5000 });
  {
    const { json } = await streamError("streamPartition", `${SP}?offset=999`, { expect: 416, code: "offset_out_of_range" });
    check(json?.earliest === 0 && json?.latest === 3, "streamPartition 416: earliest and latest are there",
      JSON.stringify(json));
  }
  await streamError("streamPartition", `${SP}?last_event_id=999`, { expect: 416, code: "offset_out_of_range", note: "resume id" });
  await streamError("streamPartition", SP, { headers: { "last-event-id": "4" }, expect: 416,
    code: "offset_out_of_range", note: "Last-Event-ID beyond latest" });
  for (const q of ["offset=x", "offset=-1", "offset=1&timestamp=1", "timestamp=-1", "timestamp=soon",
    "last_event_id=abc", "last_event_id=-1", "last_event_id=0:1"])
    await streamError("streamPartition", `${SP}?${q}`, { expect: 400, code: "invalid_parameter" });
  await streamError("streamPartition", SP, { headers: { "last-event-id": "1x" }, expect: 400,
    code: "invalid_parameter", note: "Last-Event-ID: 1x" });
  await streamError("streamPartition", `${SP}?limit=1`, { expect: 400, code: "unknown_parameter" });
  await streamError("streamPartition", "/topics/live/partitions/x/stream", { expect: 400, code: "invalid_partition" });
  await streamError("streamPartition", "/topics/bad%20name/partitions/0/stream", { expect: 400, code: "invalid_topic_name" });
  await streamError("streamPartition", "/topics/live/partitions/2/stream", { expect: 404, code: "partition_not_found" });
  await streamError("streamPartition", "/topics/nope/partitions/0/stream", { expect: 404, code: "topic_not_found" });
  await streamError("streamPartition", SP, { token: null, expect: 401, code: "unauthorized" });
  await streamError("streamPartition", `${SP}?access_token=rill_wrong`, { token: null, expect: 401, code: "invalid_token" });

  // the topic stream: partition 0 has offsets 0..2, partition 1 offset 0
  {
    const s = await openStream("streamTopic", `${ST}?offset=earliest`, { note: "earliest" });
    if (s) {
      await checkRetry(s);
      const evs = await readEvents(s, 4, s.label);
      const seen = { 0: [], 1: [] };
      let idsOk = true;
      const pos = { 0: 0, 1: 0 };
      for (const { ev, json } of evs) {
        if (!json) continue;
        seen[json.partition]?.push(json.offset);
        pos[json.partition] = json.offset + 1;
        if (ev.id !== `0:${pos[0]},1:${pos[1]}`) idsOk = false;
      }
      check(seen[0].join() === "0,1,2" && seen[1].join() === "0",
        "streamTopic: every partition's records, each in offset order", JSON.stringify(seen));
      check(idsOk, "streamTopic: each id is the vector of every partition's next offset",
        evs.map((e) => e.ev.id).join(" "));
      // live: a record on each partition
      await produce("live", [{ value: "p1", partition: 1 }, { value: "p0", partition: 0 }], "for the topic stream");
      const more = await readEvents(s, 2, s.label);
      check(JSON.stringify(more.map((e) => [e.json?.partition, e.json?.offset]).sort()) === "[[0,3],[1,1]]" &&
        more.some((e) => e.ev.id === "0:4,1:2"),
      "streamTopic: new records of every partition come live", more.map((e) => `${e.ev.id} ${e.ev.data}`).join(" | "));
      s.close();
    }
  }
  const topicStartsAt = async (urlPath, want, note, headers) => {
    const s = await openStream("streamTopic", urlPath, { note, headers });
    if (!s) return;
    await checkRetry(s);
    const evs = await readEvents(s, want.length, s.label);
    const got = evs.map((e) => [e.json?.partition, e.json?.offset]).sort();
    const more = await s.next(300);
    check(JSON.stringify(got) === JSON.stringify(want) && more === null,
      `streamTopic [${note}]: sends ${JSON.stringify(want)}, then nothing`,
      `${JSON.stringify(got)} then ${JSON.stringify(more)}`);
    s.close();
  };
  await topicStartsAt(`${ST}?last_event_id=0:3,1:1`, [[0, 3], [1, 1]], "last_event_id=0:3,1:1");
  await topicStartsAt(ST, [[1, 1]], "Last-Event-ID: 0:4,1:1", { "last-event-id": "0:4,1:1" });
  await topicStartsAt(`${ST}?last_event_id=0:0`, [[0, 3], [1, 1]], "Last-Event-ID wins",
    { "last-event-id": "1:1,0:3" });
  await topicStartsAt(`${ST}?last_event_id=0:4`, [[1, 0], [1, 1]], "a partition not in the id starts at its log start");
  await topicStartsAt(`${ST}?timestamp=1500`, [[0, 1], [0, 2], [0, 3], [1, 1]], "timestamp=1500");
  await topicStartsAt(`${ST}?access_token=${TOKEN}&last_event_id=0:4,1:2`, [], "access_token");
  {
    // the topic grows: the stream takes up the new partition
    const s = await openStream("streamTopic", ST, { note: "latest, the topic grows" });
    if (s) {
      await checkRetry(s);
      await call("updateTopic", "/topics/live", { json: { partitions: 3 }, expect: 200, note: "grow while streaming" });
      await produce("live", [{ value: "new", partition: 2 }], "to the new partition");
      const [e] = await readEvents(s, 1, s.label);
      check(e?.json?.partition === 2 && e?.json?.offset === 0 && e?.ev.id === "0:4,1:2,2:1",
        "streamTopic: a partition added while it runs is streamed, and is in the ids", `${e?.ev.id} ${e?.ev.data}`);
      s.close();
    }
  }
  await call("streamTopic", ST, { method: "HEAD", expect: 200, note: "HEAD", timeout: 5000 });
  {
    const { json } = await streamError("streamTopic", `${ST}?last_event_id=0:4,1:99`, { expect: 416,
      code: "offset_out_of_range" });
    check(json?.earliest === 0 && json?.latest === 2, "streamTopic 416: earliest and latest of that partition",
      JSON.stringify(json));
  }
  await streamError("streamTopic", ST, { headers: { "last-event-id": "2:9" }, expect: 416,
    code: "offset_out_of_range", note: "Last-Event-ID beyond latest" });
  for (const q of ["offset=0", "offset=first", "offset=earliest&timestamp=1", "timestamp=-1", "last_event_id=x",
    "last_event_id=0", "last_event_id=0:1,0:1", "last_event_id=3:0", "last_event_id=0:1;1:1"])
    await streamError("streamTopic", `${ST}?${q}`, { expect: 400, code: "invalid_parameter" });
  await streamError("streamTopic", ST, { headers: { "last-event-id": "0:1," }, expect: 400,
    code: "invalid_parameter", note: "Last-Event-ID: 0:1," });
  await streamError("streamTopic", `${ST}?partition=0`, { expect: 400, code: "unknown_parameter" });
  await streamError("streamTopic", "/topics/bad%20name/stream", { expect: 400, code: "invalid_topic_name" });
  await streamError("streamTopic", "/topics/nope/stream", { expect: 404, code: "topic_not_found" });
  await streamError("streamTopic", ST, { token: null, expect: 401, code: "unauthorized" });

  // deleting the topic ends its streams (the body ends cleanly)
  {
    const a = await openStream("streamPartition", SP, { note: "topic deleted" });
    const b = await openStream("streamTopic", ST, { note: "topic deleted" });
    if (a && b) {
      await checkRetry(a);
      await checkRetry(b);
      await call("deleteTopic", "/topics/live", { expect: 204, note: "while streamed" });
      for (const s of [a, b]) {
        const last = await s.next(5000);
        check(last?.end === true, `${s.label}: the body ends when the topic is deleted`, JSON.stringify(last));
      }
    }
    a?.close();
    b?.close();
  }
}

// -- consumer groups' offsets --

// Kafka's OffsetCommitKey (v0/v1) and OffsetCommitValue (v3) as rill stores them in
// __consumer_offsets; null if 'buf' is not one.
function decodeOffsetKey(buf) {
  try {
    let o = 0;
    const version = buf.readInt16BE(o);
    o += 2;
    const gl = buf.readInt16BE(o);
    const group = buf.subarray(o + 2, o + 2 + gl).toString("utf8");
    o += 2 + gl;
    const tl = buf.readInt16BE(o);
    const topic = buf.subarray(o + 2, o + 2 + tl).toString("utf8");
    o += 2 + tl;
    const partition = buf.readInt32BE(o);
    o += 4;
    return o === buf.length ? { version, group, topic, partition } : null;
  } catch {
    return null;
  }
}
function decodeOffsetValue(buf) {
  try {
    let o = 0;
    const version = buf.readInt16BE(o);
    const offset = Number(buf.readBigInt64BE(o + 2));
    const leaderEpoch = buf.readInt32BE(o + 10);
    const ml = buf.readInt16BE(o + 14);
    const metadata = buf.subarray(o + 16, o + 16 + ml).toString("utf8");
    o += 16 + ml;
    const commitMs = Number(buf.readBigInt64BE(o));
    o += 8;
    return o === buf.length ? { version, offset, leaderEpoch, metadata, commitMs } : null;
  } catch {
    return null;
  }
}
const recordKey = (r) => (r.key_base64 !== undefined ? Buffer.from(r.key_base64, "base64")
  : r.key === null ? null : Buffer.from(r.key, "utf8"));

// The last 'n' records of __consumer_offsets (values as base64).
async function lastOffsetRecords(n, note) {
  const CO = "/topics/__consumer_offsets/partitions/0";
  const latest = (await call("getOffsets", `${CO}/offsets`, { expect: 200, note })).json?.latest ?? 0;
  const from = Math.max(0, latest - n);
  const { json } = await call("fetchRecords", `${CO}?offset=${from}&limit=${n}&value_format=base64`, {
    expect: 200, note });
  return (json?.records ?? []).filter((r) => r.offset >= from);
}

async function groupScenarios() {
  await call("createTopic", "/topics", { json: { name: "ledger", partitions: 2 }, expect: 201, note: "for groups" });
  await produce("ledger", [1, 2, 3].map((value) => ({ value, partition: 0 })), "3 records for groups");
  const GO = (g) => `/groups/${g}/offsets`;
  const commit = (g, offsets, opts = {}) => call("commitGroupOffsets", GO(g), { json: { offsets }, ...opts });
  const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

  // the internal topic __consumer_offsets
  {
    const { json } = await call("listTopics", "/topics", { expect: 200, note: "groups: no internal topics" });
    check(json && !json.topics.some((t) => t.name === "__consumer_offsets"),
      "listTopics leaves __consumer_offsets out by default", JSON.stringify(json?.topics?.map((t) => t.name)));
    const { json: all } = await call("listTopics", "/topics?internal=true", { expect: 200, note: "groups: internal" });
    const t = all?.topics?.find((x) => x.name === "__consumer_offsets");
    check(t?.internal === true && t.partitions.length === 1 && t.config["cleanup.policy"] === "compact" &&
      t.config["retention.ms"] === -1,
    "listTopics?internal=true lists __consumer_offsets: internal, 1 partition, compacted, kept forever",
    JSON.stringify(t));
  }
  await call("produceRecords", "/topics/__consumer_offsets/messages", {
    json: { records: [{ value: 1 }] }, expect: 403, code: "internal_topic", note: "__consumer_offsets" });
  await call("updateTopic", "/topics/__consumer_offsets", {
    json: { config: { "retention.ms": 1 } }, expect: 403, code: "internal_topic", note: "__consumer_offsets" });
  await call("deleteTopic", "/topics/__consumer_offsets", { expect: 403, code: "internal_topic", note: "__consumer_offsets" });

  // no group yet
  {
    const { json } = await call("listGroups", "/groups", { expect: 200, note: "none yet" });
    check(same(json?.groups, []), "listGroups: no groups before any commit", JSON.stringify(json));
  }
  await call("getGroupOffsets", GO("billing"), { expect: 404, code: "group_not_found", note: "none yet" });
  await call("deleteGroup", "/groups/billing", { expect: 404, code: "group_not_found", note: "none yet" });

  // commit, then read back; lag follows the partition
  {
    const { json } = await commit("billing", [{ topic: "ledger", partition: 0, offset: 1 }], { expect: 200 });
    const want = { group: "billing", offsets: [{ topic: "ledger", partition: 0, offset: 1, latest: 3, lag: 2 }] };
    check(same(json, want), "commitGroupOffsets: answers the group: offset 1, latest 3, lag 2", JSON.stringify(json));
    const { json: got } = await call("getGroupOffsets", GO("billing"), { expect: 200 });
    check(same(got, want), "getGroupOffsets: reads back the commit", JSON.stringify(got));
  }
  {
    // Kafka's formats: one OffsetCommitKey v1 / OffsetCommitValue v3 record
    const [r] = await lastOffsetRecords(1, "the commit's record");
    const key = r && decodeOffsetKey(recordKey(r) ?? Buffer.alloc(0));
    const value = r?.value_base64 !== undefined ? decodeOffsetValue(Buffer.from(r.value_base64, "base64")) : null;
    check(same(key, { version: 1, group: "billing", topic: "ledger", partition: 0 }),
      "__consumer_offsets: the key is Kafka's OffsetCommitKey v1 (group, topic, partition)",
      `${JSON.stringify(key)} from ${JSON.stringify(r)}`);
    check(value?.version === 3 && value.offset === 1 && value.leaderEpoch === -1 && value.metadata === "" &&
      Math.abs(value.commitMs - Date.now()) < 60000,
    "__consumer_offsets: the value is Kafka's OffsetCommitValue v3 (offset, epoch -1, metadata, commit time)",
    `${JSON.stringify(value)} from ${JSON.stringify(r)}`);
  }
  await produce("ledger", [4, 5].map((value) => ({ value, partition: 0 })), "2 more for the lag");
  {
    const { json } = await call("getGroupOffsets", GO("billing"), { expect: 200, note: "after 2 more records" });
    check(same(json?.offsets, [{ topic: "ledger", partition: 0, offset: 1, latest: 5, lag: 4 }]),
      "getGroupOffsets: latest and lag follow the records produced since", JSON.stringify(json));
  }
  {
    // one commit of two partitions (the high watermark itself is a valid offset);
    // the answer is the whole group, sorted by topic and partition
    const { json } = await commit("billing", [{ topic: "ledger", partition: 1, offset: 0 },
      { topic: "ledger", partition: 0, offset: 5 }], { expect: 200, note: "2 partitions, offset = latest" });
    const want = [{ topic: "ledger", partition: 0, offset: 5, latest: 5, lag: 0 },
      { topic: "ledger", partition: 1, offset: 0, latest: 0, lag: 0 }];
    check(same(json?.offsets, want), "commitGroupOffsets: two partitions at once, sorted; offset = latest is lag 0",
      JSON.stringify(json));
    const recs = await lastOffsetRecords(2, "the 2-partition commit's records");
    const keys = recs.map((r) => decodeOffsetKey(recordKey(r) ?? Buffer.alloc(0)));
    check(recs.length === 2 && keys.every((k) => k?.group === "billing") &&
      same(keys.map((k) => k?.partition).sort(), [0, 1]),
    "__consumer_offsets: one record per partition committed", JSON.stringify(keys));
  }
  {
    // a commit names some partitions; the others keep theirs (a rewind is allowed)
    const { json } = await commit("billing", [{ topic: "ledger", partition: 0, offset: 0 }],
      { expect: 200, note: "rewind partition 0" });
    check(same(json?.offsets?.map((o) => [o.partition, o.offset, o.lag]), [[0, 0, 5], [1, 0, 0]]),
      "commitGroupOffsets: changes the partitions named, keeps the others", JSON.stringify(json));
  }

  // all or nothing: a commit refused for one item changes nothing
  const billing = (await call("getGroupOffsets", GO("billing"), { expect: 200, note: "before refused commits" })).json;
  await commit("billing", [{ topic: "ledger", partition: 0, offset: 2 }, { topic: "nope", partition: 0, offset: 0 }],
    { expect: 404, code: "topic_not_found", note: "second item: no such topic" });
  await commit("billing", [{ topic: "ledger", partition: 0, offset: 2 }, { topic: "ledger", partition: 0, offset: 3 }],
    { expect: 400, code: "invalid_offsets", note: "the same partition twice" });
  await commit("billing", [{ topic: "ledger", partition: 1, offset: 0 }, { topic: "ledger", partition: 0, offset: 6 }],
    { expect: 400, code: "invalid_offset", note: "second item above the high watermark" });
  {
    const { json } = await call("getGroupOffsets", GO("billing"), { expect: 200, note: "after refused commits" });
    check(billing && same(json, billing), "commitGroupOffsets: a refused commit changes nothing (all or nothing)",
      `${JSON.stringify(billing)} -> ${JSON.stringify(json)}`);
  }

  // other groups: names are any UTF-8 without control characters; the body may come
  // with no content type, or curl's form type
  await call("commitGroupOffsets", GO("shipping"), {
    body: Buffer.from(JSON.stringify({ offsets: [{ topic: "ledger", partition: 1, offset: 0 }] })),
    expect: 200, note: "no Content-Type" });
  {
    const { json } = await call("commitGroupOffsets", GO("caf%C3%A9%2Fteam%201"), {
      body: JSON.stringify({ offsets: [{ topic: "ledger", partition: 0, offset: 3 }] }),
      headers: { "content-type": "application/x-www-form-urlencoded" }, expect: 200,
      note: "UTF-8 name with / and a space; form type (curl -d)" });
    check(json?.group === "café/team 1", "commitGroupOffsets: the group name is percent-decoded", json?.group);
  }
  {
    const long = "g".repeat(255);
    const { json } = await commit(long, [{ topic: "ledger", partition: 0, offset: 0 }],
      { expect: 200, note: "a 255-byte name" });
    check(json?.group === long, "commitGroupOffsets: a 255-byte group name is accepted", `${json?.group?.length}`);
    await call("deleteGroup", `/groups/${long}`, { expect: 204, note: "a 255-byte name" });
  }
  {
    const { json } = await call("listGroups", "/groups", { expect: 200, note: "3 groups" });
    check(same(json, { groups: [
      { name: "billing", members: 0, topics: ["ledger"] },
      { name: "café/team 1", members: 0, topics: ["ledger"] },
      { name: "shipping", members: 0, topics: ["ledger"] },
    ] }), "listGroups: every group, sorted by name, with members 0 and its topics once each",
    JSON.stringify(json));
  }
  await call("listGroups", `/groups?access_token=${TOKEN}`, { token: null, expect: 200, note: "access_token" });
  await call("getGroupOffsets", `${GO("billing")}?access_token=${TOKEN}`, { token: null, expect: 200,
    note: "access_token" });
  await call("listGroups", "/groups", { method: "HEAD", expect: 200, note: "HEAD" });
  await call("getGroupOffsets", GO("billing"), { method: "HEAD", expect: 200, note: "HEAD" });

  // errors of the path and the query
  const long256 = "g".repeat(256);
  for (const [g, code, note] of [[long256, "invalid_group_name", "256 bytes"],
    ["%01", "invalid_group_name", "a control character"], ["a%7Fb", "invalid_group_name", "DEL"],
    ["%FF", "invalid_group_name", "not UTF-8"], ["a%zzb", "bad_path", "bad escape"],
    ["a%00b", "bad_path", "NUL"]]) {
    await commit(g, [{ topic: "ledger", partition: 0, offset: 0 }], { expect: 400, code, note });
    await call("getGroupOffsets", GO(g), { expect: 400, code, note });
    await call("deleteGroup", `/groups/${g}`, { expect: 400, code, note });
  }
  await call("listGroups", "/groups?internal=true", { expect: 400, code: "unknown_parameter" });
  await call("getGroupOffsets", `${GO("billing")}?offset=0`, { expect: 400, code: "unknown_parameter" });
  await call("commitGroupOffsets", `${GO("billing")}?member_id=m`, {
    json: { offsets: [{ topic: "ledger", partition: 0, offset: 0 }] }, expect: 400, code: "unknown_parameter" });
  await call("deleteGroup", "/groups/billing?force=1", { expect: 400, code: "unknown_parameter" });

  // errors of the body
  const item = { topic: "ledger", partition: 0, offset: 1 };
  const bad = (json, expect, code, note) => call("commitGroupOffsets", GO("billing"), { json, expect, code, note });
  await bad({ offsets: [item], colour: "red" }, 400, "unknown_field", "top-level member");
  await bad({ offsets: [{ ...item, metadata: "" }] }, 400, "unknown_field", "item member");
  await bad({}, 400, "invalid_offsets", "no offsets");
  await bad({ offsets: [] }, 400, "invalid_offsets", "empty offsets");
  await bad({ offsets: item }, 400, "invalid_offsets", "not an array");
  await bad({ offsets: [1] }, 400, "invalid_offsets", "an item not an object");
  await bad({ offsets: [{ topic: "ledger", partition: "0", offset: 1 }] }, 400, "invalid_offsets", "partition a string");
  await bad({ offsets: [{ topic: "ledger", partition: 0, offset: 1.5 }] }, 400, "invalid_offsets", "offset not an integer");
  await bad({ offsets: [{ topic: "ledger", partition: 0 }] }, 400, "invalid_offsets", "no offset");
  await bad({ offsets: Array.from({ length: 10001 }, (_, partition) => ({ topic: "ledger", partition, offset: 0 })) },
    400, "invalid_offsets", "10001 offsets");
  await bad({ offsets: [{ topic: "nope", partition: 0, offset: 0 }] }, 404, "topic_not_found", "no such topic");
  await bad({ offsets: [{ topic: "ledger", partition: 2, offset: 0 }] }, 404, "partition_not_found", "partition 2 of 2");
  await bad({ offsets: [{ topic: "ledger", partition: 0, offset: 6 }] }, 400, "invalid_offset", "above the high watermark");
  await bad({ offsets: [{ topic: "ledger", partition: 0, offset: -1 }] }, 400, "invalid_offset", "negative");
  await bad({ offsets: [item], member_id: "m-00000000000000000000000000000000", generation: 1 }, 409,
    "unknown_member", "member_id and generation: no such member");
  const raw = (body, expect, code, note, type = "application/json") => call("commitGroupOffsets", GO("billing"), {
    body, headers: { "content-type": type }, expect, code, note });
  await raw(JSON.stringify({ offsets: [item] }), 415, "unsupported_media_type", "text/plain", "text/plain");
  await raw('{"offsets":', 400, "invalid_json", "truncated");
  await raw("", 400, "invalid_json", "empty");
  await raw("[1]", 400, "invalid_json", "not an object");
  await raw(`{"offsets":[],"offsets":[${JSON.stringify(item)}]}`, 400, "invalid_json", "duplicate member");
  await raw('{"offsets":[{"topic":"ledger","partition":0,"offset":99999999999999999999}]}', 400,
    "number_out_of_range", "offset 1e20");
  {
    const { json } = await call("getGroupOffsets", GO("billing"), { expect: 200, note: "after refused bodies" });
    check(billing && same(json, billing), "commitGroupOffsets: refused bodies change nothing",
      `${JSON.stringify(billing)} -> ${JSON.stringify(json)}`);
  }
  await call("listGroups", "/groups", { token: null, expect: 401, code: "unauthorized" });
  await call("getGroupOffsets", GO("billing"), { token: "rill_wrong", expect: 401, code: "invalid_token" });
  await commit("billing", [item], { token: null, expect: 401, code: "unauthorized" });
  await call("deleteGroup", "/groups/billing", { token: null, expect: 401, code: "unauthorized" });
  await call("commitGroupOffsets", `${GO("billing")}?access_token=${TOKEN}`, { token: null, json: { offsets: [item] },
    expect: 401, code: "unauthorized", note: "access_token is GET only" });
  {
    const { res } = await callRoute("MethodNotAllowed", "PUT", "/groups", { expect: 405 });
    check(res.headers.get("allow") === "GET, HEAD", "405: /groups allows GET, HEAD", res.headers.get("allow"));
  }
  {
    const { res } = await callRoute("MethodNotAllowed", "GET", "/groups/billing", { expect: 405 });
    check(res.headers.get("allow") === "DELETE", "405: /groups/{group} allows DELETE", res.headers.get("allow"));
  }
  await callRoute("NotFound", "GET", "/groups//offsets", { expect: 404 });

  // delete: gone at once, 404 after
  await call("deleteGroup", "/groups/shipping", { expect: 204 });
  await call("getGroupOffsets", GO("shipping"), { expect: 404, code: "group_not_found", note: "deleted" });
  await call("deleteGroup", "/groups/shipping", { expect: 404, code: "group_not_found", note: "again" });
  {
    const [r] = await lastOffsetRecords(1, "the delete's tombstone");
    const key = r && decodeOffsetKey(recordKey(r) ?? Buffer.alloc(0));
    check(key?.group === "shipping" && r.value === null && r.value_base64 === undefined,
      "__consumer_offsets: deleting a group writes a tombstone (null value) per offset", JSON.stringify(r));
  }
  {
    const { json } = await call("listGroups", "/groups", { expect: 200, note: "after a delete" });
    check(same(json?.groups?.map((g) => g.name), ["billing", "café/team 1"]),
      "listGroups: a deleted group is gone", JSON.stringify(json));
  }
  await commit("shipping", [{ topic: "ledger", partition: 1, offset: 0 }], { expect: 200, note: "after its delete" });

  // deleting a topic removes its offsets from every group; a topic made again under
  // the name starts with none
  await call("createTopic", "/topics", { json: { name: "ledger-old" }, expect: 201, note: "to be deleted" });
  await produce("ledger-old", [{ value: 1 }], "ledger-old");
  await commit("billing", [{ topic: "ledger-old", partition: 0, offset: 1 }], { expect: 200, note: "a 2nd topic" });
  await commit("old-only", [{ topic: "ledger-old", partition: 0, offset: 0 }], { expect: 200, note: "its only topic" });
  {
    const { json } = await call("listGroups", "/groups", { expect: 200, note: "before a topic delete" });
    check(same(json?.groups?.find((g) => g.name === "billing")?.topics, ["ledger", "ledger-old"]),
      "listGroups: topics names each topic the group has offsets for", JSON.stringify(json));
  }
  await call("deleteTopic", "/topics/ledger-old", { expect: 204, note: "a group's topic" });
  {
    const { json } = await call("getGroupOffsets", GO("billing"), { expect: 200, note: "a topic deleted" });
    check(billing && same(json, billing), "getGroupOffsets: the offsets of a deleted topic are removed",
      JSON.stringify(json));
    const { json: list } = await call("listGroups", "/groups", { expect: 200, note: "a topic deleted" });
    check(same(list?.groups?.map((g) => [g.name, g.topics]),
      [["billing", ["ledger"]], ["café/team 1", ["ledger"]], ["shipping", ["ledger"]]]),
    "listGroups: a deleted topic is no longer named; a group left with no offsets (and no members) is gone",
    JSON.stringify(list));
  }
  await call("getGroupOffsets", GO("old-only"), { expect: 404, code: "group_not_found",
    note: "its only topic deleted" });
  await call("createTopic", "/topics", { json: { name: "ledger-old" }, expect: 201, note: "made again" });
  {
    const { json } = await call("getGroupOffsets", GO("billing"), { expect: 200, note: "the topic made again" });
    check(billing && same(json, billing), "getGroupOffsets: a topic made again under the name starts with no offsets",
      JSON.stringify(json));
  }
  await call("getGroupOffsets", GO("old-only"), { expect: 404, code: "group_not_found",
    note: "the topic made again" });
  await call("deleteTopic", "/topics/ledger-old", { expect: 204, note: "groups done" });
  await call("deleteTopic", "/topics/ledger", { expect: 204, note: "groups done" });
  {
    const { json } = await call("listGroups", "/groups", { expect: 200, note: "every topic deleted" });
    check(same(json, { groups: [] }), "listGroups: groups whose topics are all deleted are gone", JSON.stringify(json));
  }
  await call("getGroupOffsets", GO("billing"), { expect: 404, code: "group_not_found", note: "its topics deleted" });
}

// -- consumer group members: join, assignment, heartbeats, reads, fencing, expiry --

const GM = (g) => `/groups/${g}/members`;
const sameJson = (a, b) => JSON.stringify(a) === JSON.stringify(b);
const parts = (view) => (view?.assignments ?? []).map((a) => `${a.topic}/${a.partition}`);

// Records or offsets sorted by partition, then offset (a member's read starts with
// another partition each time).
const byPartition = (list) => [...(list ?? [])].sort((x, y) =>
  x.partition - y.partition || (x.offset ?? 0) - (y.offset ?? 0));

// A path segment as RFC 3986 percent-encodes it: every byte but the unreserved ones.
const encodeSegment = (s) => Array.from(Buffer.from(s, "utf8"))
  .map((b) => (/[A-Za-z0-9\-._~]/.test(String.fromCharCode(b)) ? String.fromCharCode(b)
    : `%${b.toString(16).toUpperCase().padStart(2, "0")}`)).join("");

// Joins 'group' and checks the 201's Location: /groups/{group}/members/{member_id},
// the group name as decoded from the path ('decoded'), percent-encoded again.
async function join(group, body, opts = {}) {
  const { res, json } = await call("joinGroup", GM(group), { json: body, expect: 201, ...opts });
  if (json?.member_id) {
    const name = encodeSegment(opts.decoded ?? group);
    check(res.headers.get("location") === `/groups/${name}/members/${json.member_id}`,
      `joinGroup ${group}: Location is /groups/{group}/members/{member_id}`, res.headers.get("location"));
  }
  return json;
}
const heartbeat = (group, m, opts = {}) =>
  call("heartbeatMember", `${GM(group)}/${m}/heartbeat`, { expect: 200, ...opts });
const leave = (group, m, opts = {}) => call("leaveGroup", `${GM(group)}/${m}`, { expect: 204, ...opts });
const readMember = (group, m, query = "", opts = {}) =>
  call("readMemberRecords", `${GM(group)}/${m}/records${query}`, { expect: 200, ...opts });

// The assignments of views[] (the members of one group, one topic of 'n' partitions)
// follow the documented rule: partition p to member p mod k, members by id.
function checkAssignment(views, topic, n, label) {
  const ids = views.map((v) => v.member_id).sort();
  const owners = {};
  for (const v of views) for (const a of v.assignments ?? []) {
    if (a.topic !== topic) continue;
    (owners[a.partition] ??= []).push(v.member_id);
  }
  const all = Array.from({ length: n }, (_, p) => p);
  check(all.every((p) => owners[p]?.length === 1) && Object.keys(owners).length === n,
    `${label}: every partition of ${topic} has exactly one member`, JSON.stringify(owners));
  check(all.every((p) => owners[p]?.[0] === ids[p % ids.length]),
    `${label}: partition p goes to member p mod k (members by id)`, `${JSON.stringify(owners)} ids ${ids}`);
  for (const v of views) {
    const sorted = [...(v.assignments ?? [])].sort((x, y) =>
      x.topic < y.topic ? -1 : x.topic > y.topic ? 1 : x.partition - y.partition);
    check(sameJson(sorted, v.assignments), `${label}: assignments sorted by topic, partition`,
      JSON.stringify(v.assignments));
  }
}

async function memberScenarios() {
  await call("createTopic", "/topics", { json: { name: "jobs", partitions: 3 }, expect: 201, note: "for members" });
  const G = "workers";

  // join: 201 with Location, the whole topic for a first member
  const a = await join(G, { topics: ["jobs"], auto_offset_reset: "earliest" });
  check(/^m-[0-9a-f]{32}$/.test(a?.member_id ?? "") && a?.generation >= 1 &&
    sameJson(parts(a), ["jobs/0", "jobs/1", "jobs/2"]),
  "joinGroup: the first member gets every partition", JSON.stringify(a));
  await call("getGroupOffsets", `/groups/${G}/offsets`, { expect: 404, code: "group_not_found",
    note: "members, no commits" });
  {
    const { json } = await call("listGroups", "/groups", { expect: 200, note: "a group with a member" });
    check(sameJson(json?.groups?.find((g) => g.name === G), { name: G, members: 1, topics: [] }),
      "listGroups: a group with members and no commits is listed, topics []", JSON.stringify(json));
  }
  // a second member: a new generation, the partitions dealt between the two
  const b = await join(G, { topics: ["jobs"], session_timeout_ms: 60000 }, { note: "second member" });
  check(b?.generation === a?.generation + 1, "joinGroup: a join starts a new generation",
    `${a?.generation} -> ${b?.generation}`);
  await call("commitGroupOffsets", `/groups/${G}/offsets`, { json: { member_id: a?.member_id,
    generation: a?.generation, offsets: [{ topic: "jobs", partition: 0, offset: 0 }] }, expect: 409,
  code: "stale_generation", note: "a's join generation, after b's join" });
  await call("commitGroupOffsets", `/groups/${G}/offsets`, { json: { member_id: a?.member_id,
    generation: b?.generation + 1, offsets: [{ topic: "jobs", partition: 0, offset: 0 }] }, expect: 409,
  code: "stale_generation", note: "a generation the group has not reached" });
  let va = (await heartbeat(G, a?.member_id)).json;
  check(va?.generation === b?.generation && va?.member_id === a?.member_id,
    "heartbeatMember: answers the current generation", JSON.stringify(va));
  checkAssignment([va, b], "jobs", 3, "two members");
  {
    const { json } = await call("listGroups", "/groups", { expect: 200, note: "two members" });
    check(json?.groups?.find((g) => g.name === G)?.members === 2, "listGroups: members is the live member count",
      JSON.stringify(json));
  }
  await call("deleteGroup", `/groups/${G}`, { expect: 409, code: "group_not_empty", note: "members, no offsets" });
  await call("heartbeatMember", `${GM(G)}/${a?.member_id}/heartbeat`, { method: "POST", expect: 200,
    body: "ignored", headers: { "content-type": "text/plain" }, note: "a body is ignored" });

  // reads: from the committed offsets, else auto_offset_reset (earliest for a)
  await produce("jobs", [0, 1, 2].flatMap((partition) =>
    [1, 2].map((n) => ({ key: `k${partition}`, value: { partition, n }, partition }))), "2 records a partition");
  const mine = (va?.assignments ?? []).map((x) => x.partition);
  let readOffsets;
  {
    const { json } = await readMember(G, a?.member_id, "", { note: "earliest, nothing committed" });
    const recs = json?.records ?? [];
    check(json?.member_id === a?.member_id && json?.generation === va?.generation,
      "readMemberRecords: answers the member and the generation", JSON.stringify(json)?.slice(0, 200));
    check(recs.length === 2 * mine.length && recs.every((r) => r.topic === "jobs" && mine.includes(r.partition)),
      "readMemberRecords: the records of the member's partitions only, from earliest",
      `${JSON.stringify(recs.map((r) => [r.partition, r.offset]))} mine ${mine}`);
    check(sameJson(byPartition(json?.offsets), mine.map((partition) => ({ topic: "jobs", partition, offset: 2 }))),
      "readMemberRecords: offsets has each assigned partition read, the offset after its last record",
      JSON.stringify(json?.offsets));
    readOffsets = json?.offsets;
    const again = (await readMember(G, a?.member_id, "", { note: "again, nothing committed" })).json;
    check(sameJson(byPartition(again?.records), byPartition(json?.records)),
      "readMemberRecords: without a commit, a read gives the same records (partitions taken in turn)",
      `${again?.records?.length} records`);
  }
  {
    const { json } = await readMember(G, a?.member_id, "?limit=1", { note: "limit=1" });
    const p = json?.records?.[0]?.partition;
    check(json?.records?.length === 1 && mine.includes(p) &&
      sameJson(json?.offsets, [{ topic: "jobs", partition: p, offset: 1 }]),
      "readMemberRecords: limit counts over every partition; offsets lists the partitions read",
      JSON.stringify(json));
  }
  {
    const { json } = await readMember(G, b?.member_id, "", { note: "latest, nothing committed" });
    check(json?.records?.length === 0 && json?.offsets?.every((o) => o.offset === 2),
      "readMemberRecords: auto_offset_reset latest (the default) reads nothing of the past",
      JSON.stringify(json));
  }
  // commit the offsets read, as the member: the next read goes on from there
  await call("commitGroupOffsets", `/groups/${G}/offsets`, { json: {
    member_id: a?.member_id, generation: va?.generation, offsets: readOffsets }, expect: 200, note: "as member a" });
  {
    const { json } = await readMember(G, a?.member_id, "", { note: "after the commit" });
    check(json?.records?.length === 0 && sameJson(json?.offsets, readOffsets),
      "readMemberRecords: after the commit, the read starts at the committed offsets", JSON.stringify(json));
  }
  {
    const { json, ms } = await readMember(G, a?.member_id, "?wait_ms=300", { note: "long poll, no data" });
    check(json?.records?.length === 0 && ms >= 250, "readMemberRecords: a long poll with no data waits, answers empty",
      `${ms} ms`);
  }
  {
    const poll = readMember(G, a?.member_id, "?wait_ms=10000", { note: "long poll, woken" });
    await sleep(200);
    await produce("jobs", [{ value: "wake", partition: mine[mine.length - 1] }], "wakes the member's poll");
    const { json, ms } = await poll;
    check(json?.records?.length === 1 && json.records[0].value === "wake" &&
      json.records[0].partition === mine[mine.length - 1] && ms < 9000,
    "readMemberRecords: a long poll answers as soon as a record comes to one of its partitions",
    `${ms} ms ${JSON.stringify(json?.records)}`);
  }
  await readMember(G, a?.member_id, `?access_token=${TOKEN}&limit=1`, { token: null, note: "access_token" });
  await call("readMemberRecords", `${GM(G)}/${a?.member_id}/records`, { method: "HEAD", expect: 200, note: "HEAD" });
  for (const q of ["limit=0", "limit=10001", "limit=x", "max_bytes=0", "max_bytes=67108865", "wait_ms=-1",
    "wait_ms=30001"])
    await readMember(G, a?.member_id, `?${q}`, { expect: 400, code: "invalid_parameter" });
  await readMember(G, a?.member_id, "?offset=0", { expect: 400, code: "unknown_parameter" });
  await readMember(G, "m-00000000000000000000000000000000", "", { expect: 409, code: "unknown_member", note: "never joined" });
  await readMember(G, a?.member_id, "", { token: null, expect: 401, code: "unauthorized" });

  // fencing: a third member starts a new generation; a's old one is stale
  const c = await join(G, { topics: ["jobs"] }, { note: "third member" });
  const GOFF = `/groups/${G}/offsets`;
  const item = [{ topic: "jobs", partition: mine[0], offset: 2 }];
  await call("commitGroupOffsets", GOFF, { json: { member_id: a?.member_id, generation: va?.generation, offsets: item },
    expect: 409, code: "stale_generation", note: "the generation before a join" });
  va = (await heartbeat(G, a?.member_id, { note: "after the third join" })).json;
  check(va?.generation === c?.generation, "heartbeatMember: after a join, the new generation", JSON.stringify(va));
  await call("commitGroupOffsets", GOFF, { json: { member_id: a?.member_id, generation: va?.generation, offsets: item },
    expect: 200, note: "the current generation" });
  await call("commitGroupOffsets", GOFF, { json: { offsets: item }, expect: 409, code: "member_required",
    note: "no member while the group has members" });
  await call("commitGroupOffsets", GOFF, { json: { member_id: "m-00000000000000000000000000000000",
    generation: va?.generation, offsets: item }, expect: 409, code: "unknown_member", note: "not a member" });
  for (const [body, note] of [[{ member_id: a?.member_id }, "member_id alone"],
    [{ generation: va?.generation }, "generation alone"],
    [{ member_id: 7, generation: va?.generation }, "member_id a number"],
    [{ member_id: a?.member_id, generation: String(va?.generation) }, "generation a string"],
    [{ member_id: null, generation: null }, "nulls"]])
    await call("commitGroupOffsets", GOFF, { json: { ...body, offsets: item }, expect: 400, code: "invalid_member", note });
  await streamError("streamPartition", `/topics/jobs/partitions/0/stream?group=${G}`, { expect: 409,
    code: "member_required", note: "a group with members" });
  await streamError("streamTopic", `/topics/jobs/stream?group=${G}&commit=auto`, { expect: 409,
    code: "member_required", note: "a group with members" });
  await call("deleteGroup", `/groups/${G}`, { expect: 409, code: "group_not_empty", note: "members and offsets" });
  {
    const { json } = await call("listGroups", "/groups", { expect: 200, note: "members and offsets" });
    check(sameJson(json?.groups?.find((g) => g.name === G), { name: G, members: 3, topics: ["jobs"] }),
      "listGroups: members and the topics committed", JSON.stringify(json));
  }
  {
    const vb = (await heartbeat(G, b?.member_id, { note: "three members" })).json;
    const vc = (await heartbeat(G, c?.member_id, { note: "three members" })).json;
    checkAssignment([va, vb, vc], "jobs", 3, "three members");
  }

  // leave: 204, then the id is unknown
  await leave(G, c?.member_id);
  await leave(G, c?.member_id, { expect: 404, code: "member_not_found", note: "again" });
  await heartbeat(G, c?.member_id, { expect: 409, code: "unknown_member", note: "after leaving" });
  await readMember(G, c?.member_id, "", { expect: 409, code: "unknown_member", note: "after leaving" });
  {
    va = (await heartbeat(G, a?.member_id, { note: "after a leave" })).json;
    const vb = (await heartbeat(G, b?.member_id, { note: "after a leave" })).json;
    check(va?.generation > c?.generation && vb?.generation === va?.generation,
      "leaveGroup: a leave starts a new generation", `${c?.generation} -> ${va?.generation}`);
    checkAssignment([va, vb], "jobs", 3, "after a leave");
  }
  // a subscribed topic grows: a new generation, the new partition dealt
  {
    const before = va?.generation;
    await call("updateTopic", "/topics/jobs", { json: { partitions: 4 }, expect: 200, note: "members' topic grows" });
    va = (await heartbeat(G, a?.member_id, { note: "the topic grew" })).json;
    const vb = (await heartbeat(G, b?.member_id, { note: "the topic grew" })).json;
    check(va?.generation > before, "heartbeatMember: a subscribed topic's new partition starts a new generation",
      `${before} -> ${va?.generation}`);
    checkAssignment([va, vb], "jobs", 4, "the topic grew");
  }

  // expiry: a member without heartbeats past its session_timeout_ms is gone
  {
    const E = "brief";
    let y = await join(E, { topics: ["jobs"] }, { note: "default session" });
    const x = await join(E, { topics: ["jobs"], session_timeout_ms: 200 }, { note: "session_timeout_ms 200" });
    y = (await heartbeat(E, y?.member_id, { note: "the other joined" })).json;
    checkAssignment([x, y], "jobs", 4, "two members, one short-lived");
    await sleep(1000);
    await heartbeat(E, x?.member_id, { expect: 409, code: "unknown_member", note: "session expired" });
    const vy = (await heartbeat(E, y?.member_id, { note: "the other expired" })).json;
    check(vy?.generation > y?.generation && sameJson(parts(vy), ["jobs/0", "jobs/1", "jobs/2", "jobs/3"]),
      "heartbeatMember: after an expiry, a new generation and the other member holds every partition",
      JSON.stringify(vy));
    await leave(E, x?.member_id, { expect: 404, code: "member_not_found", note: "expired" });
    const { json } = await call("listGroups", "/groups", { expect: 200, note: "an expired member" });
    check(json?.groups?.find((g) => g.name === E)?.members === 1, "listGroups: an expired member is not counted",
      JSON.stringify(json));
    await leave(E, y?.member_id);
    const { json: after } = await call("listGroups", "/groups", { expect: 200, note: "its last member left" });
    check(!after?.groups?.some((g) => g.name === E), "listGroups: a group whose last member left (no offsets) is gone",
      JSON.stringify(after));
  }

  // join: what the body may hold
  {
    const E = "edge";
    const v = await join(E, { topics: ["jobs", "jobs"], session_timeout_ms: 1800000 },
      { note: "a topic twice, the longest session" });
    check(sameJson(parts(v), ["jobs/0", "jobs/1", "jobs/2", "jobs/3"]), "joinGroup: a topic named twice counts once",
      JSON.stringify(v));
    const w = await join(E, { topics: ["jobs"], session_timeout_ms: 100, auto_offset_reset: "latest" },
      { note: "the shortest session" });
    const raw = (await call("joinGroup", GM(E), { body: Buffer.from(JSON.stringify({ topics: ["jobs"] })),
      expect: 201, note: "no Content-Type" })).json;
    const form = (await call("joinGroup", GM(E), { body: JSON.stringify({ topics: ["jobs"] }),
      headers: { "content-type": "application/x-www-form-urlencoded" }, expect: 201, note: "form type (curl -d)" })).json;
    for (const m of [v, w, raw, form]) await leave(E, m?.member_id, { expect: m === w ? undefined : 204, note: "cleanup" });
    const json = await join("caf%C3%A9%2Fteam%201", { topics: ["jobs"] },
      { decoded: "café/team 1", note: "a percent-encoded group name" });
    if (json) await leave("caf%C3%A9%2Fteam%201", json.member_id, { note: "cleanup" });
  }
  // join errors
  {
    const E = "edge";
    const bad = (body, expect, code, note) => call("joinGroup", GM(E), { json: body, expect, code, note });
    await bad({}, 400, "invalid_topics", "no topics");
    await bad({ topics: "jobs" }, 400, "invalid_topics", "not an array");
    await bad({ topics: [] }, 400, "invalid_topics", "empty");
    await bad({ topics: Array.from({ length: 101 }, () => "jobs") }, 400, "invalid_topics", "101 topics");
    await bad({ topics: ["jobs", 1] }, 400, "invalid_topics", "an item not a string");
    await bad({ topics: ["jobs", "nope"] }, 404, "topic_not_found", "no such topic");
    for (const t of [99, 1800001, "30000", 1000.5, null])
      await bad({ topics: ["jobs"], session_timeout_ms: t }, 400, "invalid_session_timeout", `session_timeout_ms ${t}`);
    for (const r of ["none", "EARLIEST", 1])
      await bad({ topics: ["jobs"], auto_offset_reset: r }, 400, "invalid_auto_offset_reset", `auto_offset_reset ${r}`);
    await bad({ topics: ["jobs"], group_instance_id: "x" }, 400, "unknown_field", "an unknown member");
    const raw = (body, expect, code, note, type = "application/json") => call("joinGroup", GM(E), {
      body, headers: { "content-type": type }, expect, code, note });
    await raw("", 400, "invalid_json", "empty");
    await raw('{"topics":', 400, "invalid_json", "truncated");
    await raw('["jobs"]', 400, "invalid_json", "not an object");
    await raw('{"topics":["jobs"],"topics":["jobs"]}', 400, "invalid_json", "duplicate member");
    await raw('{"topics":["jobs"],"session_timeout_ms":99999999999999999999}', 400, "number_out_of_range", "1e20");
    await raw(JSON.stringify({ topics: ["jobs"] }), 415, "unsupported_media_type", "text/plain", "text/plain");
    await call("joinGroup", `${GM(E)}?session_timeout_ms=1000`, { json: { topics: ["jobs"] }, expect: 400,
      code: "unknown_parameter" });
    await call("joinGroup", GM(E), { token: null, json: { topics: ["jobs"] }, expect: 401, code: "unauthorized" });
    const { json } = await call("listGroups", "/groups", { expect: 200, note: "after refused joins" });
    check(!json?.groups?.some((g) => g.name === E), "joinGroup: a refused join adds no member", JSON.stringify(json));
  }
  // path errors of the member operations
  const m = a?.member_id;
  for (const [g, code, note] of [["g".repeat(256), "invalid_group_name", "256 bytes"],
    ["%01", "invalid_group_name", "a control character"], ["a%zzb", "bad_path", "bad escape"]]) {
    await call("joinGroup", GM(g), { json: { topics: ["jobs"] }, expect: 400, code, note });
    await heartbeat(g, m, { expect: 400, code, note });
    await leave(g, m, { expect: 400, code, note });
    await readMember(g, m, "", { expect: 400, code, note });
  }
  await heartbeat(G, "m%zz", { expect: 400, code: "bad_path", note: "a bad escape in {member}" });
  await leave(G, "m%00", { expect: 400, code: "bad_path", note: "NUL in {member}" });
  await call("heartbeatMember", `${GM(G)}/${m}/heartbeat?x=1`, { expect: 400, code: "unknown_parameter" });
  await call("leaveGroup", `${GM(G)}/${m}?x=1`, { expect: 400, code: "unknown_parameter" });
  await heartbeat(G, m, { token: null, expect: 401, code: "unauthorized" });
  await leave(G, m, { token: null, expect: 401, code: "unauthorized" });
  await heartbeat(G, "nobody", { expect: 409, code: "unknown_member", note: "not an id" });
  await leave(G, "nobody", { expect: 404, code: "member_not_found", note: "not an id" });
  {
    const { res } = await callRoute("MethodNotAllowed", "GET", `${GM(G)}/${m}/heartbeat`, { expect: 405 });
    check(res.headers.get("allow") === "POST", "405: .../heartbeat allows POST", res.headers.get("allow"));
    const { res: r2 } = await callRoute("MethodNotAllowed", "GET", GM(G), { expect: 405 });
    check(r2.headers.get("allow") === "POST", "405: /groups/{group}/members allows POST", r2.headers.get("allow"));
  }

  // the last members leave: the group can be deleted
  await leave(G, a?.member_id);
  await leave(G, b?.member_id);
  await call("commitGroupOffsets", GOFF, { json: { offsets: item }, expect: 200,
    note: "no member: the group has none left" });
  await call("deleteGroup", `/groups/${G}`, { expect: 204, note: "its members gone" });
  await call("deleteTopic", "/topics/jobs", { expect: 204, note: "members done" });
}

// -- streams of a consumer group: ?group= starts at its offsets, &commit=auto commits --
// On the streams server (--heartbeat-ms 200): a stream whose client has gone ends once
// a write fails, so the heartbeats end a closed stream soon; the tests wait for that
// (its access-log line) before going on, since a commit=auto stream commits until then.

// The next block of 's' that is not a comment (a heartbeat), or null within 'ms'.
async function nextNonComment(s, ms) {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = deadline - Date.now();
    if (left <= 0) return null;
    const b = await s.next(left);
    if (!b || b.end || b.error || b.event !== undefined || b.dataLines.length || b.retry !== undefined) return b;
  }
}

async function groupStreamScenarios(logPath) {
  // closes a commit=auto stream and waits until the server has ended it
  const closeAndWait = async (s, urlPath) => {
    s.close();
    check(await logShows(logPath, `"GET ${urlPath}" 200`), `${s.label}: the server ends the stream once the client has gone`);
  };
  await call("createTopic", "/topics", { json: { name: "feed", partitions: 2 }, expect: 201, note: "group streams" });
  await produce("feed", [{ value: 0, partition: 0 }, { value: 1, partition: 0 }, { value: 2, partition: 0 },
    { value: 0, partition: 1 }, { value: 1, partition: 1 }], "3 + 2 records");
  const V = "viewers";
  const GOFF = `/groups/${V}/offsets`;
  const want = (o0, o1) => [{ topic: "feed", partition: 0, offset: o0, latest: 3, lag: 3 - o0 },
    { topic: "feed", partition: 1, offset: o1, latest: 2, lag: 2 - o1 }];
  {
    const s = await openStream("streamTopic", `/topics/feed/stream?group=${V}&commit=auto&offset=earliest`,
      { note: "a group with no offsets yet" });
    if (s) {
      await checkRetry(s);
      const evs = await readEvents(s, 5, s.label);
      check(evs.length === 5 && evs[4]?.ev.id === "0:3,1:2",
        "streamTopic ?group: a group with no offsets starts where offset says", evs.map((e) => e.ev.id).join(" "));
      // committed while the stream runs (at most once a second), not only at its end
      let json;
      const deadline = Date.now() + 5000;
      do {
        await sleep(200);
        json = (await call("getGroupOffsets", GOFF, { expect: undefined, note: "commit=auto, stream open" })).json;
      } while (!sameJson(json?.offsets, want(3, 2)) && Date.now() < deadline);
      check(sameJson(json?.offsets, want(3, 2)),
        "streamTopic &commit=auto: the delivered position is committed within a few seconds, while the stream runs",
        JSON.stringify(json));
      await produce("feed", [{ value: 2, partition: 1 }], "one more, delivered then committed at the end");
      const [e] = await readEvents(s, 1, s.label);
      check(e?.ev.id === "0:3,1:3", "streamTopic &commit=auto: a live record", e?.ev.id);
      await closeAndWait(s, `/topics/feed/stream?group=${V}&commit=auto&offset=earliest`);
    }
  }
  {
    // the end of the stream commits what it delivered
    let json;
    const deadline = Date.now() + 5000;
    do {
      await sleep(100);
      json = (await call("getGroupOffsets", GOFF, { expect: 200, note: "the stream closed" })).json;
    } while (json?.offsets?.[1]?.offset !== 3 && Date.now() < deadline);
    check(sameJson(json?.offsets?.map((o) => o.offset), [3, 3]),
      "streamTopic &commit=auto: what was delivered is committed (within a second, or as the stream ends)", JSON.stringify(json));
    const { json: list } = await call("listGroups", "/groups", { expect: 200, note: "a stream's group" });
    check(sameJson(list?.groups?.find((g) => g.name === V), { name: V, members: 0, topics: ["feed"] }),
      "listGroups: a stream's group, with its topic", JSON.stringify(list));
  }
  await produce("feed", [{ value: 3, partition: 0 }], "after the stream");
  {
    // a new ?group= stream starts at the group's offsets
    const s = await openStream("streamTopic", `/topics/feed/stream?group=${V}`, { note: "starts at the group's offsets" });
    if (s) {
      await checkRetry(s);
      const evs = await readEvents(s, 1, s.label);
      const more = await nextNonComment(s, 300);
      check(evs[0]?.json?.partition === 0 && evs[0]?.json?.offset === 3 && evs[0]?.ev.id === "0:4,1:3" && more === null,
        "streamTopic ?group: a new stream starts at the group's committed offsets",
        `${evs.map((e) => e.ev.id)} then ${JSON.stringify(more)}`);
      s.close();
    }
  }
  {
    const s = await openStream("streamPartition", `/topics/feed/partitions/0/stream?group=${V}&offset=earliest`,
      { note: "the group's offset wins over offset" });
    if (s) {
      const [e] = await readEvents(s, 1, s.label);
      check(e?.json?.offset === 3, "streamPartition ?group: starts at the group's offset, not at offset=earliest",
        e?.ev.data);
      s.close();
    }
  }
  {
    const s = await openStream("streamPartition", `/topics/feed/partitions/0/stream?group=${V}&last_event_id=1`,
      { note: "a resume id wins over the group" });
    if (s) {
      const [e] = await readEvents(s, 1, s.label);
      check(e?.json?.offset === 1, "streamPartition ?group: a resume id wins over the group's offsets", e?.ev.data);
      s.close();
    }
  }
  {
    // without commit=auto, nothing is committed
    const before = (await call("getGroupOffsets", GOFF, { expect: 200, note: "before commit=none" })).json;
    const s = await openStream("streamPartition", `/topics/feed/partitions/1/stream?group=${V}&commit=none&offset=earliest`,
      { note: "commit=none" });
    if (s) {
      await produce("feed", [{ value: 3, partition: 1 }], "for commit=none");
      const [e] = await readEvents(s, 1, s.label);
      check(e?.json?.offset === 3, "streamPartition ?group&commit=none: starts at the group's offset", e?.ev.data);
      await sleep(1500);
      s.close();
      await sleep(300);
      const after = (await call("getGroupOffsets", GOFF, { expect: 200, note: "after commit=none" })).json;
      check(sameJson(after?.offsets?.map((o) => o.offset), before?.offsets?.map((o) => o.offset)),
        "streamPartition commit=none: the group's offsets are not moved", `${JSON.stringify(before)} -> ${JSON.stringify(after)}`);
    }
  }
  {
    // a commit=auto stream whose group gets members ends, without committing
    const s = await openStream("streamPartition", `/topics/feed/partitions/0/stream?group=takeover&commit=auto&offset=earliest`,
      { note: "members join its group" });
    if (s) {
      await readEvents(s, 4, s.label);
      const m = await join("takeover", { topics: ["feed"] }, { note: "while a commit=auto stream runs" });
      await produce("feed", [{ value: 4, partition: 0 }], "a record for the stream to commit");
      let last;
      const t0 = Date.now();
      do last = await s.next(5000); while (last && !last.end && !last.error);
      check(last?.end === true && Date.now() - t0 < 5000,
        "streamPartition &commit=auto: the stream ends once its group has members", JSON.stringify(last));
      const { json } = await call("getGroupOffsets", "/groups/takeover/offsets", { expect: undefined,
        note: "after its members came" });
      check(!json?.offsets?.some((o) => o.offset > 4),
        "streamPartition &commit=auto: nothing delivered after the members came is committed", JSON.stringify(json));
      if (m) await leave("takeover", m.member_id, { note: "cleanup" });
      s.close();
      check(await logShows(logPath, '"GET /topics/feed/partitions/0/stream?group=takeover&commit=auto&offset=earliest" 200'),
        `${s.label}: the stream is over`);
    }
  }
  for (const op of ["streamPartition", "streamTopic"]) {
    const u = op === "streamTopic" ? "/topics/feed/stream" : "/topics/feed/partitions/0/stream";
    await streamError(op, `${u}?commit=auto`, { expect: 400, code: "invalid_parameter", note: "commit without group" });
    await streamError(op, `${u}?group=${V}&commit=yes`, { expect: 400, code: "invalid_parameter", note: "commit=yes" });
    await streamError(op, `${u}?group=`, { expect: 400, code: "invalid_group_name", note: "an empty group" });
    await streamError(op, `${u}?group=%01`, { expect: 400, code: "invalid_group_name", note: "a control character" });
    await streamError(op, `${u}?group=${"g".repeat(256)}`, { expect: 400, code: "invalid_group_name", note: "256 bytes" });
  }
  await call("deleteTopic", "/topics/feed", { expect: 204, note: "group streams done" });
  await call("getGroupOffsets", GOFF, { expect: 404, code: "group_not_found", note: "its topic deleted" });
}

// -- consumer groups' offsets survive a restart: a server of its own, started twice --
async function groupRestartScenarios() {
  await onOtherServers(async (start) => {
    let srv = await start("groups");
    if (!srv) return;
    await call("createTopic", "/topics", { json: { name: "t", partitions: 2 }, expect: 201, note: "groups server" });
    await produce("t", [{ value: 1, partition: 0 }, { value: 2, partition: 0 }], "groups server");
    await call("commitGroupOffsets", "/groups/kept/offsets", { json: { offsets: [
      { topic: "t", partition: 0, offset: 1 }, { topic: "t", partition: 1, offset: 0 }] }, expect: 200,
    note: "before a restart" });
    await call("commitGroupOffsets", "/groups/kept/offsets", { json: { offsets: [
      { topic: "t", partition: 0, offset: 2 }] }, expect: 200, note: "the newer commit wins" });
    await call("commitGroupOffsets", "/groups/dropped/offsets", { json: { offsets: [
      { topic: "t", partition: 0, offset: 0 }] }, expect: 200, note: "before a restart" });
    await call("deleteGroup", "/groups/dropped", { expect: 204, note: "before a restart" });
    const crew = await join("crew", { topics: ["t"] }, { note: "before a restart" });
    await stopOther(srv, "groups, first run");
    srv = await start("groups");
    if (!srv) return;
    const { json } = await call("getGroupOffsets", "/groups/kept/offsets", { expect: 200, note: "after a restart" });
    check(JSON.stringify(json) === JSON.stringify({ group: "kept", offsets: [
      { topic: "t", partition: 0, offset: 2, latest: 2, lag: 0 },
      { topic: "t", partition: 1, offset: 0, latest: 0, lag: 0 }] }),
    "groups: committed offsets survive a restart (the latest commit of each partition)", JSON.stringify(json));
    await call("getGroupOffsets", "/groups/dropped/offsets", { expect: 404, code: "group_not_found",
      note: "deleted before a restart" });
    const { json: list } = await call("listGroups", "/groups", { expect: 200, note: "after a restart" });
    check(JSON.stringify(list?.groups?.map((g) => g.name)) === '["kept"]',
      "groups: after a restart, the groups are those committed and not deleted (membership is forgotten)",
    JSON.stringify(list));
    await heartbeat("crew", crew?.member_id, { expect: 409, code: "unknown_member", note: "after a restart" });
    await readMember("crew", crew?.member_id, "", { expect: 409, code: "unknown_member", note: "after a restart" });
    await leave("crew", crew?.member_id, { expect: 404, code: "member_not_found", note: "after a restart" });
    const again = await join("crew", { topics: ["t"] }, { note: "again, after a restart" });
    check(sameJson(parts(again), ["t/0", "t/1"]), "groups: after a restart, a member joins again",
      JSON.stringify(again));
    await stopOther(srv, "groups, second run");
  });
}

// ---- connection limits: a second server ----

const GET_HEALTHZ = "GET /healthz HTTP/1.1\r\nHost: rill\r\n\r\n";

// Starts `serve --listen 127.0.0.1:0 --data DIR2 <args>`; returns {child, base,
// ended, logPath} or null (a check failed).
async function startOther(name, args) {
  const srv = new RillServer(BIN, path.join(tmp, name), path.join(tmp, `${name}.log`));
  return (await srv.start(0, args, `${name} server${args.length ? ` (${args.join(" ")})` : ""}`))
    ? srv : null;
}

// Runs fn(start) with this test's calls pointed at servers of their own: start(name,
// args) starts one (its data dir tmp/name, kept over restarts) and points base and
// TOKEN at it; it returns the server, or null when it did not start. On the way out
// the main server is the target again, and a server an error left running is killed.
async function onOtherServers(fn) {
  const saved = { base, TOKEN };
  let last = null;
  const start = async (name, args = []) => {
    last = await startOther(name, args);
    if (last) {
      base = last.base;
      TOKEN = last.token;
    }
    return last;
  };
  try {
    await fn(start);
  } finally {
    last?.kill();
    base = saved.base;
    TOKEN = saved.TOKEN;
  }
}

// Polls a server log for 'needle' (at most START_TIMEOUT_MS).
async function logShows(logFile, needle) {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (readFileSync(logFile, "utf8").includes(needle)) return true;
    await sleep(20);
  }
  return false;
}

// Checks an answer given before any operation against components.responses[component].
async function checkEarly(component, label, r, conn, { expect, code, limit }) {
  label = `${label} -> ${r.status} (components.responses.${component})`;
  check(r.status === expect, `${label}: status is ${expect}`, r.buf.toString("utf8"));
  const json = checkResponse(label, api.components.responses[component],
    { status: r.status, headers: r.headers }, r.buf, "GET");
  check(json?.code === code, `${label}: code is ${code}`, `got ${json?.code}: ${json?.detail}`);
  if (limit !== undefined)
    check(json?.limit === limit, `${label}: limit is ${limit}`, `${json?.limit}`);
  check(r.headers.get("retry-after") === "1", `${label}: Retry-After is 1`, r.headers.get("retry-after"));
  check(/close/i.test(r.headers.get("connection") ?? ""), `${label}: Connection: close`,
    r.headers.get("connection"));
  check(await conn.closed(), `${label}: the server closes the connection after the answer`);
}

async function connectionLimitScenarios() {
  const srv = await startOther("limits",
    ["--max-connections", "3", "--max-connections-per-ip", "2", "--log-level", "debug"]);
  if (!srv) return;
  const conns = [];
  const open = async (from) => {
    const c = await connectRaw(srv.base, from);
    conns.push(c);
    return c;
  };
  try {
    // two from 127.0.0.1: the per-address limit
    for (let i = 1; i <= 2; i++) {
      const r = await (await open("127.0.0.1")).request(GET_HEALTHZ);
      check(r.status === 200, `limits: connection ${i} from 127.0.0.1 is served`, `${r.status}`);
    }
    {
      const c = await open("127.0.0.1");
      const r = await c.request("GET /topics HTTP/1.1\r\nHost: rill\r\n\r\n");
      await checkEarly("TooManyConnectionsPerIp", "limits: GET /topics on a 3rd connection from 127.0.0.1",
        r, c, { expect: 429, code: "too_many_connections_per_ip", limit: 2 });
    }
    // one from 127.0.0.2: the total limit (3), then one from 127.0.0.3
    {
      const r = await (await open("127.0.0.2")).request(GET_HEALTHZ);
      check(r.status === 200, "limits: a connection from 127.0.0.2 is served (its own count)", `${r.status}`);
      const c = await open("127.0.0.3");
      const r3 = await c.request(GET_HEALTHZ);
      await checkEarly("TooManyConnections", "limits: GET /healthz on a 4th connection (from 127.0.0.3)",
        r3, c, { expect: 503, code: "too_many_connections", limit: 3 });
    }
    // closing one frees its slot
    {
      conns[0].close();
      let status = 0;
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (status !== 200 && Date.now() < deadline) {
        const c = await open("127.0.0.3");
        status = (await c.request(GET_HEALTHZ)).status;
        if (status !== 200) await sleep(20);
      }
      check(status === 200, "limits: once a connection closes, a new one is served", `${status}`);
    }
    for (const c of conns) c.close();
    // while the server stops: 503 shutting_down, with Retry-After
    {
      // a connection that is served (the slots free up asynchronously), then a request
      // on it whose body is not all there
      let status = 0;
      const deadline = Date.now() + START_TIMEOUT_MS;
      let inflight;
      while (status !== 200 && Date.now() < deadline) {
        inflight = await open("127.0.0.1");
        status = (await inflight.request(GET_HEALTHZ)).status;
        if (status !== 200) await sleep(20);
      }
      inflight.write("POST /healthz HTTP/1.1\r\nHost: rill\r\nContent-Length: 5\r\n\r\nab");
      check(status === 200 && await logShows(srv.logPath, '"POST /healthz" begins'),
        "limits: a request in flight before the stop");
      srv.child.kill("SIGTERM");
      check(await logShows(srv.logPath, "received SIGTERM"), "limits: the server got SIGTERM");
      inflight.write("c"); // body bytes keep the drain going
      const c = await open("127.0.0.2");
      const r = await c.request(GET_HEALTHZ);
      await checkEarly("TooManyConnections", "limits: GET /healthz while the server stops", r, c,
        { expect: 503, code: "shutting_down" });
      inflight.write("de");
      const last = await inflight.request("");
      check(last.status === 405, "limits: the request in flight still gets its answer", `${last.status}`);
    }
    const timer = sleep(STOP_TIMEOUT_MS).then(() => null);
    const result = await Promise.race([srv.ended, timer]);
    check(result?.code === 0, "limits: the server stops with exit status 0", JSON.stringify(result));
    if (result?.code !== 0) {
      srv.child.kill("SIGKILL");
      console.log(`--- limits server log ---\n${readFileSync(srv.logPath, "utf8").slice(-4000)}`);
    }
  } catch (err) {
    srv.child.kill("SIGKILL");
    throw err;
  } finally {
    for (const c of conns) c.close();
  }
}

// ---- streams: a server with short heartbeats, fast retention, a small stream buffer ----

async function streamServerScenarios() {
  const srv = await startOther("streams",
    ["--heartbeat-ms", "200", "--retention-check-ms", "50", "--stream-buffer-bytes", "65536"]);
  if (!srv) return;
  const saved = { base, TOKEN };
  base = srv.base;
  TOKEN = readFileSync(path.join(tmp, "streams", "admin.token"), "utf8").trim();
  const open = [];
  try {
    // heartbeats: a comment after --heartbeat-ms without bytes sent
    await call("createTopic", "/topics", { json: { name: "hb" }, expect: 201, note: "streams server" });
    {
      const s = await openStream("streamPartition", "/topics/hb/partitions/0/stream", { note: "--heartbeat-ms 200" });
      if (s) {
        open.push(s);
        await checkRetry(s);
        let t0 = Date.now();
        let b = await s.next(3000);
        check(b?.comments?.[0] === "heartbeat" && b.event === undefined && !b.dataLines.length &&
          Date.now() - t0 >= 150,
        "streamPartition: `: heartbeat` after --heartbeat-ms without bytes", `${Date.now() - t0} ms ${JSON.stringify(b)}`);
        await produce("hb", [{ value: 1 }], "between heartbeats");
        const [e] = await readEvents(s, 1, s.label);
        check(e?.json?.offset === 0, "streamPartition: a record between heartbeats", e?.ev.data);
        t0 = Date.now();
        b = await s.next(3000);
        check(b?.comments?.[0] === "heartbeat" && Date.now() - t0 >= 150,
          "streamPartition: the next heartbeat comes --heartbeat-ms after the record", `${Date.now() - t0} ms`);
        s.close();
      }
    }
    {
      const s = await openStream("streamTopic", "/topics/hb/stream", { note: "--heartbeat-ms 200" });
      if (s) {
        open.push(s);
        await checkRetry(s);
        const b = await s.next(3000);
        check(b?.comments?.[0] === "heartbeat", "streamTopic: `: heartbeat` after --heartbeat-ms", JSON.stringify(b));
        s.close();
      }
    }

    await groupStreamScenarios(srv.logPath);

    // a resume id older than the log start: event: gap first
    await call("createTopic", "/topics", { json: { name: "gone", config: {
      "segment.bytes": 1024, "retention.ms": 1, "flush.policy": "interval" } }, expect: 201, note: "retention 1 ms" });
    for (let i = 0; i < 6; i++) await produce("gone", [{ value: "x".repeat(400) }], `record ${i}, 2 a segment`);
    let earliest = 0;
    {
      const deadline = Date.now() + START_TIMEOUT_MS;
      while (earliest === 0 && Date.now() < deadline) {
        await sleep(50);
        earliest = (await call("getOffsets", "/topics/gone/partitions/0/offsets", { expect: 200, note: "retention" })).json?.earliest ?? 0;
      }
      check(earliest > 0, "retention removed the oldest records (for a gap)", `earliest ${earliest}`);
    }
    {
      const s = await openStream("streamPartition", "/topics/gone/partitions/0/stream", {
        headers: { "last-event-id": "0" }, note: "resume below the log start" });
      if (s) {
        open.push(s);
        const evs = await readEvents(s, 2, s.label);
        const gap = evs[0]?.json;
        check(evs[0]?.ev.event === "gap" && gap?.partition === 0 && gap?.from === 0 && gap?.to >= earliest &&
          evs[0]?.ev.id === String(gap?.to),
        "streamPartition: event: gap {partition, from, to} first, id = to", `${evs[0]?.ev.id} ${evs[0]?.ev.data}`);
        check(evs[1]?.ev.event === "record" && evs[1]?.json?.offset === gap?.to,
          "streamPartition: after the gap, the records from the log start", evs[1]?.ev.data?.slice(0, 80));
        s.close();
      }
    }
    {
      const s = await openStream("streamTopic", "/topics/gone/stream?last_event_id=0:1", { note: "resume below the log start" });
      if (s) {
        open.push(s);
        const [e] = await readEvents(s, 1, s.label);
        check(e?.ev.event === "gap" && e?.json?.from === 1 && e?.ev.id === `0:${e?.json?.to}`,
          "streamTopic: event: gap first, its id the vector after it", `${e?.ev.id} ${e?.ev.data}`);
        s.close();
      }
    }
    {
      // a group's committed offset below the log start: its stream begins with a gap
      await call("commitGroupOffsets", "/groups/behind/offsets", { json: { offsets: [
        { topic: "gone", partition: 0, offset: 0 }] }, expect: 200, note: "below the log start" });
      const s = await openStream("streamPartition", "/topics/gone/partitions/0/stream?group=behind",
        { note: "the group's offset is below the log start" });
      if (s) {
        open.push(s);
        const [e] = await readEvents(s, 1, s.label);
        check(e?.ev.event === "gap" && e?.json?.from === 0 && e?.json?.to >= earliest,
          "streamPartition ?group: a group's offset below the log start begins with event: gap",
          `${e?.ev.id} ${e?.ev.data}`);
        s.close();
      }
    }
    {
      const { json } = await streamError("streamPartition", "/topics/gone/partitions/0/stream?offset=0", {
        expect: 416, code: "offset_out_of_range", note: "offset below the log start" });
      check(json?.earliest > 0, "streamPartition 416: an offset below the log start (no gap)", JSON.stringify(json));
    }

    // a stream more than --stream-buffer-bytes behind the newest record is ended; it
    // resumes with Last-Event-ID, nothing lost
    await call("createTopic", "/topics", { json: { name: "firehose", config: { "flush.policy": "interval" } },
      expect: 201, note: "for a slow client" });
    {
      const s = await openStream("streamPartition", "/topics/firehose/partitions/0/stream", { note: "a client that does not read" });
      if (s) {
        open.push(s);
        const value = "x".repeat(1000);
        const MB = 12; // more than the socket buffers between us hold
        for (let i = 0; i < MB; i++)
          await call("produceRecords", "/topics/firehose/messages", {
            json: { records: Array.from({ length: 1000 }, () => ({ value })) }, expect: 200, note: `MB ${i + 1} of ${MB}` });
        let lastId;
        let count = 0;
        let last;
        for (;;) {
          last = await s.next(5000);
          if (!last || last.end || last.error) break;
          if (last.event === "record") {
            lastId = last.id;
            count++;
          }
        }
        check(last?.end === true && count < MB * 1000,
          "streamPartition: a stream that falls more than --stream-buffer-bytes behind is ended",
          `${count} of ${MB * 1000} records, then ${JSON.stringify(last)}`);
        check(await logShows(srv.logPath, "fell more than 65536 bytes behind"),
          "streamPartition: the server logs why it ended the stream");
        const again = await openStream("streamPartition", "/topics/firehose/partitions/0/stream", {
          headers: { "last-event-id": lastId ?? "0" }, note: "resume after the cut" });
        if (again) {
          open.push(again);
          const [e] = await readEvents(again, 1, again.label);
          check(e?.json?.offset === Number(lastId), "streamPartition: the resume continues right after the last event",
            `last id ${lastId}, then offset ${e?.json?.offset}`);
          again.close();
        }
      }
    }

    // SIGTERM ends every stream cleanly (the chunked body is terminated), exit 0
    {
      const a = await openStream("streamPartition", "/topics/hb/partitions/0/stream", { note: "at SIGTERM" });
      const b = await openStream("streamTopic", "/topics/hb/stream?offset=earliest", { note: "at SIGTERM" });
      if (a && b) {
        open.push(a, b);
        await checkRetry(a);
        await checkRetry(b);
        srv.child.kill("SIGTERM");
        for (const s of [a, b]) {
          let last;
          do last = await s.next(STOP_TIMEOUT_MS); while (last && !last.end && !last.error);
          check(last?.end === true, `${s.label}: SIGTERM ends the stream cleanly`, JSON.stringify(last));
        }
      }
    }
  } catch (err) {
    srv.child.kill("SIGKILL");
    throw err;
  } finally {
    for (const s of open) s.close();
    base = saved.base;
    TOKEN = saved.TOKEN;
  }
  const timer = sleep(STOP_TIMEOUT_MS).then(() => null);
  srv.child.kill("SIGTERM");
  const result = await Promise.race([srv.ended, timer]);
  check(result?.code === 0, "streams: the server stops with exit status 0", JSON.stringify(result));
  if (result?.code !== 0) {
    srv.child.kill("SIGKILL");
    console.log(`--- streams server log ---\n${readFileSync(srv.logPath, "utf8").slice(-4000)}`);
  }
}

// ---- CORS: servers with --cors-origin ----

const EXPOSE = "Location, Retry-After, WWW-Authenticate, Allow, Idempotent-Replayed";
const ALLOW_HEADERS = "Authorization, Content-Type, Idempotency-Key, If-Match, Last-Event-ID, " +
  "X-Hub-Signature-256, X-GitHub-Event, X-GitHub-Delivery";

// Stops a server started with startOther() (SIGTERM, exit status 0).
async function stopOther(srv, note) {
  return srv.stop(note);
}

// The CORS headers of an answer, for one check message.
const corsOf = (res) => ["access-control-allow-origin", "access-control-expose-headers", "vary",
  "access-control-allow-methods", "access-control-allow-headers", "access-control-max-age"]
  .map((h) => `${h}: ${res?.headers.get(h)}`).join("; ");

// OPTIONS on the main server, started without --cors-origin: Allow, no CORS header.
async function optionsWithoutCors() {
  const O = { origin: "https://ops.example.com", "access-control-request-method": "POST" };
  {
    const { res } = await callRoute("Preflight", "OPTIONS", "/topics", { headers: O, expect: 204 });
    check(res.headers.get("allow") === "GET, HEAD, POST, OPTIONS" && !res.headers.has("access-control-allow-origin") &&
      !res.headers.has("access-control-allow-methods") && !res.headers.has("vary"),
    "OPTIONS /topics without --cors-origin: 204, Allow: GET, HEAD, POST, OPTIONS, no CORS header", corsOf(res));
  }
  {
    const { res } = await callRoute("Preflight", "OPTIONS", "/topics/orders/partitions/0", { expect: 204 });
    check(res.headers.get("allow") === "GET, HEAD, OPTIONS", "OPTIONS on a fetch path: Allow: GET, HEAD, OPTIONS",
      res.headers.get("allow"));
  }
  {
    const { res } = await callRoute("Preflight", "OPTIONS", "/tokens/0000000000000000", { expect: 204 });
    check(res.headers.get("allow") === "GET, HEAD, DELETE, OPTIONS", "OPTIONS /tokens/{token}: Allow: GET, HEAD, DELETE, OPTIONS",
      res.headers.get("allow"));
  }
  await callRoute("NotFound", "OPTIONS", "/nope", { expect: 404 });
  {
    const { res } = await call("listTopics", "/topics", { headers: { origin: "https://ops.example.com" }, expect: 200,
      note: "an Origin, no --cors-origin" });
    check(res && !res.headers.has("access-control-allow-origin") && !res.headers.has("vary"),
      "listTopics without --cors-origin: no CORS header, no Vary", corsOf(res));
  }
}

async function corsScenarios() {
  const ORIGIN = "https://ops.example.com";
  await onOtherServers(async (start) => {
    let srv = await start("cors", ["--cors-origin", `${ORIGIN}, http://LOCALHOST:5173`]);
    if (!srv) return;
    const allowed = (res, origin, label) =>
      check(res?.headers.get("access-control-allow-origin") === origin &&
        res?.headers.get("access-control-expose-headers") === EXPOSE && res?.headers.get("vary") === "Origin",
      `${label}: Access-Control-Allow-Origin: ${origin}, Access-Control-Expose-Headers, Vary: Origin`, corsOf(res));
    {
      const { res } = await call("createTopic", "/topics", { json: { name: "c" }, headers: { origin: ORIGIN },
        expect: 201, note: "an allowed Origin" });
      allowed(res, ORIGIN, "createTopic with an allowed Origin");
    }
    {
      const { res } = await call("listTopics", "/topics", { headers: { origin: "http://localhost:5173" }, expect: 200,
        note: "an allowed Origin, another case" });
      allowed(res, "http://localhost:5173", "listTopics with an Origin listed in another case");
    }
    {
      const { res } = await call("listTopics", "/topics", { token: null, headers: { origin: ORIGIN }, expect: 401,
        code: "unauthorized", note: "an allowed Origin" });
      allowed(res, ORIGIN, "listTopics 401 with an allowed Origin");
    }
    for (const [origin, note] of [["https://evil.example", "an Origin not listed"], [undefined, "no Origin"],
      [`${ORIGIN}.evil.example`, "a listed origin's prefix"]]) {
      const { res } = await call("listTopics", "/topics", { headers: origin ? { origin } : {}, expect: 200, note });
      check(res && !res.headers.has("access-control-allow-origin") && !res.headers.has("access-control-expose-headers") &&
        res.headers.get("vary") === "Origin", `listTopics [${note}]: no Access-Control-*, Vary: Origin`, corsOf(res));
    }
    {
      const s = await openStream("streamTopic", "/topics/c/stream", { headers: { origin: ORIGIN }, note: "an allowed Origin" });
      if (s) {
        allowed(s.res, ORIGIN, "streamTopic with an allowed Origin");
        s.close();
      }
    }
    // preflights
    {
      const { res } = await callRoute("Preflight", "OPTIONS", "/topics/c/messages", { expect: 204,
        headers: { origin: ORIGIN, "access-control-request-method": "POST",
          "access-control-request-headers": "authorization, content-type, idempotency-key" } });
      check(res.headers.get("allow") === "POST, OPTIONS" && res.headers.get("access-control-allow-methods") === "POST, OPTIONS" &&
        res.headers.get("access-control-allow-headers") === ALLOW_HEADERS &&
        res.headers.get("access-control-max-age") === "600",
      "OPTIONS (preflight) from an allowed Origin: Allow-Methods, Allow-Headers, Max-Age 600", corsOf(res));
      allowed(res, ORIGIN, "OPTIONS (preflight) from an allowed Origin");
    }
    {
      const { res } = await callRoute("Preflight", "OPTIONS", "/tokens", { expect: 204, headers: { origin: ORIGIN } });
      check(res.headers.get("allow") === "POST, GET, HEAD, OPTIONS" && !res.headers.has("access-control-allow-methods") &&
        res.headers.get("access-control-allow-origin") === ORIGIN,
      "OPTIONS without Access-Control-Request-Method: Allow, no Allow-Methods", corsOf(res));
    }
    {
      const { res } = await callRoute("Preflight", "OPTIONS", "/topics", { expect: 204,
        headers: { origin: "https://evil.example", "access-control-request-method": "DELETE" } });
      check(res.headers.get("allow") === "GET, HEAD, POST, OPTIONS" && !res.headers.has("access-control-allow-origin") &&
        !res.headers.has("access-control-allow-methods") && res.headers.get("vary") === "Origin",
      "OPTIONS (preflight) from an Origin not listed: Allow only", corsOf(res));
    }
    {
      const { res } = await callRoute("NotFound", "OPTIONS", "/nope", { expect: 404, headers: { origin: ORIGIN } });
      allowed(res, ORIGIN, "OPTIONS on a path without routes (404)");
    }
    {
      // an answer given before any operation: Access-Control-Allow-Origin alone
      const r = await rawRequest(`POST /topics HTTP/1.1\r\nHost: rill\r\nOrigin: ${ORIGIN}\r\n` +
        "Content-Type: application/json\r\nContent-Length: 100000000\r\nConnection: close\r\n\r\n");
      check(r.status === 413 && r.headers.get("access-control-allow-origin") === ORIGIN &&
        !r.headers.has("access-control-expose-headers"),
      "413 before any operation, with an allowed Origin: Access-Control-Allow-Origin alone", `${r.status} ${corsOf(r)}`);
    }
    await call("deleteTopic", "/topics/c", { expect: 204, note: "cors done" });
    await stopOther(srv, "cors");
    srv = await start("cors-any", ["--cors-origin", "*"]);
    if (!srv) return;
    {
      const { res } = await call("listTopics", "/topics", { headers: { origin: "https://any.example" }, expect: 200,
        note: "--cors-origin *" });
      check(res?.headers.get("access-control-allow-origin") === "*" &&
        res?.headers.get("access-control-expose-headers") === EXPOSE && !res?.headers.has("vary"),
      "listTopics with --cors-origin *: Access-Control-Allow-Origin: *, no Vary", corsOf(res));
    }
    {
      const { res } = await call("listTopics", "/topics", { expect: 200, note: "--cors-origin *, no Origin" });
      check(res && !res.headers.has("access-control-allow-origin") && !res.headers.has("vary"),
        "listTopics with --cors-origin * and no Origin: no CORS header", corsOf(res));
    }
    {
      const { res } = await callRoute("Preflight", "OPTIONS", "/groups/g/offsets", { expect: 204,
        headers: { origin: "https://any.example", "access-control-request-method": "POST" } });
      check(res.headers.get("access-control-allow-origin") === "*" &&
        res.headers.get("access-control-allow-methods") === "POST, GET, HEAD, OPTIONS",
      "OPTIONS (preflight) with --cors-origin *", corsOf(res));
    }
    await stopOther(srv, "cors-any");
  });
}

// ---- tokens survive a restart: a server of its own, started twice ----
async function tokenRestartScenarios() {
  await onOtherServers(async (start) => {
    let srv = await start("tokens");
    if (!srv) return;
    const admin = srv.token;
    const mk = async (name, note) => (await call("createToken", "/tokens", { json: { name,
      scopes: [{ topics: "kept*", actions: ["consume"] }], rate_limit: { requests_per_s: 100 } }, expect: 201, note })).json ?? {};
    const kept = await mk("kept", "before a restart");
    const gone = await mk("gone", "before a restart");
    await call("deleteToken", `/tokens/${gone.id}`, { expect: 204, note: "before a restart" });
    await stopOther(srv, "tokens, first run");
    srv = await start("tokens");
    if (!srv) return;
    check(srv.token === admin, "tokens: a restart keeps the admin token");
    await call("listTopics", "/topics", { token: kept.token, expect: 200, note: "a token made before a restart" });
    await call("getTopic", "/topics/other", { token: kept.token, expect: 403, code: "forbidden",
      note: "its scopes kept over a restart" });
    await call("listTopics", "/topics", { token: gone.token, expect: 401, code: "token_revoked",
      note: "revoked before a restart" });
    const { json } = await call("getToken", `/tokens/${kept.id}`, { expect: 200, note: "after a restart" });
    const { token: _secret, ...shown } = kept;
    check(sameJson(json, shown), "tokens: a token is the same after a restart", JSON.stringify(json));
    await stopOther(srv, "tokens, second run");
  });
}

// ---- run ----

try {
  if (await startServer()) {
    await operationsScenarios();
    for (const id of operations.keys())
      check(exercised.has(id), `operation ${id} was exercised`,
        "no request of this test called it");
    console.log(`     statuses seen: ${[...exercised].map(([id, s]) => `${id} ${[...s].sort().join("/")}`).join(", ")}`);
    await connectionLimitScenarios();
    await streamServerScenarios();
    await groupRestartScenarios();
    await tokenRestartScenarios();
    await corsScenarios();
  }
} catch (err) {
  check(false, "the contract test ran to the end", err.stack);
} finally {
  await stopServer();
}
finish(tmp, logPath);
