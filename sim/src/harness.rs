//! The harness: many seeds, the first failure with the command that
//! replays it, the determinism check, and shrinking a failure's faults.
//!
//! A simulation test is a function of a [`World`]: set up nodes, run,
//! check. [`Harness::run`] calls it once per seed, each time with a fresh
//! world built from that seed, and stops at the first failure (an error
//! returned, a panic in the test, a [`SimError`](crate::SimError)). Then it:
//!
//! 1. **replays** the failing seed and compares the digests: a failure
//!    that does not replay is reported as such, since its seed is useless;
//! 2. **shrinks** the chaos faults: replays the seed with each fault
//!    [`Chaos`](crate::Chaos) started left out in turn, keeping it out when
//!    the failure stays, so the report lists only the faults that matter;
//! 3. **reports** the seed, the error, the faults, and the exact command
//!    that replays it (`CORIO_SEED=... cargo test ...`).
//!
//! Determinism is checked, not assumed: the first seed, every failing seed
//! and every `recheck_every`-th seed run twice, and digests that differ
//! fail the harness loudly (something in the test reads the world outside
//! the seed: a `HashMap`'s random iteration order, `thread_rng`, the real
//! clock, another thread).
//!
//! Environment: `CORIO_SEED=N` runs only seed N (twice), `CORIO_SEEDS=K`
//! sets the number of seeds, `CORIO_SIM_SKIP=a,b` leaves out chaos faults
//! (as a shrunk report says), `CORIO_SIM_TRACE=1` prints every event.

use std::error::Error;
use std::fmt;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::{Duration, Instant};

use crate::digest::Digest;
use crate::fault::Applied;
use crate::world::{Config, World};

/// What a simulation test returns.
pub type TestResult = Result<(), Box<dyn Error>>;

/// Runs a simulation test over many seeds. See the module docs.
///
/// # Examples
///
/// ```
/// use corio_sim::Harness;
///
/// let report = Harness::new().seeds(20).run(|world| {
///     let answer = world.client("solo", async { 6 * 7 });
///     world.run()?;
///     if answer.take() != Some(42) {
///         return Err("wrong answer".into());
///     }
///     Ok(())
/// });
/// assert_eq!(report.seeds_run, 20);
/// ```
pub struct Harness {
    seeds: u64,
    first_seed: u64,
    only: Option<u64>,
    skip: Vec<u64>,
    time_budget: Option<Duration>,
    recheck_every: Option<u64>,
    shrink: bool,
    config: Box<dyn Fn(u64) -> Config>,
    replay: Option<String>,
    quiet: bool,
}

/// What a harness run found.
#[derive(Debug, Clone)]
pub struct Report {
    /// Seeds run (each failing or rechecked seed counts once).
    pub seeds_run: u64,
    /// The first failure, if any.
    pub failure: Option<Failure>,
    /// Seeds that ran twice to check determinism (all agreed, unless
    /// `failure` says otherwise).
    pub rechecked: u64,
    /// Wall time of the whole harness run.
    pub elapsed: Duration,
}

/// A seed that failed.
#[derive(Debug, Clone)]
pub struct Failure {
    /// The seed.
    pub seed: u64,
    /// What went wrong.
    pub error: String,
    /// The failing run's digest.
    pub digest: Digest,
    /// `Some(other)` if a second run of the seed gave another digest: the
    /// test is not deterministic (and `error` says so).
    pub nondeterministic: Option<Digest>,
    /// Every fault applied in the failing run.
    pub faults: Vec<Applied>,
    /// Chaos faults the shrinking left out (the failure stays without them).
    pub skip: Vec<u64>,
    /// The faults of the shrunk run: the ones that matter.
    pub shrunk: Vec<Applied>,
    /// The command that replays the failing seed.
    pub replay: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "seed {} FAILED: {}", self.seed, self.error)?;
        writeln!(f, "  digest {}", self.digest)?;
        if let Some(other) = self.nondeterministic {
            writeln!(f, "  NOT REPRODUCIBLE: a second run of the same seed gave digest {other}.")?;
            writeln!(
                f,
                "  Something in the test reads outside the world: a std HashMap/HashSet's iteration order, \
                 a random generator not drawn from the seed, the real clock, another thread."
            )?;
        }
        if !self.faults.is_empty() {
            writeln!(f, "  faults applied ({}):", self.faults.len())?;
            for applied in &self.faults {
                writeln!(f, "    {applied}")?;
            }
        }
        if !self.skip.is_empty() {
            writeln!(f, "  shrunk: still fails without chaos faults {:?}; what is left:", self.skip)?;
            for applied in &self.shrunk {
                writeln!(f, "    {applied}")?;
            }
        }
        write!(f, "  replay: {}", self.replay)
    }
}

/// One run of one seed.
struct SeedRun {
    result: Result<(), String>,
    digest: Digest,
    faults: Vec<Applied>,
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "a panic with a non-string payload".into())
}

fn env_u64(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|value| value.trim().parse().ok())
}

impl Default for Harness {
    fn default() -> Harness {
        Harness::new()
    }
}

impl Harness {
    /// 100 seeds from 0, the default world configuration, shrinking on;
    /// then what the environment says (see the module docs).
    pub fn new() -> Harness {
        let skip = std::env::var("CORIO_SIM_SKIP")
            .map(|list| list.split(',').filter_map(|n| n.trim().parse().ok()).collect())
            .unwrap_or_default();
        Harness {
            seeds: 100,
            first_seed: 0,
            only: env_u64("CORIO_SEED"),
            skip,
            time_budget: None,
            recheck_every: None,
            shrink: true,
            config: Box::new(Config::new),
            replay: None,
            quiet: false,
        }
    }

    /// How many seeds to run (`CORIO_SEEDS` overrides it).
    pub fn seeds(mut self, seeds: u64) -> Harness {
        self.seeds = env_u64("CORIO_SEEDS").unwrap_or(seeds);
        self
    }

    /// The first seed (default 0); seeds run in order from it.
    pub fn first_seed(mut self, seed: u64) -> Harness {
        self.first_seed = seed;
        self
    }

    /// Stop starting seeds after this much wall time.
    pub fn time_budget(mut self, budget: Duration) -> Harness {
        self.time_budget = Some(budget);
        self
    }

    /// Also run every `n`th seed twice and compare digests (`1`: every
    /// seed). The first seed and failing seeds are always rechecked.
    pub fn recheck_every(mut self, n: u64) -> Harness {
        self.recheck_every = Some(n.max(1));
        self
    }

    /// Whether to shrink a failure's chaos faults (default on).
    pub fn shrink(mut self, shrink: bool) -> Harness {
        self.shrink = shrink;
        self
    }

    /// How to configure the world for a seed (default `Config::new`).
    pub fn config(mut self, config: impl Fn(u64) -> Config + 'static) -> Harness {
        self.config = Box::new(config);
        self
    }

    /// The command that replays a seed, with `{seed}` where the seed goes.
    /// By default it is derived from the running test (`CORIO_SEED={seed}
    /// cargo test -p <package> --test <file> -- <test> --exact`).
    pub fn replay_command(mut self, command: &str) -> Harness {
        self.replay = Some(command.to_string());
        self
    }

    /// No summary line on stdout.
    pub fn quiet(mut self) -> Harness {
        self.quiet = true;
        self
    }

    /// Runs the seeds; panics with the report of the first failure.
    ///
    /// # Panics
    ///
    /// When a seed fails or is not reproducible: the message has the seed,
    /// the error, the faults and the replay command.
    pub fn run(self, test: impl FnMut(&mut World) -> TestResult) -> Report {
        let report = self.search(test);
        if let Some(failure) = &report.failure {
            panic!("simulation failed after {} seeds\n{failure}", report.seeds_run);
        }
        report
    }

    /// Runs the seeds and returns what it found, failure or not (for a
    /// test that expects a bug to be found).
    pub fn search(self, mut test: impl FnMut(&mut World) -> TestResult) -> Report {
        let started = Instant::now();
        let seeds: Vec<u64> = match self.only {
            Some(seed) => vec![seed],
            None => (self.first_seed..self.first_seed.saturating_add(self.seeds)).collect(),
        };
        let mut report = Report { seeds_run: 0, failure: None, rechecked: 0, elapsed: Duration::ZERO };
        for (index, &seed) in seeds.iter().enumerate() {
            if self.time_budget.is_some_and(|budget| started.elapsed() >= budget) {
                break;
            }
            report.seeds_run += 1;
            let outcome = self.run_seed(seed, &self.skip, &mut test);
            let recheck = index == 0
                || self.only.is_some()
                || outcome.result.is_err()
                || self.recheck_every.is_some_and(|n| (index as u64).is_multiple_of(n));
            let second = recheck.then(|| self.run_seed(seed, &self.skip, &mut test));
            if second.is_some() {
                report.rechecked += 1;
            }
            if self.only.is_some() && !self.quiet {
                println!("seed {seed}: {} digest {}", verdict(&outcome.result), outcome.digest);
            }
            let differs = second.as_ref().filter(|second| second.digest != outcome.digest);
            if let Some(second) = differs {
                report.failure =
                    Some(self.failure(seed, &outcome, Some(second.digest), Vec::new(), Vec::new()));
                break;
            }
            if outcome.result.is_err() {
                let (skip, shrunk) = self.shrink_faults(seed, &outcome, &mut test);
                report.failure = Some(self.failure(seed, &outcome, None, skip, shrunk));
                break;
            }
        }
        report.elapsed = started.elapsed();
        if report.failure.is_none() && !self.quiet {
            println!(
                "sim: {} seeds passed ({}), {} run twice with the same digest, in {:.2?}",
                report.seeds_run,
                match self.only {
                    Some(seed) => format!("seed {seed}"),
                    None => format!("seeds {}..{}", self.first_seed, self.first_seed + report.seeds_run),
                },
                report.rechecked,
                report.elapsed
            );
        }
        report
    }

    fn run_seed(&self, seed: u64, skip: &[u64], test: &mut impl FnMut(&mut World) -> TestResult) -> SeedRun {
        let mut config = (self.config)(seed);
        config.seed = seed;
        config.skip = skip.to_vec();
        let mut world = World::with_config(config);
        let result = match catch_unwind(AssertUnwindSafe(|| test(&mut world))) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) => Err(error.to_string()),
            Err(panic) => Err(format!("the test panicked: {}", panic_message(&*panic))),
        };
        let outcome = SeedRun { result, digest: world.digest(), faults: world.faults().to_vec() };
        drop(world);
        outcome
    }

    /// Leaves out each chaos fault in turn, keeping it out while the seed
    /// still fails. Returns the faults left out and the last failing run's
    /// faults.
    fn shrink_faults(
        &self,
        seed: u64,
        outcome: &SeedRun,
        test: &mut impl FnMut(&mut World) -> TestResult,
    ) -> (Vec<u64>, Vec<Applied>) {
        let mut skip = self.skip.clone();
        let mut shrunk = outcome.faults.clone();
        if !self.shrink {
            return (Vec::new(), Vec::new());
        }
        let numbered: Vec<u64> = outcome.faults.iter().filter_map(|applied| applied.chaos).collect();
        for number in numbered.into_iter().take(64) {
            let mut trial = skip.clone();
            trial.push(number);
            let attempt = self.run_seed(seed, &trial, test);
            if attempt.result.is_err() {
                skip = trial;
                shrunk = attempt.faults;
            }
        }
        if skip.len() == self.skip.len() {
            return (Vec::new(), Vec::new());
        }
        (skip, shrunk)
    }

    fn failure(
        &self,
        seed: u64,
        outcome: &SeedRun,
        nondeterministic: Option<Digest>,
        skip: Vec<u64>,
        shrunk: Vec<Applied>,
    ) -> Failure {
        let error = match (&outcome.result, nondeterministic) {
            (_, Some(other)) => format!(
                "not reproducible: two runs of seed {seed} gave digests {} and {other}{}",
                outcome.digest,
                outcome.result.as_ref().err().map(|e| format!(" (first run: {e})")).unwrap_or_default()
            ),
            (Err(error), None) => error.clone(),
            (Ok(()), None) => "passed".into(),
        };
        let mut replay = self.replay_for(seed);
        if !skip.is_empty() {
            let list: Vec<String> = skip.iter().map(u64::to_string).collect();
            replay = format!("{replay}\n  replay shrunk: CORIO_SIM_SKIP={} {replay}", list.join(","));
        }
        Failure {
            seed,
            error,
            digest: outcome.digest,
            nondeterministic,
            faults: outcome.faults.clone(),
            skip,
            shrunk,
            replay,
        }
    }

    /// The replay command for `seed`.
    fn replay_for(&self, seed: u64) -> String {
        if let Some(command) = &self.replay {
            return command.replace("{seed}", &seed.to_string());
        }
        let test = std::thread::current().name().filter(|name| *name != "main").map(str::to_string);
        let binary = std::env::current_exe().ok().and_then(|exe| {
            let stem = exe.file_stem()?.to_str()?.to_string();
            Some(match stem.rsplit_once('-') {
                Some((name, hash)) if hash.len() == 16 && hash.chars().all(|c| c.is_ascii_hexdigit()) => {
                    name.to_string()
                }
                _ => stem,
            })
        });
        let package = std::env::var("CARGO_PKG_NAME").map(|name| format!(" -p {name}")).unwrap_or_default();
        match (binary, test) {
            (Some(binary), Some(test)) => {
                format!("CORIO_SEED={seed} cargo test{package} --test {binary} -- {test} --exact --nocapture")
            }
            _ => format!("CORIO_SEED={seed} <this test command>"),
        }
    }
}

fn verdict(result: &Result<(), String>) -> String {
    match result {
        Ok(()) => "ok,".into(),
        Err(error) => format!("FAILED ({error}),"),
    }
}

impl fmt::Debug for Harness {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Harness")
            .field("seeds", &self.seeds)
            .field("first_seed", &self.first_seed)
            .field("only", &self.only)
            .field("time_budget", &self.time_budget)
            .finish_non_exhaustive()
    }
}
