//! Draws a corio trace as a picture: one row per task, a bar per poll, an
//! arrow from whatever woke a task to the poll it led to.
//!
//! ```text
//! cargo run --release --example remote_tasks -- 20 --trace target/remote_tasks.json
//! cargo run --release --example trace_plot -- target/remote_tasks.json docs/img/remote_tasks.svg
//! ```
//!
//! The input is the Chrome trace-event JSON that a runtime writes with
//! `Builder::trace` or `CORIO_TRACE=path` (see `corio::trace`); Perfetto
//! shows the same file interactively. This draws it with plotters as an
//! SVG for documents:
//!
//! - a block of rows per runtime (a process in the trace): its own row
//!   (parks in grey, the time blocked in `epoll_wait` darker, readiness
//!   events and timer firings as ticks), the `block_on` future's row, then
//!   one row per task, labelled with its name or spawn site;
//! - a bar per poll: blue when the task went idle after it, green when it
//!   completed, orange when it was woken during the poll and queued again;
//! - an arrow per wake or spawn, from the poll (or the socket, timer or
//!   other thread) that caused it to the poll it led to, coloured by cause.
//!
//! Time runs left to right, but a stretch where nothing happens longer than
//! `--gap` microseconds (default 50) is cut to a fixed width and marked
//! with its length, so that microsecond polls and a 10 ms sleep fit in one
//! picture.
//!
//! Flags: `--title TEXT`, `--gap MICROSECONDS`, `--width PIXELS` (default 1200),
//! `--labels` (write the cause on every arrow; the default for traces with
//! at most 40 arrows).

use std::collections::{BTreeMap, HashMap};
use std::process::ExitCode;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde_json::Value;

/// The runtime's own row in corio traces.
const RUNTIME_TID: u64 = 2_000_000_000;

fn main() -> ExitCode {
    let options = match Options::parse(std::env::args().skip(1)) {
        Ok(options) => options,
        Err(message) => {
            eprintln!("trace_plot: {message}");
            eprintln!(
                "usage: trace_plot TRACE.json OUT.svg [--title TEXT] [--gap US] [--width PX] [--labels]"
            );
            return ExitCode::from(2);
        }
    };
    let text = match std::fs::read_to_string(&options.input) {
        Ok(text) => text,
        Err(e) => {
            eprintln!("trace_plot: cannot read {}: {e}", options.input);
            return ExitCode::FAILURE;
        }
    };
    let trace: Value = match serde_json::from_str(&text) {
        Ok(trace) => trace,
        Err(e) => {
            eprintln!("trace_plot: {} is not JSON: {e}", options.input);
            return ExitCode::FAILURE;
        }
    };
    let timeline = match Timeline::read(&trace) {
        Ok(timeline) => timeline,
        Err(message) => {
            eprintln!("trace_plot: {}: {message}", options.input);
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = draw(&timeline, &options) {
        eprintln!("trace_plot: cannot draw {}: {e}", options.output);
        return ExitCode::FAILURE;
    }
    println!(
        "trace_plot: {} rows, {} polls, {} arrows -> {}",
        timeline.rows.len(),
        timeline.bars.iter().filter(|b| matches!(b.kind, BarKind::Poll(_))).count(),
        timeline.arrows.len(),
        options.output
    );
    ExitCode::SUCCESS
}

struct Options {
    input: String,
    output: String,
    title: Option<String>,
    gap_us: f64,
    width: u32,
    labels: Option<bool>,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Options, String> {
        let mut positional = Vec::new();
        let mut options = Options {
            input: String::new(),
            output: String::new(),
            title: None,
            gap_us: 50.0,
            width: 1200,
            labels: None,
        };
        while let Some(arg) = args.next() {
            let mut value = |name: &str| args.next().ok_or(format!("{name} needs a value"));
            match arg.as_str() {
                "--title" => options.title = Some(value("--title")?),
                "--gap" => options.gap_us = value("--gap")?.parse().map_err(|e| format!("--gap: {e}"))?,
                "--width" => {
                    options.width = value("--width")?.parse().map_err(|e| format!("--width: {e}"))?
                }
                "--labels" => options.labels = Some(true),
                flag if flag.starts_with("--") => return Err(format!("unknown flag {flag}")),
                _ => positional.push(arg),
            }
        }
        match <[String; 2]>::try_from(positional) {
            Ok([input, output]) => Ok(Options { input, output, ..options }),
            Err(_) => Err("give a trace file and an output file".into()),
        }
    }
}

/// How a poll ended, or what else a bar is.
#[derive(Clone, Copy, PartialEq)]
enum BarKind {
    Poll(Outcome),
    Park,
    Epoll,
}

#[derive(Clone, Copy, PartialEq)]
enum Outcome {
    Idle,
    Completed,
    Rescheduled,
    Other,
}

/// What caused an arrow.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum Cause {
    Task,
    Spawn,
    Io,
    Timer,
    Remote,
}

impl Cause {
    fn color(self) -> RGBColor {
        match self {
            Cause::Task => RGBColor(0x75, 0x3e, 0xb5),
            Cause::Spawn => RGBColor(0x80, 0x80, 0x80),
            Cause::Io => RGBColor(0xd6, 0x27, 0x28),
            Cause::Timer => RGBColor(0xe6, 0x8a, 0x00),
            Cause::Remote => RGBColor(0x0a, 0x9c, 0x95),
        }
    }

    fn legend(self) -> &'static str {
        match self {
            Cause::Task => "woken by a task (a channel, a JoinHandle, ...)",
            Cause::Spawn => "spawned",
            Cause::Io => "woken by socket readiness",
            Cause::Timer => "woken by a timer",
            Cause::Remote => "woken from another thread",
        }
    }
}

struct Row {
    pid: u64,
    tid: u64,
    label: String,
}

struct Bar {
    row: usize,
    start: f64,
    end: f64,
    kind: BarKind,
}

struct Tick {
    row: usize,
    at: f64,
    timer: bool,
}

struct Arrow {
    from: (usize, f64),
    to: (usize, f64),
    cause: Cause,
    label: String,
}

/// The trace, as rows and shapes with times in microseconds.
struct Timeline {
    rows: Vec<Row>,
    processes: Vec<(usize, String)>,
    bars: Vec<Bar>,
    ticks: Vec<Tick>,
    arrows: Vec<Arrow>,
}

fn ts(event: &Value) -> Result<f64, String> {
    event["ts"].as_f64().ok_or_else(|| format!("an event without ts: {event}"))
}

impl Timeline {
    fn read(trace: &Value) -> Result<Timeline, String> {
        let events =
            trace["traceEvents"].as_array().ok_or("no traceEvents array (not a trace-event file?)")?;
        let id = |e: &Value| (e["pid"].as_u64().unwrap_or(0), e["tid"].as_u64().unwrap_or(0));
        // Rows: every thread with a name, ordered by process, then the
        // runtime's row, the block_on row, tasks by id.
        let mut names: BTreeMap<(u64, i64, u64), String> = BTreeMap::new();
        let mut process_names: BTreeMap<u64, String> = BTreeMap::new();
        for event in events.iter().filter(|e| e["ph"] == "M") {
            let (pid, tid) = id(event);
            let name = event["args"]["name"].as_str().unwrap_or_default().to_owned();
            match event["name"].as_str() {
                Some("thread_name") => {
                    let order = if tid == RUNTIME_TID {
                        -2
                    } else if tid == 0 {
                        -1
                    } else {
                        tid as i64
                    };
                    names.insert((pid, order, tid), name);
                }
                Some("process_name") => {
                    process_names.insert(pid, name);
                }
                _ => {}
            }
        }
        let mut rows = Vec::new();
        let mut processes = Vec::new();
        let mut index = HashMap::new();
        for ((pid, _, tid), label) in names {
            if processes.last().is_none_or(|&(first, _): &(usize, String)| {
                rows.get(first).is_none_or(|r: &Row| r.pid != pid)
            }) {
                processes.push((
                    rows.len(),
                    process_names.get(&pid).cloned().unwrap_or_else(|| format!("process {pid}")),
                ));
            }
            index.insert((pid, tid), rows.len());
            rows.push(Row { pid, tid, label });
        }
        if rows.is_empty() {
            return Err("no named threads: not a corio trace?".into());
        }
        let row_of = |e: &Value| index.get(&id(e)).copied();

        let mut bars = Vec::new();
        let mut ticks = Vec::new();
        // Slices by row, to name an arrow's source.
        let mut slices: HashMap<usize, Vec<(f64, f64, String)>> = HashMap::new();
        for event in events {
            let Some(row) = row_of(event) else { continue };
            match event["ph"].as_str() {
                Some("X") => {
                    let start = ts(event)?;
                    let end = start + event["dur"].as_f64().unwrap_or(0.0);
                    let name = event["name"].as_str().unwrap_or_default();
                    slices.entry(row).or_default().push((start, end, name.to_owned()));
                    let kind = match (event["cat"].as_str(), name) {
                        (Some("poll"), _) => BarKind::Poll(match event["args"]["outcome"].as_str() {
                            Some("idle") => Outcome::Idle,
                            Some("completed") => Outcome::Completed,
                            Some("rescheduled") => Outcome::Rescheduled,
                            _ => Outcome::Other,
                        }),
                        (_, "park") => BarKind::Park,
                        (_, "epoll_wait") => BarKind::Epoll,
                        _ => continue,
                    };
                    bars.push(Bar { row, start, end, kind });
                }
                Some("i") => {
                    let timer = event["cat"] == "timer";
                    ticks.push(Tick { row, at: ts(event)?, timer });
                }
                _ => {}
            }
        }
        // Arrows: flow starts and ends matched by id.
        let mut starts: HashMap<u64, &Value> = HashMap::new();
        let mut arrows = Vec::new();
        for event in events.iter().filter(|e| e["ph"] == "s") {
            if let Some(id) = event["id"].as_u64() {
                starts.insert(id, event);
            }
        }
        for end in events.iter().filter(|e| e["ph"] == "f") {
            let Some(start) = end["id"].as_u64().and_then(|id| starts.get(&id)) else { continue };
            let (Some(from), Some(to)) = (row_of(start), row_of(end)) else { continue };
            let at = ts(start)?;
            let source = slices
                .get(&from)
                .and_then(|s| s.iter().find(|(a, b, _)| *a <= at && at <= *b))
                .map(|(_, _, name)| name.as_str())
                .unwrap_or_default();
            let spawn = start["cat"] == "spawn";
            let (cause, label) = if rows[from].tid != RUNTIME_TID {
                let by = if rows[from].tid == 0 {
                    "block_on".to_owned()
                } else {
                    format!("task {}", rows[from].tid)
                };
                if spawn {
                    (Cause::Spawn, format!("spawned by {by}"))
                } else {
                    (Cause::Task, format!("woken by {by}"))
                }
            } else {
                // "wake task 3: tcp ... readable", "wake task 3: timer", ...
                let what = source.split_once(": ").map_or(source, |(_, what)| what).to_owned();
                let cause = if what == "timer" {
                    Cause::Timer
                } else if what == "another thread" {
                    Cause::Remote
                } else {
                    Cause::Io
                };
                (cause, what)
            };
            arrows.push(Arrow { from: (from, at), to: (to, ts(end)?), cause, label });
        }
        Ok(Timeline { rows, processes, bars, ticks, arrows })
    }

    /// Every time something starts or ends, sorted.
    fn times(&self) -> Vec<f64> {
        let mut times: Vec<f64> = Vec::new();
        for bar in &self.bars {
            times.extend([bar.start, bar.end]);
        }
        times.extend(self.ticks.iter().map(|t| t.at));
        for arrow in &self.arrows {
            times.extend([arrow.from.1, arrow.to.1]);
        }
        times.sort_by(f64::total_cmp);
        times.dedup();
        times
    }
}

/// Maps trace time to a horizontal position, cutting long idle stretches.
struct Axis {
    /// (time, position before scaling), increasing.
    knots: Vec<(f64, f64)>,
    /// The cut stretches: (position where drawn, length in µs).
    cuts: Vec<(f64, f64)>,
    scale: f64,
    left: f64,
}

impl Axis {
    fn new(times: &[f64], gap: f64, left: f64, width: f64) -> Axis {
        let mut knots = Vec::with_capacity(times.len());
        let mut cuts = Vec::new();
        let mut position = 0.0;
        for (i, &t) in times.iter().enumerate() {
            if i > 0 {
                let step = t - times[i - 1];
                if step > gap {
                    cuts.push((position + gap / 2.0, step));
                    position += gap;
                } else {
                    position += step;
                }
            }
            knots.push((t, position));
        }
        let scale = if position > 0.0 { width / position } else { 1.0 };
        Axis { knots, cuts, scale, left }
    }

    fn x(&self, t: f64) -> i32 {
        let i = self.knots.partition_point(|&(time, _)| time < t);
        let position = match (self.knots.get(i.wrapping_sub(1)), self.knots.get(i)) {
            (_, Some(&(time, p))) if time == t => p,
            (Some(&(t0, p0)), Some(&(t1, p1))) => p0 + (p1 - p0) * (t - t0) / (t1 - t0),
            (Some(&(_, p)), None) | (None, Some(&(_, p))) => p,
            (None, None) => 0.0,
        };
        (self.left + position * self.scale).round() as i32
    }
}

fn human(us: f64) -> String {
    if us >= 1000.0 {
        format!("{:.1} ms", us / 1000.0)
    } else {
        format!("{us:.0} µs")
    }
}

fn draw(timeline: &Timeline, options: &Options) -> Result<(), Box<dyn std::error::Error>> {
    const ROW: i32 = 16;
    const LABEL: i32 = 330;
    const TOP: i32 = 44;
    let causes: Vec<Cause> = {
        let mut causes: Vec<Cause> = timeline.arrows.iter().map(|a| a.cause).collect();
        causes.sort();
        causes.dedup();
        causes
    };
    let legend_rows = 2 + causes.len() as i32;
    let width = options.width as i32;
    let process_gap = ROW;
    let height = TOP
        + timeline.rows.len() as i32 * ROW
        + timeline.processes.len() as i32 * process_gap
        + 40
        + legend_rows * ROW;
    let root = SVGBackend::new(&options.output, (width as u32, height as u32)).into_drawing_area();
    root.fill(&WHITE)?;
    let title = options.title.clone().unwrap_or_else(|| "corio trace".to_owned());
    root.draw(&Text::new(title, (12, 10), ("sans-serif", 18).into_font()))?;

    let axis =
        Axis::new(&timeline.times(), options.gap_us, f64::from(LABEL + 10), f64::from(width - LABEL - 30));
    // Row positions: a gap above each process's block.
    let mut y_of = Vec::with_capacity(timeline.rows.len());
    let mut y = TOP;
    let process_starts: Vec<usize> = timeline.processes.iter().map(|(first, _)| *first).collect();
    for row in 0..timeline.rows.len() {
        if process_starts.contains(&row) {
            y += process_gap;
        }
        y_of.push(y);
        y += ROW;
    }
    let bottom = y;
    let small = ("sans-serif", 11).into_font();
    let label_style = small.color(&BLACK);
    for (first, name) in &timeline.processes {
        let y = y_of[*first] - process_gap + 2;
        root.draw(&Text::new(name.clone(), (12, y), ("sans-serif", 13).into_font().style(FontStyle::Bold)))?;
        root.draw(&PathElement::new(
            vec![(LABEL, y + process_gap - 3), (width - 10, y + process_gap - 3)],
            BLACK.mix(0.15),
        ))?;
    }
    for (row, info) in timeline.rows.iter().enumerate() {
        let y = y_of[row];
        if row % 2 == 1 {
            root.draw(&Rectangle::new(
                [(LABEL, y), (width - 10, y + ROW)],
                RGBColor(0xf4, 0xf4, 0xf8).filled(),
            ))?;
        }
        let mut label = info.label.clone();
        if label.chars().count() > 52 {
            label = format!(
                "…{}",
                label.chars().rev().take(51).collect::<Vec<_>>().into_iter().rev().collect::<String>()
            );
        }
        root.draw(&Text::new(
            label,
            (LABEL - 6, y + ROW / 2),
            label_style.pos(Pos::new(HPos::Right, VPos::Center)),
        ))?;
    }
    // Cut stretches: a dashed line down the picture and the time skipped.
    for &(position, length) in &axis.cuts {
        let x = (axis.left + position * axis.scale).round() as i32;
        for y in (TOP..bottom).step_by(6) {
            root.draw(&PathElement::new(vec![(x, y), (x, y + 3)], BLACK.mix(0.35)))?;
        }
        root.draw(&Text::new(
            format!("+{}", human(length)),
            (x, TOP - 6),
            ("sans-serif", 10).into_font().color(&BLACK.mix(0.6)).pos(Pos::new(HPos::Center, VPos::Bottom)),
        ))?;
    }
    let blue = RGBColor(0x1f, 0x77, 0xb4);
    let green = RGBColor(0x2c, 0xa0, 0x2c);
    let orange = RGBColor(0xff, 0x7f, 0x0e);
    // Parks first, so the time blocked in epoll_wait is drawn over them.
    let mut bars: Vec<&Bar> = timeline.bars.iter().collect();
    bars.sort_by_key(|bar| bar.kind != BarKind::Park);
    for bar in bars {
        let y = y_of[bar.row];
        let (x0, mut x1) = (axis.x(bar.start), axis.x(bar.end));
        if x1 < x0 + 2 {
            x1 = x0 + 2;
        }
        let (color, inset) = match bar.kind {
            BarKind::Poll(Outcome::Idle | Outcome::Other) => (blue.filled(), 3),
            BarKind::Poll(Outcome::Completed) => (green.filled(), 3),
            BarKind::Poll(Outcome::Rescheduled) => (orange.filled(), 3),
            BarKind::Park => (RGBColor(0xcc, 0xcc, 0xcc).filled(), 3),
            BarKind::Epoll => (RGBColor(0x88, 0x88, 0x88).filled(), 5),
        };
        root.draw(&Rectangle::new([(x0, y + inset), (x1, y + ROW - inset)], color))?;
    }
    for tick in &timeline.ticks {
        let (x, y) = (axis.x(tick.at), y_of[tick.row]);
        let color = if tick.timer { Cause::Timer.color() } else { Cause::Io.color() };
        root.draw(&Polygon::new(vec![(x - 3, y + 1), (x + 3, y + 1), (x, y + 6)], color.filled()))?;
    }
    let labels = options.labels.unwrap_or(timeline.arrows.len() <= 40);
    for arrow in &timeline.arrows {
        let from = (axis.x(arrow.from.1), y_of[arrow.from.0] + ROW / 2);
        let to = (axis.x(arrow.to.1), y_of[arrow.to.0] + ROW / 2);
        let color = arrow.cause.color();
        root.draw(&PathElement::new(vec![from, to], color.mix(0.75).stroke_width(1)))?;
        // The head: a small triangle pointing along the arrow.
        let (dx, dy) = (f64::from(to.0 - from.0), f64::from(to.1 - from.1));
        let length = (dx * dx + dy * dy).sqrt().max(1.0);
        let (ux, uy) = (dx / length, dy / length);
        let point = |along: f64, across: f64| {
            (
                (f64::from(to.0) - ux * along - uy * across).round() as i32,
                (f64::from(to.1) - uy * along + ux * across).round() as i32,
            )
        };
        root.draw(&Polygon::new(vec![to, point(6.0, 3.0), point(6.0, -3.0)], color.filled()))?;
        if labels {
            let middle = ((from.0 + to.0) / 2 + 3, (from.1 + to.1) / 2);
            root.draw(&Text::new(arrow.label.clone(), middle, ("sans-serif", 9).into_font().color(&color)))?;
        }
    }
    // Legend.
    let mut y = bottom + 20;
    let legend = ("sans-serif", 11).into_font();
    let swatch =
        |x: i32, y: i32, color: ShapeStyle| Rectangle::new([(x, y + 3), (x + 18, y + ROW - 3)], color);
    let mut x = 12;
    for (text, color) in [
        ("poll, then idle", blue.filled()),
        ("poll, completed", green.filled()),
        ("poll, woken during it", orange.filled()),
        ("park", RGBColor(0xcc, 0xcc, 0xcc).filled()),
        ("blocked in epoll_wait", RGBColor(0x88, 0x88, 0x88).filled()),
    ] {
        root.draw(&swatch(x, y, color))?;
        root.draw(&Text::new(text, (x + 24, y + 2), legend.clone()))?;
        x += 190;
    }
    y += ROW + 4;
    for cause in causes {
        root.draw(&PathElement::new(
            vec![(12, y + ROW / 2), (30, y + ROW / 2)],
            cause.color().stroke_width(2),
        ))?;
        root.draw(&Text::new(cause.legend(), (36, y + 2), legend.clone()))?;
        y += ROW;
    }
    root.draw(&Text::new(
        "▼ readiness event (red) or timer firing (orange);  ┆ a quiet stretch cut short, with its length",
        (12, y + 2),
        legend.clone(),
    ))?;
    root.present()?;
    Ok(())
}
