//! geth-1.8 flags that Kaleido's walkthrough types and that have no setting of
//! their own in kalgo: accepted (hidden from `--help`), with a warning where the
//! value asks for something kalgo does differently, and a clear error where it
//! asks for something kalgo cannot do. The renamed flags (`--rpc`, `--rpcaddr`,
//! `--wsorigins`, …) are aliases on the flags they name (see `rpc::cli`).

use clap::Args;

/// The accepted-for-compatibility flags.
#[derive(Args, Debug, Clone, Default)]
pub struct GethFlags {
    /// geth: disable USB hardware wallets. kalgo has none: no effect.
    #[arg(long, hide = true)]
    pub nousb: bool,
    /// geth: `full`, `fast` or `light`. kalgo executes every certified block.
    #[arg(long, hide = true, value_name = "MODE")]
    pub syncmode: Option<String>,
    /// geth: `full` (prune) or `archive`. kalgo keeps every block's state.
    #[arg(long, hide = true, value_name = "MODE")]
    pub gcmode: Option<String>,
    /// geth: the gas limit miners move towards. kalgo keeps the genesis gas limit.
    #[arg(long, hide = true, value_name = "GAS")]
    pub targetgaslimit: Option<u64>,
}

/// A value kalgo cannot honour.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum GethFlagError {
    /// `--syncmode light` or an unknown mode.
    #[error("--syncmode {0}: kalgo runs full nodes only (use --syncmode full, or leave it out)")]
    SyncMode(String),
    /// An unknown `--gcmode`.
    #[error("--gcmode {0}: want full or archive")]
    GcMode(String),
}

/// What kalgo does with a geth sync mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncMode {
    /// `full`: what kalgo does.
    Full,
    /// `fast`/`snap`: kalgo syncs in full anyway; the warning to log.
    FullInstead(&'static str),
    /// `light` or unknown: kalgo cannot run so.
    Refused,
}

/// geth's sync mode `mode` (any case) as kalgo reads it; shared by
/// `--syncmode` and `geth.toml`'s `Eth.SyncMode`.
pub fn sync_mode(mode: &str) -> SyncMode {
    match mode.to_ascii_lowercase().as_str() {
        "full" => SyncMode::Full,
        "fast" | "snap" => {
            SyncMode::FullInstead("kalgo executes every certified block (full sync)")
        }
        _ => SyncMode::Refused,
    }
}

impl GethFlags {
    /// The warnings to log for values kalgo accepts but treats its own way, or
    /// the error for a value it cannot honour.
    pub fn check(&self) -> Result<Vec<String>, GethFlagError> {
        let mut warnings = Vec::new();
        if let Some(mode) = &self.syncmode {
            match sync_mode(mode) {
                SyncMode::Full => {}
                SyncMode::FullInstead(note) => warnings.push(format!("--syncmode {mode}: {note}")),
                SyncMode::Refused => return Err(GethFlagError::SyncMode(mode.clone())),
            }
        }
        match self
            .gcmode
            .as_deref()
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            None | Some("archive") => {}
            Some("full") => warnings
                .push("--gcmode full: kalgo keeps the state of every block (archive)".to_string()),
            Some(_) => {
                return Err(GethFlagError::GcMode(
                    self.gcmode.clone().unwrap_or_default(),
                ));
            }
        }
        if let Some(gas) = self.targetgaslimit {
            warnings.push(format!(
                "--targetgaslimit {gas} ignored: blocks keep the genesis gas limit"
            ));
        }
        Ok(warnings)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(sync: Option<&str>, gc: Option<&str>, target: Option<u64>) -> GethFlags {
        GethFlags {
            nousb: true,
            syncmode: sync.map(String::from),
            gcmode: gc.map(String::from),
            targetgaslimit: target,
        }
    }

    #[test]
    fn the_walkthrough_values_pass_silently() {
        assert_eq!(
            flags(Some("full"), Some("archive"), None).check(),
            Ok(vec![])
        );
        assert_eq!(flags(None, None, None).check(), Ok(vec![]));
        assert_eq!(
            flags(Some("FULL"), Some("Archive"), None).check(),
            Ok(vec![])
        );
    }

    #[test]
    fn other_values_warn_or_fail_clearly() {
        let w = flags(Some("fast"), Some("full"), Some(8_000_000))
            .check()
            .expect("accepted");
        assert_eq!(w.len(), 3, "{w:?}");
        assert!(w[2].contains("8000000"), "{w:?}");
        assert_eq!(
            flags(Some("light"), None, None).check(),
            Err(GethFlagError::SyncMode("light".into()))
        );
        assert_eq!(
            flags(None, Some("pruned"), None).check(),
            Err(GethFlagError::GcMode("pruned".into()))
        );
    }
}
