// rill_server.mjs: the real server as a child process, for the Node.js test scripts.
//
//   const srv = new RillServer(bin, dataDir, logPath);
//   await srv.start(await freePort(), ["--cors-origin", "..."], "first start");
//   fetch(srv.base + "/healthz", { headers: { authorization: `Bearer ${srv.token}` } });
//   await srv.stop("end");      // SIGTERM; checks the exit status is 0
//
// start() runs `BIN serve --listen 127.0.0.1:PORT --data DIR ...args` (stdout and
// stderr appended to logPath), waits for DIR/rill.addr and reads DIR/admin.token; a
// restart on the same port and dir is another start(). Every step is one check().
import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { check, exitWithSummary, failures, sleep } from "./report.mjs";

const START_TIMEOUT_MS = 20000;
const STOP_TIMEOUT_MS = 20000;

// A port free now on 127.0.0.1 (the server takes it a moment later).
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export class RillServer {
  constructor(bin, data, logPath) {
    this.bin = bin;
    this.data = data;
    this.logPath = logPath;
    this.child = null;
    this.exited = null; // {code, signal} once the current server ended
    this.base = null; // "http://127.0.0.1:PORT"
    this.token = null; // the admin token
  }

  async start(port, args, label) {
    if (!check(existsSync(this.bin), `server binary ${this.bin} exists`,
      "build it: make build/san/rill"))
      return false;
    this.exited = null;
    const log = openSync(this.logPath, "a");
    const child = spawn(this.bin,
      ["serve", "--listen", `127.0.0.1:${port}`, "--data", this.data, ...args],
      { stdio: ["ignore", log, log] });
    closeSync(log);
    this.child = child;
    child.ended = new Promise((resolve) => {
      child.on("exit", (code, signal) => resolve((this.exited = { code, signal })));
      child.on("error", (err) => resolve((this.exited = { code: null, signal: null, error: err })));
    });
    const addrFile = path.join(this.data, "rill.addr");
    const deadline = Date.now() + START_TIMEOUT_MS;
    while (!existsSync(addrFile) && !this.exited && Date.now() < deadline) await sleep(20);
    if (!check(existsSync(addrFile), `${label}: server started on ${port ? `127.0.0.1:${port}` : "a free port"}`,
      this.exited ? `the server exited ${JSON.stringify(this.exited)}`
        : `not within ${START_TIMEOUT_MS} ms`))
      return false;
    const addr = readFileSync(addrFile, "utf8").trim();
    if (port) /* 0: the server picks one */
      check(addr === `127.0.0.1:${port}`, `${label}: rill.addr is 127.0.0.1:${port}`, addr);
    this.base = `http://${addr}`;
    this.token = readFileSync(path.join(this.data, "admin.token"), "utf8").trim();
    return true;
  }

  async stop(label) {
    const child = this.child;
    if (!child || this.exited) return true;
    child.kill("SIGTERM");
    const timer = sleep(STOP_TIMEOUT_MS).then(() => null);
    const result = await Promise.race([child.ended, timer]);
    if (!result) {
      child.kill("SIGKILL");
      await child.ended;
      return check(false, `${label}: SIGTERM stops the server`,
        `still running after ${STOP_TIMEOUT_MS} ms`);
    }
    return check(result.code === 0, `${label}: SIGTERM stops the server with exit status 0`,
      JSON.stringify(result));
  }

  // The current server's end: {code, signal}, once it exited.
  get ended() {
    return this.child.ended;
  }

  // Kills the server if it still runs (after a failure), without checks.
  kill() {
    if (this.child && !this.exited) this.child.kill("SIGKILL");
  }
}

// The end of a test script: after a failure, the server log's tail (and 'extra' lines,
// e.g. the browser console); the temp dir removed (kept with RILL_TEST_KEEP=1); then
// the summary and the exit status.
export function finish(tmp, logPath, extra = []) {
  if (failures()) {
    if (extra.length) console.log(extra.join("\n"));
    try {
      console.log(`--- server log (${logPath}) ---\n${readFileSync(logPath, "utf8").slice(-4000)}`);
    } catch { /* no log */ }
  }
  if (process.env.RILL_TEST_KEEP) console.log(`kept ${tmp}`);
  else rmSync(tmp, { recursive: true, force: true });
  exitWithSummary();
}
