// lint.mjs: openapi.yaml is a valid OpenAPI 3.1 document and describes exactly the
// routes of api/router.c: every {"METHOD", "/path/{}", api_handler, FLAGS} row of
// routes[] is an operation of openapi.yaml with that method, and every operation is a
// row. Also: operationId is the handler's name without "api_" in lowerCamelCase,
// ROUTE_PUBLIC rows (and only they) have `security: []`, and every {param} of a path
// is declared as a path parameter, every schema compiles as strict JSON Schema 2020-12,
// and every 4xx/5xx response is application/problem+json.
//
// Usage: node lint.mjs   (from tests/contract; paths are relative to this file)
// Prints one line per check and "N passed, N failed" last; exits 1 on any failure.
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import SwaggerParser from "@apidevtools/swagger-parser";
import { makeAjv } from "./schema.mjs";
import { check, exitWithSummary } from "../js/report.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const specPath = path.join(root, "openapi.yaml");
const routerPath = path.join(root, "api/router.c");
const METHODS = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];


// api_list_topics -> listTopics
function operationIdOf(handler) {
  return handler
    .replace(/^api_/, "")
    .replace(/_([a-z0-9])/g, (_, c) => c.toUpperCase());
}

// The rows of routes[] in router.c.
function parseRoutes(source) {
  const table = source.match(/routes\s*\[\s*\]\s*=\s*\{([\s\S]*?)\n\};/);
  if (!table) return null;
  const body = table[1].replace(/\/\*[\s\S]*?\*\//g, "").replace(/\/\/.*$/gm, "");
  const row = /\{\s*"([A-Z]+)"\s*,\s*"([^"]*)"\s*,\s*(\w+)\s*,\s*([^}]*?)\s*\}/g;
  const routes = [];
  for (let m; (m = row.exec(body)); ) {
    routes.push({
      method: m[1].toLowerCase(),
      pattern: m[2],
      handler: m[3],
      public: /\bROUTE_PUBLIC\b/.test(m[4]),
    });
  }
  return routes;
}

// "/topics/{topic}/partitions/{partition}" -> "/topics/{}/partitions/{}"
const patternOf = (p) => p.replace(/\{[^}/]+\}/g, "{}");

async function main() {
  // 1. The document is valid OpenAPI (schema and semantic checks).
  let api;
  try {
    api = await SwaggerParser.validate(specPath);
    check(true, `openapi.yaml is valid OpenAPI ${api.openapi}`);
  } catch (err) {
    check(false, "openapi.yaml is valid OpenAPI", err.message);
    return;
  }
  check(/^3\.1\./.test(api.openapi), "openapi.yaml is OpenAPI 3.1", api.openapi);
  // validate() dereferences; parse() keeps the $refs, for the security checks.
  const raw = await SwaggerParser.parse(specPath);

  // 2. The route table.
  const routes = parseRoutes(readFileSync(routerPath, "utf8"));
  if (!check(routes && routes.length > 0, "api/router.c has a routes[] table", "not found"))
    return;
  console.log(`     ${routes.length} routes in api/router.c`);

  const ops = new Map(); // "get {}/x" -> {path, method, op}
  for (const [p, item] of Object.entries(api.paths ?? {})) {
    for (const m of METHODS) {
      if (item[m]) ops.set(`${m} ${patternOf(p)}`, { path: p, method: m, op: item[m], item });
    }
  }

  const seen = new Set();
  for (const r of routes) {
    const key = `${r.method} ${r.pattern}`;
    const label = `${r.method.toUpperCase()} ${r.pattern} (${r.handler})`;
    const found = ops.get(key);
    seen.add(key);
    if (!check(!!found, `${label} is in openapi.yaml`, "no such operation")) continue;
    const want = operationIdOf(r.handler);
    check(found.op.operationId === want, `${label} has operationId ${want}`,
      `it is ${found.op.operationId}`);
    const rawOp = raw.paths[found.path][found.method];
    const isPublic = Array.isArray(rawOp.security) && rawOp.security.length === 0;
    check(isPublic === r.public,
      `${label} is ${r.public ? "public (security: [])" : "authenticated"}`,
      r.public ? "it has security" : "it has security: []");
    // path parameters: every {name} declared (at path or operation level)
    const names = [...found.path.matchAll(/\{([^}/]+)\}/g)].map((m) => m[1]);
    const params = [...(found.item.parameters ?? []), ...(found.op.parameters ?? [])]
      .filter((p) => p.in === "path")
      .map((p) => p.name);
    check(names.every((n) => params.includes(n)) && params.every((n) => names.includes(n)),
      `${label} declares its path parameters {${names.join("}, {")}}`,
      `declared: ${params.join(", ") || "none"}`);
  }
  for (const [key, o] of ops) {
    check(seen.has(key), `${o.method.toUpperCase()} ${o.path} (${o.op.operationId}) is in api/router.c`,
      "openapi.yaml has an operation the server does not route");
  }

  // 3. operationIds are unique.
  const ids = [...ops.values()].map((o) => o.op.operationId);
  check(new Set(ids).size === ids.length, "operationIds are unique");

  // 4. Every schema compiles as strict JSON Schema 2020-12 (no unknown keywords or
  // formats, no bad regexes), as contract.mjs will use it.
  const ajv = makeAjv();
  for (const [name, schema] of Object.entries(api.components?.schemas ?? {})) {
    try {
      ajv.compile(schema);
      check(true, `schema ${name} compiles (JSON Schema 2020-12, strict)`);
    } catch (err) {
      check(false, `schema ${name} compiles (JSON Schema 2020-12, strict)`, err.message);
    }
  }

  // 5. Every error response is application/problem+json with a Problem-based schema.
  for (const o of ops.values()) {
    for (const [status, resp] of Object.entries(o.op.responses ?? {})) {
      if (!/^[45]/.test(status)) continue;
      const types = Object.keys(resp.content ?? {});
      check(types.length === 1 && types[0] === "application/problem+json",
        `${o.op.operationId} ${status} is application/problem+json`, types.join(", "));
    }
  }
}

try {
  await main();
} catch (err) {
  check(false, "lint ran", err.stack);
}
exitWithSummary();
