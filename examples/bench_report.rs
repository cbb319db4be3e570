//! Turns criterion's per-round estimates into a markdown section: for every
//! benchmark group, each peer's median time across rounds with min and max,
//! and the ratio corio / peer. `benches/run-all.sh` runs it after its rounds
//! and splices the result into `docs/BENCHMARKS.md`.
//!
//! Input: a directory with one sub-directory per round (`1/`, `2/`, ...),
//! each holding copies of criterion's `new/estimates.json` and
//! `new/benchmark.json` files, in any layout below it (run-all.sh copies them
//! out of `target/criterion/` after every suite, before the next round
//! overwrites them). From each pair it takes the median time per iteration
//! (`median.point_estimate`, ns) and, when the group declared one, the
//! throughput per iteration.
//!
//! ```text
//! cargo run --release --example bench_report -- target/bench-all/rounds
//! cargo run --release --example bench_report -- DIR --note "date: ..." --out report.md
//! cargo run --release --example bench_report -- DIR --splice docs/BENCHMARKS.md
//! ```
//!
//! `--splice FILE` replaces whatever lies between the lines
//! `<!-- run-all:begin -->` and `<!-- run-all:end -->` in FILE; `--out FILE`
//! writes the section alone; without either it goes to stdout. Each
//! `--note` becomes a bullet above the tables; each `--append FILE` is
//! copied, as markdown, after them (run-all.sh appends the real-server
//! tables this way).
//!
//! Shortcut, labelled: "median across rounds" is the median of criterion's
//! per-round medians; it does not pool the samples.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// The line after which the generated section starts.
const BEGIN: &str = "<!-- run-all:begin -->";
/// The line before which the generated section ends.
const END: &str = "<!-- run-all:end -->";
/// The peer every ratio is taken against.
const CORIO: &str = "corio";

/// One benchmark function in one round.
#[derive(Debug, Clone, PartialEq)]
struct Estimate {
    group: String,
    peer: String,
    /// Median time per iteration, in nanoseconds.
    median_ns: f64,
    /// What one iteration does, if the group declared it: elements or bytes.
    throughput: Option<(u64, &'static str)>,
}

/// All rounds of one peer in one group.
#[derive(Debug, Default)]
struct Series {
    /// Median time per iteration of each round, in round order (ns).
    medians: Vec<f64>,
    /// Rounds, for the per-round ratio: `medians[i]` came from `rounds[i]`.
    rounds: Vec<usize>,
    throughput: Option<(u64, &'static str)>,
}

/// The benchmark groups in order, each with its peers in order.
type Groups = Vec<(String, Vec<(String, Series)>)>;

/// Parses one `benchmark.json` + `estimates.json` pair.
fn parse(benchmark: &str, estimates: &str) -> Result<Estimate, String> {
    let benchmark: serde_json::Value = serde_json::from_str(benchmark).map_err(|e| e.to_string())?;
    let estimates: serde_json::Value = serde_json::from_str(estimates).map_err(|e| e.to_string())?;
    let text = |key: &str| benchmark[key].as_str().map(str::to_owned);
    let group = text("group_id").ok_or("benchmark.json has no group_id")?;
    // `bench_function("corio")` sets function_id; `BenchmarkId::from_parameter`
    // (tcp_echo) sets only value_str.
    let peer = match (text("function_id"), text("value_str")) {
        (Some(f), Some(v)) => format!("{f}/{v}"),
        (Some(name), None) | (None, Some(name)) => name,
        (None, None) => return Err("benchmark.json names no function".into()),
    };
    let median_ns = estimates["median"]["point_estimate"].as_f64().ok_or("estimates.json has no median")?;
    let throughput = benchmark["throughput"].as_object().and_then(|t| {
        let (kind, n) = t.iter().next()?;
        let unit = match kind.as_str() {
            "Elements" | "ElementsAndBytes" => "elem",
            "Bytes" | "BytesDecimal" => "B",
            _ => return None,
        };
        // ElementsAndBytes is {"elements": n, "bytes": m}; the others a number.
        let n = n.as_u64().or_else(|| n["elements"].as_u64())?;
        Some((n, unit))
    });
    Ok(Estimate { group, peer, median_ns, throughput })
}

/// Every `estimates.json` below `dir` that has a `benchmark.json` beside it.
fn find_pairs(dir: &Path, found: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            find_pairs(&path, found)?;
        } else if path.file_name().is_some_and(|n| n == "estimates.json")
            && path.with_file_name("benchmark.json").exists()
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Reads every round below `rounds_dir`: group -> peer -> series. Groups
/// and peers keep the order in which round 1 listed them (sorted paths).
fn load(rounds_dir: &Path) -> Result<Groups, String> {
    let mut round_dirs: Vec<(usize, PathBuf)> = std::fs::read_dir(rounds_dir)
        .map_err(|e| format!("{}: {e}", rounds_dir.display()))?
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            let round = path.file_name()?.to_str()?.parse().ok()?;
            path.is_dir().then_some((round, path))
        })
        .collect();
    round_dirs.sort();
    let mut groups: Groups = Vec::new();
    for (round, dir) in round_dirs {
        let mut files = Vec::new();
        find_pairs(&dir, &mut files).map_err(|e| format!("{}: {e}", dir.display()))?;
        files.sort();
        for file in files {
            let read = |p: &Path| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display()));
            let estimate = parse(&read(&file.with_file_name("benchmark.json"))?, &read(&file)?)
                .map_err(|e| format!("{}: {e}", file.display()))?;
            let g = match groups.iter().position(|(name, _)| *name == estimate.group) {
                Some(g) => g,
                None => {
                    groups.push((estimate.group.clone(), Vec::new()));
                    groups.len() - 1
                }
            };
            let peers = &mut groups[g].1;
            let p = match peers.iter().position(|(name, _)| *name == estimate.peer) {
                Some(p) => p,
                None => {
                    peers.push((estimate.peer.clone(), Series::default()));
                    peers.len() - 1
                }
            };
            let series = &mut peers[p].1;
            series.medians.push(estimate.median_ns);
            series.rounds.push(round);
            series.throughput = estimate.throughput;
        }
    }
    // corio first in each group, so the table reads "corio, then its peers".
    for (_, peers) in &mut groups {
        peers.sort_by_key(|(name, _)| name != CORIO);
    }
    Ok(groups)
}

/// The median of `values` (the mean of the middle two for an even count).
fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

fn min_max(values: &[f64]) -> (f64, f64) {
    values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// A duration in ns with a unit that keeps 3 to 4 significant digits.
fn time(ns: f64) -> String {
    match ns {
        ns if ns >= 1e9 => format!("{:.3} s", ns / 1e9),
        ns if ns >= 1e6 => format!("{:.3} ms", ns / 1e6),
        ns if ns >= 1e3 => format!("{:.3} µs", ns / 1e3),
        ns => format!("{ns:.1} ns"),
    }
}

/// A rate per second with an SI prefix.
fn rate(per_second: f64, unit: &str) -> String {
    match per_second {
        r if r >= 1e9 => format!("{:.2} G{unit}/s", r / 1e9),
        r if r >= 1e6 => format!("{:.2} M{unit}/s", r / 1e6),
        r if r >= 1e3 => format!("{:.2} K{unit}/s", r / 1e3),
        r => format!("{r:.1} {unit}/s"),
    }
}

/// Per-round ratios corio / peer of the rounds both ran in.
fn round_ratios(corio: &Series, peer: &Series) -> Vec<f64> {
    corio
        .rounds
        .iter()
        .zip(&corio.medians)
        .filter_map(|(round, c)| {
            let i = peer.rounds.iter().position(|r| r == round)?;
            Some(c / peer.medians[i])
        })
        .collect()
}

/// The markdown section: notes, a glance table of ratios, then one table
/// per group.
fn render(groups: &Groups, notes: &[String]) -> String {
    let mut out = String::new();
    for note in notes {
        let _ = writeln!(out, "- {note}");
    }
    if groups.is_empty() {
        let _ = writeln!(out, "\nNo criterion estimates were found (criterion's `--test` mode writes none).");
        return out;
    }
    let rounds = groups.iter().flat_map(|(_, p)| p.iter().map(|(_, s)| s.medians.len())).max().unwrap_or(0);
    let _ = writeln!(
        out,
        "\nRatios are of **time** per iteration, corio / peer, from the medians \
         across rounds: **below 1 means corio took less time** (is faster); \
         brackets give the lowest and highest per-round ratio (both peers measured \
         back to back in the same round). Times are criterion's median \
         per iteration; each cell is the median over {rounds} round(s) with min–max.\n"
    );
    let _ = writeln!(out, "| group | corio / peer (time; < 1 = corio faster) |");
    let _ = writeln!(out, "|---|---|");
    for (group, peers) in groups {
        let Some((_, corio)) = peers.iter().find(|(name, _)| name == CORIO) else { continue };
        let cells: Vec<String> = peers
            .iter()
            .filter(|(name, _)| name != CORIO)
            .map(|(name, s)| format!("{name} **{:.2}**", median(&corio.medians) / median(&s.medians)))
            .collect();
        let _ = writeln!(out, "| `{group}` | {} |", cells.join(", "));
    }
    for (group, peers) in groups {
        let per_iter = peers.iter().find_map(|(_, s)| s.throughput);
        let _ = write!(out, "\n#### `{group}`");
        if let Some((n, unit)) = per_iter {
            let _ = write!(out, " ({n} {unit} per iteration)");
        }
        let _ = writeln!(out, "\n");
        let _ = writeln!(
            out,
            "| peer | rounds | median time | min – max | throughput at median | corio / peer (time) |"
        );
        let _ = writeln!(out, "|---|---:|---:|---:|---:|---:|");
        let corio = peers.iter().find(|(name, _)| name == CORIO).map(|(_, s)| s);
        for (name, s) in peers {
            let m = median(&s.medians);
            let (lo, hi) = min_max(&s.medians);
            let thrpt = s.throughput.map_or("–".into(), |(n, unit)| rate(n as f64 / (m / 1e9), unit));
            let ratio = match corio {
                Some(_) if name == CORIO => "–".into(),
                Some(c) => {
                    let (rlo, rhi) = min_max(&round_ratios(c, s));
                    format!("**{:.2}** ({rlo:.2}–{rhi:.2})", median(&c.medians) / m)
                }
                None => "no corio".into(),
            };
            let _ = writeln!(
                out,
                "| {name} | {} | {} | {} – {} | {thrpt} | {ratio} |",
                s.medians.len(),
                time(m),
                time(lo),
                time(hi)
            );
        }
    }
    out
}

/// Replaces the text between the marker lines of `doc` with `section`.
fn splice(doc: &str, section: &str) -> Result<String, String> {
    let begin = doc.find(BEGIN).ok_or(format!("no {BEGIN} line"))?;
    let after_begin = begin + BEGIN.len();
    let end = doc[after_begin..].find(END).ok_or(format!("no {END} line after {BEGIN}"))? + after_begin;
    Ok(format!("{}\n{}\n{}", &doc[..after_begin], section.trim_end(), &doc[end..]))
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mut rounds_dir = None;
    let (mut out, mut splice_into, mut notes, mut appended) = (None, None, Vec::new(), Vec::new());
    while let Some(arg) = args.next() {
        let mut value = |name: &str| args.next().unwrap_or_else(|| usage(&format!("{name} needs a value")));
        match arg.as_str() {
            "--out" => out = Some(value("--out")),
            "--splice" => splice_into = Some(value("--splice")),
            "--note" => notes.push(value("--note")),
            "--append" => appended.push(value("--append")),
            "-h" | "--help" => usage(""),
            _ if rounds_dir.is_none() => rounds_dir = Some(arg),
            _ => usage(&format!("unexpected argument {arg}")),
        }
    }
    let rounds_dir = rounds_dir.unwrap_or_else(|| usage("no rounds directory"));
    let groups = load(Path::new(&rounds_dir)).unwrap_or_else(|e| fail(&e));
    let mut section = render(&groups, &notes);
    for path in &appended {
        section += &std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    }
    if let Some(path) = &out {
        std::fs::write(path, &section).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    }
    if let Some(path) = &splice_into {
        let doc = std::fs::read_to_string(path).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
        let doc = splice(&doc, &section).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
        std::fs::write(path, doc).unwrap_or_else(|e| fail(&format!("{path}: {e}")));
    }
    if out.is_none() && splice_into.is_none() {
        print!("{section}");
    }
}

fn usage(problem: &str) -> ! {
    eprintln!("{problem}\nusage: bench_report ROUNDS_DIR [--note TEXT]... [--append FILE]... [--out FILE] [--splice FILE]");
    std::process::exit(2)
}

fn fail(problem: &str) -> ! {
    eprintln!("bench_report: {problem}");
    std::process::exit(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    const BENCH: &str = r#"{"group_id":"channel_1m","function_id":"corio","value_str":null,
        "throughput":{"Elements":1000000},"full_id":"channel_1m/corio"}"#;
    const ESTIMATES: &str = r#"{"median":{"point_estimate":2000000.0}}"#;

    #[test]
    fn parses_function_and_parameter_ids() {
        let e = parse(BENCH, ESTIMATES).unwrap();
        assert_eq!(e.group, "channel_1m");
        assert_eq!(e.peer, "corio");
        assert_eq!(e.median_ns, 2e6);
        assert_eq!(e.throughput, Some((1_000_000, "elem")));
        let param = r#"{"group_id":"tcp_echo/50_connections","function_id":null,"value_str":"mio","throughput":null}"#;
        let e = parse(param, ESTIMATES).unwrap();
        assert_eq!((e.peer.as_str(), e.throughput), ("mio", None));
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
    }

    #[test]
    fn ratio_is_corio_time_over_peer_time() {
        let series = |medians: &[f64]| Series {
            medians: medians.to_vec(),
            rounds: (1..=medians.len()).collect(),
            throughput: None,
        };
        let groups = vec![(
            "g".to_owned(),
            vec![("corio".into(), series(&[1.0, 2.0, 3.0])), ("tokio".into(), series(&[4.0, 4.0, 4.0]))],
        )];
        assert_eq!(round_ratios(&groups[0].1[0].1, &groups[0].1[1].1), [0.25, 0.5, 0.75]);
        let text = render(&groups, &["note".into()]);
        assert!(text.starts_with("- note\n"));
        assert!(
            text.contains("| tokio | 3 | 4.0 ns | 4.0 ns – 4.0 ns | – | **0.50** (0.25–0.75) |"),
            "{text}"
        );
    }

    #[test]
    fn splice_replaces_only_between_markers() {
        let doc = format!("a\n{BEGIN}\nold\n{END}\nb\n");
        assert_eq!(splice(&doc, "new\n").unwrap(), format!("a\n{BEGIN}\nnew\n{END}\nb\n"));
        assert!(splice("no markers", "x").is_err());
    }
}
