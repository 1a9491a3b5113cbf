// Tiny assertion helper shared by the JS suites: counts checks, prints
// "N passed, M failed" and sets the exit code.
export function makeChecker(name) {
  let passed = 0;
  let failed = 0;
  return {
    ok(cond, what) {
      if (cond) {
        passed++;
        console.log(`ok   ${name}: ${what}`);
      } else {
        failed++;
        console.log(`FAIL ${name}: ${what}`);
      }
    },
    fail(what, err) {
      failed++;
      console.log(`FAIL ${name}: ${what}: ${err?.stack ?? err}`);
    },
    finish() {
      console.log(`${name}: ${passed} passed, ${failed} failed`);
      process.exitCode = failed === 0 && passed > 0 ? 0 : 1;
    },
  };
}

// A raw JSON-RPC call (to see codes and data exactly as the node sends them).
export async function rpc(url, method, params) {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ jsonrpc: '2.0', id: 1, method, params }),
  });
  return res.json();
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
