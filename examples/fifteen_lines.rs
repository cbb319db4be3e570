//! The README's fifteen-line program, as it is there: two tasks on one
//! thread, one of them sleeping, the `block_on` future awaiting both.
//!
//! Run it with a trace to watch it suspend and resume (no code change: the
//! `CORIO_TRACE` environment variable turns tracing on), then draw it:
//!
//! ```text
//! CORIO_TRACE=target/fifteen_lines.json cargo run --example fifteen_lines
//! cargo run --example trace_plot -- target/fifteen_lines.json target/fifteen_lines.svg
//! ```
//!
//! `docs/ARCHITECTURE.md` ("The `block_on` loop") walks through the same
//! run step by step; `docs/img/fifteen_lines.svg` is its picture.

use std::time::Duration;

fn main() {
    let total = corio::block_on(async {
        // Tasks run concurrently on this one thread: no Send, no locks.
        let slow = corio::spawn(async {
            corio::time::sleep(Duration::from_millis(5)).await;
            40
        });
        let fast = corio::spawn(async { 2 });
        slow.await.unwrap() + fast.await.unwrap()
    });
    assert_eq!(total, 42);
    println!("{total}");
}
