// The house test format for the Node test programs (the playground's and the
// JavaScript client's): a PASS/FAIL line per check, then "N passed, N failed".
let passed = 0, failed = 0;

export async function check(name, fn) {
  try {
    await fn();
    passed++;
    console.log(`PASS ${name}`);
  } catch (e) {
    fail(name, e);
  }
}

export function fail(name, e) {
  failed++;
  console.log(`FAIL ${name}\n  ${String(e && e.stack ? e.stack : e).split('\n').join('\n  ')}`);
}

export function assert(cond, msg) { if (!cond) throw new Error(msg); }

// Prints the count line and exits nonzero when a check failed.
export function finish() {
  console.log(`${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}
