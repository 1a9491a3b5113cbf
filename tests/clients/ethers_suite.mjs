// ethers v6 against kalgo --dev.
// Usage: node ethers_suite.mjs <url> <artifact.json> <privateKey> <byzantium|latest> [wsUrl]
import fs from 'node:fs';
import { ethers } from 'ethers';
import { makeChecker, rpc, sleep } from './check.mjs';

const [url, artifactPath, key, fork, wsUrl] = process.argv.slice(2);
const t = makeChecker(`ethers/${fork}`);
const { abi, bytecode } = JSON.parse(fs.readFileSync(artifactPath, 'utf8'));

async function main() {
  // cacheTimeout -1: ethers caches identical requests for 250 ms otherwise, and
  // a stale nonce then breaks back-to-back transactions with fast blocks.
  const provider = new ethers.JsonRpcProvider(url, undefined, { cacheTimeout: -1, pollingInterval: 200 });
  const wallet = new ethers.Wallet(key, provider);
  const net = await provider.getNetwork();
  t.ok(net.chainId === 1337n, `chain id ${net.chainId}`);
  const fee = await provider.getFeeData();
  if (fork === 'byzantium') {
    t.ok(fee.maxFeePerGas === null && fee.gasPrice > 0n, 'no EIP-1559 fee data on Byzantium');
  } else {
    t.ok(fee.maxFeePerGas > 0n && fee.maxPriorityFeePerGas > 0n, 'EIP-1559 fee data');
  }

  const factory = new ethers.ContractFactory(abi, bytecode, wallet);
  const contract = await factory.deploy();
  const deployRc = await contract.deploymentTransaction().wait();
  const address = await contract.getAddress();
  t.ok(deployRc.status === 1 && deployRc.contractAddress === address, `deployed at ${address} (receipt: status ${deployRc.status}, contractAddress ${deployRc.contractAddress})`);
  t.ok(deployRc.type === (fork === 'byzantium' ? 0 : 2), `deploy transaction type ${deployRc.type}`);
  t.ok((await provider.getCode(address)).length > 2, 'eth_getCode returns the runtime code');

  // A filter installed before the transaction sees its log.
  const filterId = await provider.send('eth_newFilter', [{ address }]);
  const blockFilter = await provider.send('eth_newBlockFilter', []);

  const gas = await contract.set.estimateGas(42);
  t.ok(gas > 21000n && gas < 100000n, `estimateGas ${gas}`);
  const tx = await contract.set(42);
  const rc = await tx.wait();
  t.ok(rc.status === 1, `set(42) mined in block ${rc.blockNumber}`);
  t.ok(rc.gasUsed > 21000n && rc.gasUsed <= gas, `gasUsed ${rc.gasUsed} ≤ estimate ${gas}`);
  t.ok((await contract.value()) === 42n, 'eth_call reads 42');
  t.ok((await contract.value({ blockTag: deployRc.blockNumber })) === 0n, 'eth_call at the deploy block reads 0 (historical state)');

  const events = await contract.queryFilter(contract.filters.Set(wallet.address), rc.blockNumber, rc.blockNumber);
  t.ok(events.length === 1 && events[0].args.value === 42n && events[0].args.who === wallet.address, 'eth_getLogs finds the Set event');

  const changes = await provider.send('eth_getFilterChanges', [filterId]);
  t.ok(changes.length === 1 && changes[0].transactionHash === rc.hash, 'eth_getFilterChanges returns the log');
  const again = await provider.send('eth_getFilterChanges', [filterId]);
  t.ok(again.length === 0, 'a second poll returns nothing new');
  const blocks = await provider.send('eth_getFilterChanges', [blockFilter]);
  t.ok(blocks.length >= 1 && blocks.includes(rc.blockHash), 'the block filter reports the new blocks');
  t.ok((await provider.send('eth_uninstallFilter', [filterId])) === true, 'eth_uninstallFilter');

  const got = await provider.getTransaction(rc.hash);
  t.ok(got.from === wallet.address && got.blockNumber === rc.blockNumber, 'eth_getTransactionByHash');
  const block = await provider.getBlock(rc.blockNumber, true);
  t.ok(block.transactions.includes(rc.hash), 'eth_getBlockByNumber lists the transaction');

  // Reverts: ethers decodes geth's code 3 + data.
  try {
    await contract.set.staticCall(13);
    t.ok(false, 'set(13) should revert');
  } catch (e) {
    t.ok(e.code === 'CALL_EXCEPTION' && e.reason === 'unlucky', `revert reason: ${e.reason}`);
  }
  try {
    await contract.set.staticCall(5000);
    t.ok(false, 'set(5000) should revert');
  } catch (e) {
    t.ok(e.code === 'CALL_EXCEPTION' && e.revert?.name === 'TooBig' && e.revert.args[0] === 5000n, `custom error ${e.revert?.name}`);
  }
  try {
    await contract.set.estimateGas(13);
    t.ok(false, 'estimateGas of set(13) should revert');
  } catch (e) {
    t.ok(e.code === 'CALL_EXCEPTION' && e.reason === 'unlucky', 'estimateGas reports the revert');
  }
  const raw = await rpc(url, 'eth_call', [{ to: address, data: contract.interface.encodeFunctionData('set', [13]) }, 'latest']);
  t.ok(raw.error?.code === 3 && raw.error.message === 'execution reverted: unlucky' && raw.error.data.startsWith('0x08c379a0'), `raw revert: ${JSON.stringify(raw.error)}`);

  // A plain transfer, and the pending nonce after it.
  const to = ethers.Wallet.createRandom().address;
  const nonce = await provider.getTransactionCount(wallet.address, 'pending');
  const transfer = await wallet.sendTransaction({ to, value: 12345n });
  t.ok((await provider.getTransactionCount(wallet.address, 'pending')) === nonce + 1, 'pending nonce counts the pooled transaction');
  await transfer.wait();
  t.ok((await provider.getBalance(to)) === 12345n, 'the transfer arrived');

  // Replaying a mined transaction is refused with geth's message.
  const stale = await wallet.signTransaction(await wallet.populateTransaction({ to, value: 1n, nonce }));
  const replay = await rpc(url, 'eth_sendRawTransaction', [stale]);
  t.ok(replay.error?.code === -32000 && /nonce too low|already known/.test(replay.error.message), `replay refused: ${replay.error?.message}`);

  if (fork !== 'byzantium') {
    // EIP-2930: a value transfer carrying an access list is estimated at its
    // intrinsic gas (21000 + 2400 per address + 1900 per key).
    const fresh = ethers.Wallet.createRandom().address;
    const transfer2930 = (storageKeys) => ({ from: wallet.address, to: fresh, value: 7n, accessList: [{ address: fresh, storageKeys }] });
    const listed = await provider.estimateGas(transfer2930([]));
    const keyed = await provider.estimateGas(transfer2930([ethers.ZeroHash]));
    t.ok(listed === 23400n && keyed === 25300n, `access-list transfer estimates ${listed}, ${keyed}`);

    // EIP-7702: a fresh account delegates to Store (the wallet sends and pays),
    // and the same transaction calls set(21) through it.
    const authority = ethers.Wallet.createRandom();
    const auth = await authority.authorize({ address, nonce: 0, chainId: 1337n });
    const data = contract.interface.encodeFunctionData('set', [21]);
    const tx7702 = await wallet.sendTransaction({ type: 4, to: authority.address, data, authorizationList: [auth] });
    const rc7702 = await tx7702.wait();
    t.ok(rc7702.status === 1 && rc7702.type === 4, `set-code transaction mined (type ${rc7702.type})`);
    const designator = `0xef0100${address.slice(2).toLowerCase()}`;
    t.ok((await provider.getCode(authority.address)) === designator, 'the authority holds the delegation designator');
    const through = new ethers.Contract(authority.address, abi, wallet);
    t.ok((await through.value()) === 21n, 'a call through the delegated account runs Store on its storage');
    t.ok((await contract.value()) !== 21n, "Store's own storage is untouched");
    const shown = await provider.getTransaction(tx7702.hash);
    t.ok(shown.type === 4 && shown.authorizationList?.length === 1 && shown.authorizationList[0].address === address, 'eth_getTransactionByHash shows the authorizationList');
    const rc22 = await (await through.set(22)).wait();
    t.ok(rc22.status === 1 && (await through.value()) === 22n, 'a plain transaction to the delegated account runs Store');

    // Blob transactions: refused for what they are.
    const blob = await wallet.signTransaction(await wallet.populateTransaction({
      type: 3, to: fresh, value: 0n, gasLimit: 21000n, maxFeePerBlobGas: 1n,
      blobVersionedHashes: [`0x01${'00'.repeat(31)}`],
    }));
    const refused = await rpc(url, 'eth_sendRawTransaction', [blob]);
    t.ok(refused.error?.code === -32000 && refused.error.message === 'blob transactions are not supported on this chain', `blob transaction refused: ${refused.error?.message}`);
  }

  if (wsUrl) {
    // eth_subscribe over WebSocket: ethers' block events use newHeads, contract
    // events use logs.
    const wsp = new ethers.WebSocketProvider(wsUrl);
    const heads = [];
    const seen = [];
    await wsp.on('block', (n) => heads.push(n));
    const wsContract = new ethers.Contract(address, abi, wsp);
    await wsContract.on('Set', (_who, value) => seen.push(value));
    const pendingSub = await wsp.send('eth_subscribe', ['newPendingTransactions']);
    const sent = await contract.set(77);
    await sent.wait();
    for (let i = 0; i < 50 && !(seen.includes(77n) && heads.length > 0); i++) await sleep(100);
    t.ok(heads.length > 0, `newHeads over WebSocket (${heads.length} blocks)`);
    t.ok(seen.includes(77n), 'logs subscription delivered Set(77)');
    t.ok(typeof pendingSub === 'string' && /^0x[0-9a-f]+$/.test(pendingSub), `newPendingTransactions subscription accepted (id ${pendingSub})`);
    t.ok((await wsp.send('eth_unsubscribe', [pendingSub])) === true, 'eth_unsubscribe');
    await wsp.destroy();
  }
}

main().catch((e) => t.fail('unexpected error', e)).finally(() => t.finish());
