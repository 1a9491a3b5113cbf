"""web3.py and eth-account against kalgo --dev.

Usage: python web3_suite.py <url> <artifact.json> <privateKey> <byzantium|latest>
"""

import json
import sys

from eth_account import Account
from web3 import Web3
from web3.exceptions import ContractCustomError, ContractLogicError

MNEMONIC = "test test test test test test test test test test test junk"

url, artifact_path, key, fork = sys.argv[1:5]
name = f"web3py/{fork}"
passed = 0
failed = 0


def ok(cond, what):
    global passed, failed
    if cond:
        passed += 1
        print(f"ok   {name}: {what}")
    else:
        failed += 1
        print(f"FAIL {name}: {what}")


def main():
    with open(artifact_path) as f:
        artifact = json.load(f)
    w3 = Web3(Web3.HTTPProvider(url))
    ok(w3.is_connected(), "connected")
    ok(w3.eth.chain_id == 1337, "chain id")
    ok(w3.client_version.startswith("kalgo/"), f"client version {w3.client_version}")
    ok(w3.net.version == "1337", "net_version")

    # The dev accounts are the mnemonic's first ten, funded with 10,000 ETH.
    Account.enable_unaudited_hdwallet_features()
    for i in range(10):
        acct = Account.from_mnemonic(MNEMONIC, account_path=f"m/44'/60'/0'/0/{i}")
        if w3.eth.get_balance(acct.address) < Web3.to_wei(9000, "ether"):
            ok(False, f"dev account {i} {acct.address} is not funded")
            break
    else:
        ok(True, "the ten mnemonic accounts are funded")

    acct = Account.from_key(key)
    # Byzantium has no base fee: web3.py needs an explicit gasPrice there.
    fees = {"gasPrice": w3.eth.gas_price} if fork == "byzantium" else {}

    def send(tx):
        tx.setdefault("from", acct.address)
        tx.setdefault("nonce", w3.eth.get_transaction_count(acct.address, "pending"))
        tx.setdefault("chainId", 1337)
        signed = acct.sign_transaction(tx)
        h = w3.eth.send_raw_transaction(signed.raw_transaction)
        return w3.eth.wait_for_transaction_receipt(h, timeout=60, poll_latency=0.2)

    Store = w3.eth.contract(abi=artifact["abi"], bytecode=artifact["bytecode"])
    rc = send(Store.constructor().build_transaction({"from": acct.address, **fees}))
    ok(rc.status == 1 and rc.contractAddress, f"deployed at {rc.contractAddress}")
    store = w3.eth.contract(address=rc.contractAddress, abi=artifact["abi"])

    gas = store.functions.set(99).estimate_gas({"from": acct.address})
    ok(21000 < gas < 100000, f"estimate_gas {gas}")
    rc2 = send(store.functions.set(99).build_transaction({"from": acct.address, **fees}))
    ok(rc2.status == 1, f"set(99) in block {rc2.blockNumber}")
    ok(store.functions.value().call() == 99, "call reads 99")
    logs = store.events.Set().get_logs(from_block=rc2.blockNumber, to_block=rc2.blockNumber)
    ok(len(logs) == 1 and logs[0].args.value == 99, "get_logs finds Set")
    tx = w3.eth.get_transaction(rc2.transactionHash)
    ok(tx["from"] == acct.address and tx["blockNumber"] == rc2.blockNumber, "get_transaction")
    block = w3.eth.get_block(rc2.blockNumber)
    ok(rc2.transactionHash in block.transactions, "get_block lists it")
    ok(("baseFeePerGas" in block) == (fork != "byzantium"), "baseFeePerGas iff London")

    try:
        store.functions.set(13).call()
        ok(False, "set(13) should revert")
    except ContractLogicError as e:
        ok("unlucky" in str(e) and str(e.data).startswith("0x08c379a0"), f"revert: {e}")
    try:
        store.functions.set(3000).call()
        ok(False, "set(3000) should revert")
    except ContractCustomError as e:
        selector = Web3.keccak(text="TooBig(uint256,uint256)")[:4].hex()
        ok(selector.removeprefix("0x") in str(e.data), f"custom error data {e.data}")
    except ContractLogicError as e:
        ok(False, f"custom error not recognised: {e}")

    if fork != "byzantium":
        history = w3.eth.fee_history(4, "latest", [10, 50])
        ok(len(history["baseFeePerGas"]) == len(history["gasUsedRatio"]) + 1, "fee_history")
        # With no explicit fees web3.py fills EIP-1559 fields itself
        # (eth_maxPriorityFeePerGas + the head's base fee).
        rc3 = send(store.functions.set(5).build_transaction({"from": acct.address}))
        ok(rc3.status == 1 and rc3.type == 2, "a 1559 transaction with web3.py's default fees")


try:
    main()
except Exception as e:  # noqa: BLE001 - report any failure as a failed check
    failed += 1
    print(f"FAIL {name}: unexpected error: {e!r}")
print(f"{name}: {passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
