//! `kalgo attach ws://…`: the console over a WebSocket endpoint of a real
//! `kalgo --dev`, one `--exec` per command (small answers, and a trace of
//! about 300 KB that the server sends in one large frame).

use std::process::Command;

use tests::cluster::kalgo_bin;
use tests::devnode::DevNode;

/// Runs `kalgo attach <url> --exec <code>`; (success, stdout, stderr).
fn exec(url: &str, code: &str) -> (bool, String, String) {
    let out = Command::new(kalgo_bin())
        .args(["attach", url, "--exec", code])
        .output()
        .expect("run kalgo attach");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).trim().to_string(),
        String::from_utf8_lossy(&out.stderr).trim().to_string(),
    )
}

fn ok(url: &str, code: &str) -> String {
    let (success, out, err) = exec(url, code);
    assert!(success, "{code}: {out} {err}");
    out
}

#[test]
fn attach_over_websocket() {
    let node = DevNode::start("latest", 300, &["--ws", "--ws.api", "eth,net,web3,debug"]);
    let url = format!("ws://{}", node.ws.expect("ws address"));

    assert!(
        ok(&url, "eth.blockNumber")
            .parse::<u64>()
            .is_ok_and(|n| n >= 1)
    );
    assert_eq!(ok(&url, "net.version"), "\"1337\"");
    assert_eq!(
        ok(
            &url,
            "eth.getBalance('0x00000000000000000000000000000000000000aa')"
        ),
        "\"0\""
    );
    // Several calls on one connection.
    assert_eq!(
        ok(
            &url,
            "eth.chainId === 1337 && web3.clientVersion.indexOf('kalgo') === 0"
        ),
        "true"
    );
    // 3,000 JUMPDESTs as init code: 3,001 struct logs, about 300 KB of JSON,
    // more than a 16-bit frame length.
    assert_eq!(
        ok(
            &url,
            "debug.traceCall({data: '0x' + '5b'.repeat(3000)}).structLogs.length"
        ),
        "3001"
    );
    // An RPC error goes to stderr with exit status 1.
    let (success, _, err) = exec(&url, "eth.getBalance('0x12')");
    assert!(!success);
    assert!(err.contains("Error: invalid argument 0"), "{err}");
    // Not a WebSocket server: the handshake is refused.
    let (success, _, err) = exec(&format!("ws://{}", node.http), "eth.blockNumber");
    assert!(!success);
    assert!(err.contains("handshake"), "{err}");
}
