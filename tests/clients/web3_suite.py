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

        # EIP-2930: a value transfer carrying an access list is estimated at its
        # intrinsic gas (21000 + 2400 per address + 1900 per key).
        fresh = Account.create().address

        def transfer_2930(keys):
            list_ = [{"address": fresh, "storageKeys": keys}]
            return {"from": acct.address, "to": fresh, "value": 7, "accessList": list_}

        listed = w3.eth.estimate_gas(transfer_2930([]))
        keyed = w3.eth.estimate_gas(transfer_2930(["0x" + "00" * 32]))
        ok(listed == 23400 and keyed == 25300, f"access-list transfer estimates {listed}, {keyed}")

        # EIP-7702: a fresh account delegates to Store (this account sends and
        # pays), and the same transaction calls set(21) through it.
        authority = Account.create()
        auth = Account.sign_authorization(
            {"chainId": 1337, "address": store.address, "nonce": 0}, authority.key
        )
        call_set = {"to": authority.address, "data": store.encode_abi("set", args=[21])}
        gas_7702 = w3.eth.estimate_gas(
            {"from": acct.address, **call_set, "authorizationList": [auth]}
        )
        rc4 = send(
            {
                **call_set,
                "gas": gas_7702,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 1,
                "authorizationList": [auth],
            }
        )
        ok(rc4.status == 1 and rc4.type == 4, f"set-code transaction mined (type {rc4.type})")
        code = w3.eth.get_code(authority.address)
        ok(code == bytes.fromhex("ef0100") + bytes.fromhex(store.address[2:]), "designator")
        through = w3.eth.contract(address=authority.address, abi=artifact["abi"])
        ok(through.functions.value().call() == 21, "a call through the delegated account")
        ok(store.functions.value().call() == 5, "Store's own storage is untouched")
        shown = w3.eth.get_transaction(rc4.transactionHash)
        auths = shown.get("authorizationList", [])
        ok(len(auths) == 1 and auths[0]["address"] == store.address, "authorizationList shown")

        # Blob transactions: refused for what they are.
        blob = acct.sign_transaction(
            {
                "type": 3,
                "chainId": 1337,
                "nonce": w3.eth.get_transaction_count(acct.address, "pending"),
                "to": fresh,
                "value": 0,
                "gas": 21000,
                "maxFeePerGas": 10**10,
                "maxPriorityFeePerGas": 1,
                "maxFeePerBlobGas": 1,
                "blobVersionedHashes": [b"\x01" + b"\x00" * 31],
            }
        )
        try:
            w3.eth.send_raw_transaction(blob.raw_transaction)
            ok(False, "a blob transaction should be refused")
        except Exception as e:  # noqa: BLE001 - the node's message is what matters
            msg = "blob transactions are not supported on this chain"
            ok(msg in str(e), f"blob transaction refused: {e}")


try:
    main()
except Exception as e:  # noqa: BLE001 - report any failure as a failed check
    failed += 1
    print(f"FAIL {name}: unexpected error: {e!r}")
print(f"{name}: {passed} passed, {failed} failed")
sys.exit(0 if failed == 0 and passed > 0 else 1)
