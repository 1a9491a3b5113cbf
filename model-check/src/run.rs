//! Running one configuration through the stateright checker and judging the
//! outcome against the configuration's expected verdict.

use crate::config::{Config, Expect};
use crate::model::{Action, BaModel, State};
use crate::props;
use stateright::{Checker, Expectation, HasDiscoveries, Model};
use std::fmt::Write as _;
use std::time::Instant;

/// How to search.
#[derive(Clone, Debug, Default)]
pub struct RunOptions {
    /// Breadth-first (shortest counterexamples) instead of depth-first.
    pub bfs: bool,
    /// Checker threads (at least 1).
    pub threads: usize,
    /// Symmetry reduction over interchangeable nodes (a no-op for configurations
    /// without two interchangeable nodes).
    pub symmetry: bool,
    /// Stop after this long (the run is then not exhaustive).
    pub timeout: Option<std::time::Duration>,
}

/// The verdict of one property.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PropertyVerdict {
    pub name: &'static str,
    /// `always` or `sometimes`.
    pub always: bool,
    /// Whether the checker found a discovery (a counterexample for `always`, an
    /// example for `sometimes`).
    pub discovered: bool,
}

/// Figures and verdicts of one run.
#[derive(Clone, Debug)]
pub struct Summary {
    pub name: String,
    /// States generated (with repeats).
    pub states: usize,
    /// Distinct states (after symmetry reduction, when on).
    pub unique: usize,
    pub depth: usize,
    /// Wall-clock seconds.
    pub secs: f64,
    /// Per-property verdicts, in declaration order.
    pub verdicts: Vec<PropertyVerdict>,
    /// The first safety counterexample, as protocol events, with the violation.
    pub trace: Option<Vec<String>>,
    /// Whether the expected verdict holds.
    pub ok: bool,
    /// False when the run stopped at its time limit.
    pub exhaustive: bool,
    /// Why the verdict does not hold, if it does not.
    pub reason: Option<String>,
    /// Order of the symmetry group used (1: no reduction).
    pub symmetry: usize,
}

impl Summary {
    /// States per second.
    pub fn rate(&self) -> f64 {
        self.states as f64 / self.secs.max(1e-9)
    }

    /// The discovery flag of a property.
    pub fn discovered(&self, name: &str) -> bool {
        self.verdicts.iter().any(|v| v.name == name && v.discovered)
    }

    /// A human-readable report.
    pub fn render(&self, peak_rss: Option<u64>) -> String {
        let mut s = String::new();
        let mem = peak_rss
            .map(|b| {
                format!(
                    " peak_rss={:.1}MB bytes/unique={:.0}",
                    b as f64 / 1e6,
                    b as f64 / self.unique.max(1) as f64
                )
            })
            .unwrap_or_default();
        let _ = writeln!(
            s,
            "== {}: symmetry={} states={} unique={} depth={} sec={:.2} states/s={:.0}{}{} verdict={}",
            self.name,
            if self.symmetry > 1 {
                format!("x{}", self.symmetry)
            } else {
                "off".to_string()
            },
            self.states,
            self.unique,
            self.depth,
            self.secs,
            self.rate(),
            mem,
            if self.exhaustive {
                ""
            } else {
                " (time limit: bounded, not exhaustive)"
            },
            if self.ok { "OK" } else { "FAILED" }
        );
        for v in &self.verdicts {
            let what = match (v.always, v.discovered) {
                (true, false) => "holds",
                (true, true) => "VIOLATED",
                (false, true) => "reached",
                (false, false) => "not reached",
            };
            let _ = writeln!(s, "   {:<48} {what}", v.name);
        }
        if let Some(r) = &self.reason {
            let _ = writeln!(s, "   expected verdict does not hold: {r}");
        }
        if let Some(t) = &self.trace {
            let _ = writeln!(
                s,
                "   counterexample ({} steps):",
                t.len().saturating_sub(1)
            );
            for line in t {
                let _ = writeln!(s, "     {line}");
            }
        }
        s
    }
}

/// Renders a path's actions, then the violation found in its last state.
pub fn trace(model: &BaModel, actions: &[Action], last: &State) -> Vec<String> {
    let mut out: Vec<String> = actions
        .iter()
        .enumerate()
        .map(|(i, a)| format!("{:>3}. {}", i + 1, model.format_action(a)))
        .collect();
    match last.obs.check() {
        Err(v) => out.push(format!("=> {v}")),
        Ok(()) => out.push(format!(
            "=> quiescent state where {} of {} honest nodes decided",
            last.nodes
                .iter()
                .flatten()
                .filter(|n| n.decided().is_some())
                .count(),
            last.nodes.iter().flatten().count()
        )),
    }
    out
}

/// Explores `cfg` exhaustively within its scope and judges the outcome.
pub fn run(cfg: Config, opts: &RunOptions) -> Summary {
    let name = cfg.name.clone();
    let expect = cfg.expect.clone();
    let depth_bound = cfg.depth_bound;
    let cfg_timeout = cfg.timeout_secs;
    let model = BaModel::new(cfg);
    let properties = model.properties();
    // stateright 0.31 applies symmetry reduction in its depth-first search only.
    let group_order = if opts.symmetry && !opts.bfs {
        model.cfg.symmetry_classes().group_order()
    } else {
        1
    };
    let timeout = opts
        .timeout
        .or(cfg_timeout.map(std::time::Duration::from_secs));
    // The time limit: a watchdog sets the model's stop flag, after which every new
    // state is out of bounds and the search drains. `done` ends the watchdog early.
    let (done, watchdog) = match timeout {
        Some(t) => {
            let stop = model.stop_flag();
            let (tx, rx) = std::sync::mpsc::channel::<()>();
            let handle = std::thread::spawn(move || {
                if let Err(std::sync::mpsc::RecvTimeoutError::Timeout) = rx.recv_timeout(t) {
                    stop.store(true, std::sync::atomic::Ordering::Relaxed);
                }
            });
            (Some(tx), Some(handle))
        }
        None => (None, None),
    };
    let mut builder = model.checker().threads(opts.threads.max(1));
    if group_order > 1 {
        builder = builder.symmetry();
    }
    match expect {
        Expect::Violation(Some(name)) => {
            builder = builder.finish_when(HasDiscoveries::AnyOf([name].into_iter().collect()));
        }
        Expect::Violation(None) => builder = builder.finish_when(HasDiscoveries::AnyFailures),
        Expect::Safe { .. } => {}
    }
    let started = Instant::now();
    let checker = if opts.bfs {
        CheckerBox::Bfs(Box::new(builder.spawn_bfs().join()))
    } else {
        CheckerBox::Dfs(Box::new(builder.spawn_dfs().join()))
    };
    let secs = started.elapsed().as_secs_f64();
    drop(done);
    if let Some(w) = watchdog {
        let _ = w.join();
    }
    let c = checker.get();
    let discoveries = c.discoveries();
    let verdicts: Vec<PropertyVerdict> = properties
        .iter()
        .map(|p| PropertyVerdict {
            name: p.name,
            always: p.expectation == Expectation::Always,
            discovered: discoveries.contains_key(p.name),
        })
        .collect();
    let wanted = match expect {
        Expect::Violation(Some(name)) => Some(name),
        _ => None,
    };
    let first_failure = verdicts
        .iter()
        .filter(|v| v.always && v.discovered)
        .find(|v| wanted.is_none_or(|w| w == v.name))
        .and_then(|v| discoveries.get(v.name));
    let trace = first_failure.map(|path| {
        let last = path.last_state().clone();
        let actions = path.clone().into_actions();
        trace(c.model(), &actions, &last)
    });
    let depth = c.max_depth();
    let timed_out = c.model().stopped();
    let reason = judge(&expect, &verdicts, depth, depth_bound).or_else(|| {
        (timed_out && matches!(expect, Expect::Safe { .. }))
            .then(|| "the time limit passed before the search was exhaustive".to_string())
    });
    Summary {
        name,
        states: c.state_count(),
        unique: c.unique_state_count(),
        depth,
        secs,
        verdicts,
        trace,
        ok: reason.is_none(),
        reason,
        exhaustive: !timed_out,
        symmetry: group_order,
    }
}

fn judge(
    expect: &Expect,
    verdicts: &[PropertyVerdict],
    depth: usize,
    depth_bound: Option<usize>,
) -> Option<String> {
    let failed: Vec<&str> = verdicts
        .iter()
        .filter(|v| v.always && v.discovered)
        .map(|v| v.name)
        .collect();
    match expect {
        Expect::Violation(None) => failed
            .is_empty()
            .then(|| "a safety violation was expected and none was found".to_string()),
        Expect::Violation(Some(name)) => (!failed.contains(name))
            .then(|| format!("a violation of {name} was expected and none was found")),
        Expect::Safe { reach } => {
            if !failed.is_empty() {
                return Some(format!("violated: {}", failed.join(", ")));
            }
            let missing: Vec<&str> = reach
                .iter()
                .copied()
                .filter(|r| !verdicts.iter().any(|v| v.name == *r && v.discovered))
                .collect();
            if !missing.is_empty() {
                return Some(format!("not reached: {}", missing.join(", ")));
            }
            match depth_bound {
                Some(d) if depth > d => Some(format!(
                    "{} needs depth {depth} > bound {d}",
                    props::LIVENESS
                )),
                _ => None,
            }
        }
    }
}

/// The two checker kinds behind one interface.
enum CheckerBox<B, D> {
    Bfs(Box<B>),
    Dfs(Box<D>),
}

impl<B: Checker<BaModel>, D: Checker<BaModel>> CheckerBox<B, D> {
    fn get(&self) -> &dyn Checker<BaModel> {
        match self {
            CheckerBox::Bfs(b) => b.as_ref(),
            CheckerBox::Dfs(d) => d.as_ref(),
        }
    }
}

/// Peak resident set size of this process, in bytes (Linux `VmHWM`).
pub fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}
