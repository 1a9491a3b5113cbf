// Compiles Store.sol with solc-js for an EVM version; writes {abi, bytecode}.
// Usage: node compile.mjs <evmVersion> <out.json>
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import solc from 'solc';

const [evmVersion, out] = process.argv.slice(2);
if (!evmVersion || !out) {
  console.error('usage: node compile.mjs <evmVersion> <out.json>');
  process.exit(2);
}
const here = path.dirname(fileURLToPath(import.meta.url));
const input = {
  language: 'Solidity',
  sources: { 'Store.sol': { content: fs.readFileSync(path.join(here, 'Store.sol'), 'utf8') } },
  settings: {
    evmVersion,
    optimizer: { enabled: true, runs: 200 },
    outputSelection: { '*': { '*': ['abi', 'evm.bytecode.object'] } },
  },
};
const result = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (result.errors || []).filter((e) => e.severity === 'error');
if (errors.length) {
  console.error(errors.map((e) => e.formattedMessage).join('\n'));
  process.exit(1);
}
const c = result.contracts['Store.sol'].Store;
fs.writeFileSync(out, JSON.stringify({ abi: c.abi, bytecode: '0x' + c.evm.bytecode.object }));
console.log(`compiled Store for ${evmVersion} (${c.evm.bytecode.object.length / 2} bytes)`);
