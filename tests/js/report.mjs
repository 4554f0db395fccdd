// report.mjs: how the Node.js test scripts (tests/contract, tests/browser) report: one
// line per check ("ok   what" or "FAIL what: why"), then "N passed, N failed"; the
// process exits 1 on any failure. No npm packages here, so any of them can import it.
let passed = 0;
let failed = 0;

export function check(ok, what, why = "") {
  if (ok) {
    passed++;
    console.log(`ok   ${what}`);
  } else {
    failed++;
    console.log(`FAIL ${what}${why ? `: ${why}` : ""}`);
  }
  return ok;
}

// How many checks failed so far.
export const failures = () => failed;

// Prints the summary and exits: 0 when every check passed, else 1.
export function exitWithSummary() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
