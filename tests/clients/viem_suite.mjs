// viem 2 against kalgo --dev.
// Usage: node viem_suite.mjs <url> <artifact.json> <privateKey> <byzantium|latest>
import fs from 'node:fs';
import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  http,
} from 'viem';
import { privateKeyToAccount } from 'viem/accounts';
import { makeChecker } from './check.mjs';

const [url, artifactPath, key, fork] = process.argv.slice(2);
const t = makeChecker(`viem/${fork}`);
const { abi, bytecode } = JSON.parse(fs.readFileSync(artifactPath, 'utf8'));

function revertOf(e) {
  if (!(e instanceof BaseError)) return undefined;
  return e.walk((err) => err instanceof ContractFunctionRevertedError);
}

async function main() {
  const chain = defineChain({
    id: 1337,
    name: 'kalgo dev',
    nativeCurrency: { name: 'Ether', symbol: 'ETH', decimals: 18 },
    rpcUrls: { default: { http: [url] } },
  });
  const account = privateKeyToAccount(key);
  const pub = createPublicClient({ chain, transport: http(url), pollingInterval: 200 });
  const wallet = createWalletClient({ account, chain, transport: http(url) });
  t.ok((await pub.getChainId()) === 1337, 'chain id');
  const head = await pub.getBlock();
  t.ok((head.baseFeePerGas !== null && head.baseFeePerGas !== undefined) === (fork !== 'byzantium'), `baseFeePerGas ${head.baseFeePerGas}`);

  const hash = await wallet.deployContract({ abi, bytecode });
  const deployRc = await pub.waitForTransactionReceipt({ hash, pollingInterval: 200 });
  const address = deployRc.contractAddress;
  t.ok(deployRc.status === 'success' && address, `deployed at ${address}`);
  t.ok(deployRc.type === (fork === 'byzantium' ? 'legacy' : 'eip1559'), `deploy type ${deployRc.type}`);

  const gas = await pub.estimateContractGas({ address, abi, functionName: 'set', args: [7n], account });
  t.ok(gas > 21000n && gas < 100000n, `estimateContractGas ${gas}`);
  const h = await wallet.writeContract({ address, abi, functionName: 'set', args: [7n] });
  const rc = await pub.waitForTransactionReceipt({ hash: h, pollingInterval: 200 });
  t.ok(rc.status === 'success', `set(7) in block ${rc.blockNumber}`);
  t.ok((await pub.readContract({ address, abi, functionName: 'value' })) === 7n, 'readContract reads 7');
  const events = await pub.getContractEvents({ address, abi, eventName: 'Set', fromBlock: rc.blockNumber, toBlock: rc.blockNumber });
  t.ok(events.length === 1 && events[0].args.value === 7n, 'getContractEvents finds Set');
  const logs = await pub.getLogs({ address, fromBlock: deployRc.blockNumber });
  t.ok(logs.length === 1 && logs[0].transactionHash === h, 'getLogs from the deploy block');

  const filter = await pub.createContractEventFilter({ address, abi, eventName: 'Set' });
  const h2 = await wallet.writeContract({ address, abi, functionName: 'set', args: [8n] });
  await pub.waitForTransactionReceipt({ hash: h2, pollingInterval: 200 });
  const changes = await pub.getFilterChanges({ filter });
  t.ok(changes.length === 1 && changes[0].args.value === 8n, 'contract event filter');
  t.ok(await pub.uninstallFilter({ filter }), 'uninstallFilter');

  const receipts = await pub.request({ method: 'eth_getBlockReceipts', params: [`0x${rc.blockNumber.toString(16)}`] });
  t.ok(Array.isArray(receipts) && receipts.some((r) => r.transactionHash === h), 'eth_getBlockReceipts');

  try {
    await pub.simulateContract({ address, abi, functionName: 'set', args: [13n], account });
    t.ok(false, 'set(13) should revert');
  } catch (e) {
    const r = revertOf(e);
    t.ok(r && r.reason === 'unlucky', `revert reason ${r?.reason}`);
  }
  try {
    await pub.simulateContract({ address, abi, functionName: 'set', args: [2000n], account });
    t.ok(false, 'set(2000) should revert');
  } catch (e) {
    const r = revertOf(e);
    t.ok(r && r.data?.errorName === 'TooBig' && r.data.args[0] === 2000n, `custom error ${r?.data?.errorName}`);
  }
  const balance = await pub.getBalance({ address: account.address });
  t.ok(balance > 0n, 'getBalance');
  const count = await pub.getTransactionCount({ address: account.address, blockTag: 'pending' });
  t.ok(count === 3, `pending nonce ${count}`);
}

main().catch((e) => t.fail('unexpected error', e)).finally(() => t.finish());
