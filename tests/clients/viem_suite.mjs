// viem 2 against kalgo --dev.
// Usage: node viem_suite.mjs <url> <artifact.json> <privateKey> <byzantium|latest>
import fs from 'node:fs';
import {
  BaseError,
  ContractFunctionRevertedError,
  createPublicClient,
  createWalletClient,
  defineChain,
  encodeFunctionData,
  http,
  parseTransaction,
} from 'viem';
import { generatePrivateKey, privateKeyToAccount } from 'viem/accounts';
import { makeChecker, rpc } from './check.mjs';

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

  if (fork !== 'byzantium') {
    // EIP-2930: a value transfer carrying an access list is estimated at its
    // intrinsic gas (21000 + 2400 per address + 1900 per key).
    const fresh = privateKeyToAccount(generatePrivateKey()).address;
    const transfer2930 = (storageKeys) => ({ account, to: fresh, value: 7n, accessList: [{ address: fresh, storageKeys }] });
    const listed = await pub.estimateGas(transfer2930([]));
    const keyed = await pub.estimateGas(transfer2930([`0x${'00'.repeat(32)}`]));
    t.ok(listed === 23400n && keyed === 25300n, `access-list transfer estimates ${listed}, ${keyed}`);

    // EIP-7702: a fresh account delegates to Store (this wallet sends and pays),
    // and the same transaction calls set(21) through it.
    const authority = privateKeyToAccount(generatePrivateKey());
    const authorization = await authority.signAuthorization({ address, chainId: 1337, nonce: 0 });
    const h7702 = await wallet.writeContract({ address: authority.address, abi, functionName: 'set', args: [21n], authorizationList: [authorization] });
    const rc7702 = await pub.waitForTransactionReceipt({ hash: h7702, pollingInterval: 200 });
    t.ok(rc7702.status === 'success' && rc7702.type === 'eip7702', `set-code transaction mined (type ${rc7702.type})`);
    const code = await pub.getCode({ address: authority.address });
    t.ok(code === `0xef0100${address.slice(2).toLowerCase()}`, `the authority holds the delegation designator (${code})`);
    t.ok((await pub.readContract({ address: authority.address, abi, functionName: 'value' })) === 21n, 'a call through the delegated account runs Store on its storage');
    t.ok((await pub.readContract({ address, abi, functionName: 'value' })) === 8n, "Store's own storage is untouched");
    const shown = await pub.getTransaction({ hash: h7702 });
    t.ok(shown.type === 'eip7702' && shown.authorizationList?.length === 1 && shown.authorizationList[0].address.toLowerCase() === address.toLowerCase(), 'getTransaction shows the authorizationList');

    // Blob transactions: refused for what they are.
    const blob = await account.signTransaction({
      type: 'eip4844', chainId: 1337, to: fresh, value: 0n, gas: 21000n,
      nonce: await pub.getTransactionCount({ address: account.address, blockTag: 'pending' }),
      maxFeePerGas: 10_000_000_000n, maxPriorityFeePerGas: 1n, maxFeePerBlobGas: 1n,
      blobVersionedHashes: [`0x01${'00'.repeat(31)}`],
    });
    t.ok(parseTransaction(blob).type === 'eip4844', 'viem signs a type-3 transaction');
    const refused = await rpc(url, 'eth_sendRawTransaction', [blob]);
    t.ok(refused.error?.code === -32000 && refused.error.message === 'blob transactions are not supported on this chain', `blob transaction refused: ${refused.error?.message}`);
  }
}

main().catch((e) => t.fail('unexpected error', e)).finally(() => t.finish());
