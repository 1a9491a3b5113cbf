//! The seed's console session through `kalgo attach --exec` against a real
//! `kalgo --dev`, one `--exec` per command, as a script would: import a raw key,
//! unlock it, send value, sleep two blocks, read the receipt and the balance.

use std::process::Command;

use tests::cluster::kalgo_bin;
use tests::devnode::DevNode;

/// Runs `kalgo attach ipc:<D>/kalgo.ipc --exec <code>`; (success, stdout, stderr).
fn exec(node: &DevNode, code: &str) -> (bool, String, String) {
    let out = Command::new(kalgo_bin())
        .arg("attach")
        .arg(format!(
            "ipc:{}",
            node.datadir().join("kalgo.ipc").display()
        ))
        .args(["--exec", code])
        .output()
        .expect("run kalgo attach");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

fn ok(node: &DevNode, code: &str) -> String {
    let (success, out, err) = exec(node, code);
    assert!(success, "{code}: {out} {err}");
    out
}

#[test]
fn seed_console_session_through_attach() {
    let node = DevNode::start("latest", 300, &["--lightkdf"]);
    let account = "0x70997970C51812dc3A010C7d01b50e0d17dc79C8";
    let to = "0x00000000000000000000000000000000000000cc";

    assert!(
        ok(&node, "eth.blockNumber")
            .parse::<u64>()
            .is_ok_and(|n| n >= 1)
    );
    assert_eq!(ok(&node, "net.version"), "\"1337\"");
    assert_eq!(
        ok(&node, "web3.toWei(25000000, 'ether')"),
        "\"25000000000000000000000000\""
    );
    let imported = ok(
        &node,
        "personal.importRawKey('59c6995e998f97a5a0044966f0945389dc9e86dae88c7a8412f4603b6b78690d', 'kaleido')",
    );
    assert_eq!(
        imported.to_lowercase(),
        format!("\"{}\"", account.to_lowercase())
    );
    assert_eq!(
        ok(
            &node,
            &format!("personal.unlockAccount('{account}', 'kaleido', 0)")
        ),
        "true"
    );
    let hash = ok(
        &node,
        &format!(
            "eth.sendTransaction({{from: '{account}', to: '{to}', value: web3.toWei(25, 'ether')}})"
        ),
    );
    assert!(hash.starts_with("\"0x") && hash.len() == 68, "{hash}");
    assert_eq!(ok(&node, "admin.sleepBlocks(2)"), "true");
    assert_eq!(
        ok(&node, &format!("eth.getTransactionReceipt({hash}).status")),
        "\"0x1\""
    );
    assert_eq!(
        ok(
            &node,
            &format!("web3.fromWei(eth.getBalance('{to}'), 'ether')")
        ),
        "\"25\""
    );
    let block = ok(
        &node,
        &format!("eth.getBlock(eth.getTransactionReceipt({hash}).blockNumber).transactions.length"),
    );
    assert_eq!(block, "1");

    // A failing command: the RPC error is shown and the exit status is non-zero.
    let (success, _, err) = exec(
        &node,
        "personal.unlockAccount('0x0000000000000000000000000000000000000001', 'x', 0)",
    );
    assert!(!success);
    assert!(err.contains("unknown account"), "{err}");
    let (success, _, err) = exec(&node, "eth.blockNumber(");
    assert!(!success && err.contains("SyntaxError"), "{err}");
}
