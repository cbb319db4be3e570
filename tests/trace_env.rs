//! `CORIO_TRACE`: the environment variable that traces every runtime built
//! without a trace path of its own. A test binary of its own, with one
//! test, because the environment is shared by every thread of a process.

use std::time::Duration;

#[test]
fn corio_trace_names_the_file_every_runtime_writes_to() {
    let dir = std::env::temp_dir().join(format!("corio-trace-env-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();

    // A path that cannot be written: building a runtime fails, naming it.
    let unwritable = dir.join("missing/trace.json");
    std::env::set_var("CORIO_TRACE", &unwritable);
    let error = corio::Runtime::new().expect_err("the trace file cannot be created");
    let message = error.to_string();
    assert!(message.contains("cannot write the trace file"), "{message}");
    assert!(message.contains(&unwritable.display().to_string()), "{message}");
    // `corio::block_on` builds its runtime the same way, and panics with it.
    let panic =
        std::panic::catch_unwind(|| corio::block_on(async {})).expect_err("block_on cannot build a runtime");
    let panic = panic.downcast_ref::<String>().cloned().unwrap_or_default();
    assert!(panic.contains("cannot write the trace file"), "{panic}");

    // A writable one: the program is unchanged, and its trace is written
    // when the runtime is dropped.
    let path = dir.join("trace.json");
    std::env::set_var("CORIO_TRACE", &path);
    std::env::set_var("CORIO_TRACE_QUIET", "1");
    let total = corio::block_on(async {
        let slow = corio::spawn(async {
            corio::time::sleep(Duration::from_millis(1)).await;
            40
        });
        let fast = corio::spawn(async { 2 });
        slow.await.unwrap() + fast.await.unwrap()
    });
    assert_eq!(total, 42);
    let trace: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let polls = trace["traceEvents"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["ph"] == "X" && e["name"] == "poll")
        .count();
    assert_eq!(polls, 3, "two polls of the slow task, one of the fast one");
    // A runtime given its own path ignores the variable.
    let own = dir.join("own.json");
    drop(corio::Runtime::builder().trace(&own).build().unwrap());
    assert!(own.exists());

    std::env::remove_var("CORIO_TRACE");
    std::fs::remove_dir_all(&dir).unwrap();
}
