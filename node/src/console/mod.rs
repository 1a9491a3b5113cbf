//! `kalgo attach [ENDPOINT]` and `kalgo console`: a JavaScript console (the boa
//! engine) with web3-style objects (`eth`, `net`, `web3`, `personal`, `admin`,
//! `miner`, `txpool`; see `prelude.js`) over JSON-RPC, as in Kaleido's (geth's)
//! console. Line editing, history in a file and tab completion of object members
//! come from rustyline; `--exec EXPR` evaluates once, prints and exits.

pub mod client;

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use boa_engine::{
    Context, JsArgs, JsNativeError, JsResult, JsString, JsValue, NativeFunction, Source, js_string,
};
use rustyline::completion::Completer;
use rustyline::error::ReadlineError;
use rustyline::highlight::Highlighter;
use rustyline::hint::Hinter;
use rustyline::validate::Validator;
use rustyline::{Editor, Helper, history::DefaultHistory};

use self::client::{Client, ClientError};

const PRELUDE: &str = include_str!("prelude.js");

thread_local! {
    /// The connection the JavaScript functions use (the console is single-threaded).
    static CLIENT: RefCell<Option<Client>> = const { RefCell::new(None) };
}

/// Why the console could not run.
#[derive(Debug, thiserror::Error)]
pub enum ConsoleError {
    /// Connecting.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The JavaScript engine (a bug in the prelude) or an `--exec` error.
    #[error("{0}")]
    Js(String),
    /// The line editor could not start on, or read from, the terminal (no
    /// terminal, or it closed): use `--exec` for scripted use.
    #[error("{0}")]
    Terminal(#[from] ReadlineError),
}

/// `__rpc(method, paramsJson)`: the JSON text of the result, or throws the RPC error.
fn rpc(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let method = args
        .get_or_undefined(0)
        .to_string(ctx)?
        .to_std_string_escaped();
    let params = args
        .get_or_undefined(1)
        .to_string(ctx)?
        .to_std_string_escaped();
    let params: serde_json::Value = serde_json::from_str(&params)
        .map_err(|e| JsNativeError::typ().with_message(format!("params: {e}")))?;
    let result = CLIENT.with(|c| match c.borrow_mut().as_mut() {
        Some(client) => client.call(&method, &params),
        None => Err(ClientError::Io("not connected".into())),
    });
    match result {
        Ok(v) => Ok(JsValue::from(JsString::from(v.to_string().as_str()))),
        Err(e) => Err(JsNativeError::error().with_message(e.to_string()).into()),
    }
}

/// `__sleep(ms)`.
fn sleep(_: &JsValue, args: &[JsValue], ctx: &mut Context) -> JsResult<JsValue> {
    let ms = args.get_or_undefined(0).to_number(ctx)?;
    let ms = if ms.is_finite() && ms > 0.0 {
        ms.min(3.6e6) as u64
    } else {
        0
    };
    std::thread::sleep(std::time::Duration::from_millis(ms));
    Ok(JsValue::undefined())
}

/// A console: the engine with the prelude loaded, connected to a node.
pub struct Console {
    ctx: Context,
}

impl Console {
    /// Connects to `endpoint` and loads the web3 objects.
    pub fn new(endpoint: &str) -> Result<Self, ConsoleError> {
        let client = Client::connect(endpoint)?;
        CLIENT.with(|c| *c.borrow_mut() = Some(client));
        let mut ctx = Context::default();
        let js = |e: boa_engine::JsError| ConsoleError::Js(e.to_string());
        ctx.register_global_callable(js_string!("__rpc"), 2, NativeFunction::from_fn_ptr(rpc))
            .map_err(js)?;
        ctx.register_global_callable(js_string!("__sleep"), 1, NativeFunction::from_fn_ptr(sleep))
            .map_err(js)?;
        ctx.eval(Source::from_bytes(PRELUDE)).map_err(js)?;
        Ok(Self { ctx })
    }

    /// Evaluates `code`; the printed form of its value, or the error as geth
    /// prints it (`Error: …`).
    pub fn eval(&mut self, code: &str) -> Result<String, String> {
        let value = self
            .ctx
            .eval(Source::from_bytes(code))
            .map_err(|e| self.error_text(e))?;
        self.format(value)
    }

    fn format(&mut self, value: JsValue) -> Result<String, String> {
        let fmt = self
            .ctx
            .global_object()
            .get(js_string!("__fmt"), &mut self.ctx)
            .map_err(|e| e.to_string())?;
        let Some(f) = fmt.as_callable() else {
            return Err("__fmt is not a function".into());
        };
        let out = f
            .call(&JsValue::undefined(), &[value], &mut self.ctx)
            .map_err(|e| self.error_text(e))?;
        out.to_string(&mut self.ctx)
            .map(|s| s.to_std_string_escaped())
            .map_err(|e| e.to_string())
    }

    fn error_text(&mut self, e: boa_engine::JsError) -> String {
        match e.try_native(&mut self.ctx) {
            Ok(native) => format!("{}: {}", native.kind(), native.message()),
            Err(_) => format!("Error: {e}"),
        }
    }

    /// Member names for completion (`eth`, `eth.blockNumber`, …).
    fn members(&mut self) -> Vec<String> {
        self.eval("__members()")
            .ok()
            .map(|s| {
                serde_json::from_str::<String>(&s)
                    .unwrap_or_default()
                    .lines()
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Completes the dotted word before the cursor from the console's member names.
struct Completion {
    members: Vec<String>,
}

impl Completer for Completion {
    type Candidate = String;

    fn complete(
        &self,
        line: &str,
        pos: usize,
        _: &rustyline::Context<'_>,
    ) -> rustyline::Result<(usize, Vec<String>)> {
        let head = &line[..pos];
        let start = head
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .map_or(0, |i| i + 1);
        let word = &head[start..];
        let found = self
            .members
            .iter()
            .filter(|m| m.starts_with(word))
            .cloned()
            .collect();
        Ok((start, found))
    }
}

impl Hinter for Completion {
    type Hint = String;
}
impl Highlighter for Completion {}
impl Validator for Completion {}
impl Helper for Completion {}

/// Runs `--exec` (prints the value; an error exits non-zero) or the interactive
/// loop, with history in `history`.
pub fn run(endpoint: &str, exec: Option<&str>, history: Option<&Path>) -> Result<(), ConsoleError> {
    let mut console = Console::new(endpoint)?;
    if let Some(code) = exec {
        return match console.eval(code) {
            Ok(out) => {
                println!("{out}");
                Ok(())
            }
            Err(e) => Err(ConsoleError::Js(e)),
        };
    }
    let version = console
        .eval("web3.clientVersion")
        .unwrap_or_else(|e| e.clone());
    let head = console
        .eval("eth.blockNumber")
        .unwrap_or_else(|e| e.clone());
    println!("Welcome to the kalgo JavaScript console!\n");
    println!("instance: {}", version.trim_matches('"'));
    println!(" at block: {head}");
    println!(" endpoint: {endpoint}");
    println!(
        " modules: eth net web3 personal admin miner txpool\n\nTo exit, press ctrl-d or type exit"
    );
    let mut rl: Editor<Completion, DefaultHistory> = Editor::new()?;
    rl.set_helper(Some(Completion {
        members: console.members(),
    }));
    if let Some(h) = history {
        let _ = rl.load_history(h);
    }
    loop {
        match rl.readline("> ") {
            Ok(line) => {
                let code = line.trim();
                if code.is_empty() {
                    continue;
                }
                let _ = rl.add_history_entry(code);
                if code == "exit" || code == "quit" {
                    break;
                }
                match console.eval(code) {
                    Ok(out) => println!("{out}"),
                    Err(e) => println!("{e}"),
                }
            }
            Err(ReadlineError::Interrupted) => continue,
            Err(ReadlineError::Eof) => break,
            Err(e) => return Err(e.into()),
        }
    }
    if let Some(h) = history {
        if let Some(dir) = h.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        let _ = rl.save_history(h);
    }
    Ok(())
}

/// The history file: `<datadir>/kalgo/console_history`, else next to the IPC
/// socket, else none (an HTTP endpoint without `--datadir`).
pub fn history_path(datadir: Option<&Path>, endpoint: &str) -> Option<PathBuf> {
    if let Some(d) = datadir {
        return Some(d.join("kalgo").join("console_history"));
    }
    if endpoint.contains("://") {
        return None;
    }
    let path = Path::new(endpoint.strip_prefix("ipc:").unwrap_or(endpoint));
    path.parent()
        .map(|d| d.join("kalgo").join("console_history"))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The prelude's unit conversions, evaluated by boa without a node.
    #[test]
    fn wei_conversions() {
        let mut ctx = Context::default();
        let _ = ctx.eval(Source::from_bytes(PRELUDE)).expect("prelude");
        let mut eval = |code: &str| {
            ctx.eval(Source::from_bytes(code))
                .map(|v| {
                    v.to_string(&mut ctx)
                        .map(|s| s.to_std_string_escaped())
                        .unwrap_or_default()
                })
                .map_err(|e| e.to_string())
        };
        assert_eq!(
            eval("web3.toWei(25000000, 'ether')").as_deref(),
            Ok("25000000000000000000000000")
        );
        assert_eq!(
            eval("web3.toWei('0.5', 'gwei')").as_deref(),
            Ok("500000000")
        );
        assert_eq!(
            eval("web3.toWei(1e21, 'wei')").as_deref(),
            Ok("1000000000000000000000")
        );
        assert_eq!(
            eval("web3.fromWei('25000000000000000000000000', 'ether')").as_deref(),
            Ok("25000000")
        );
        assert_eq!(
            eval("web3.fromWei('1500000000', 'gwei')").as_deref(),
            Ok("1.5")
        );
        assert_eq!(
            eval("web3.fromWei('0x1', 'ether')").as_deref(),
            Ok("0.000000000000000001")
        );
        assert!(eval("web3.toWei('1.5', 'wei')").is_err());
        assert!(eval("web3.toWei('abc')").is_err());
        assert!(eval("web3.toWei(1, 'parsec')").is_err());
        assert_eq!(eval("web3.toHex(255)").as_deref(), Ok("0xff"));
    }

    #[test]
    fn completion_of_members() {
        let c = Completion {
            members: vec![
                "eth".into(),
                "eth.blockNumber".into(),
                "eth.getBalance".into(),
                "net.version".into(),
            ],
        };
        let h = rustyline::history::DefaultHistory::new();
        let ctx = rustyline::Context::new(&h);
        let (start, found) = c.complete("x = eth.get", 11, &ctx).unwrap_or_default();
        assert_eq!(start, 4);
        assert_eq!(found, vec!["eth.getBalance".to_string()]);
    }
}
