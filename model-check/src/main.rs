//! model-check: exhaustive exploration of spec's BA* machine (issue 3, in progress).

fn main() {
    eprintln!("model-check: not built yet");
    std::process::exit(2);
}
