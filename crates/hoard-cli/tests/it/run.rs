//! `hoard run`: a command's standard output memoized under a key. Each command appends a
//! line to a file every time it really runs, so the tests count runs without timing
//! anything.

use crate::Env;

/// A shell command that records each run in `runs` and prints `out`, then exits `code`:
/// `sh` on Unix, `cmd` on Windows (`out` is plain words: no quoting either shell needs).
fn counted(env: &Env, out: &str, code: i32) -> Vec<String> {
    let runs = env.path("runs");
    if cfg!(windows) {
        // `set /p` with no input prints its prompt without a line end, as `printf` does.
        return vec![
            "cmd".to_owned(),
            "/c".to_owned(),
            format!(
                "echo run>>{}& <nul set /p ={out}& exit /b {code}",
                runs.display()
            ),
        ];
    }
    vec![
        "sh".to_owned(),
        "-c".to_owned(),
        format!(
            "echo run >> '{}'; printf '%s' '{out}'; exit {code}",
            runs.display()
        ),
    ]
}

fn runs(env: &Env) -> usize {
    std::fs::read_to_string(env.path("runs")).map_or(0, |t| t.lines().count())
}

fn hoard_run(env: &Env, key: Option<&str>, command: &[String]) -> crate::Run {
    let mut args: Vec<String> = vec!["run".to_owned()];
    if let Some(k) = key {
        args.extend(["--key".to_owned(), k.to_owned()]);
    }
    args.push("--".to_owned());
    args.extend(command.iter().cloned());
    env.run(&args)
}

#[test]
fn a_hit_prints_the_stored_output_without_running_the_command() {
    let env = Env::new();
    let cmd = counted(&env, "compiled bytes", 0);
    let first = hoard_run(&env, Some("job 1"), &cmd).expect_code(0);
    assert_eq!(first.stdout(), "compiled bytes");
    let second = hoard_run(&env, Some("job 1"), &cmd).expect_code(0);
    assert_eq!(second.stdout(), "compiled bytes");
    assert_eq!(runs(&env), 1, "the hit did not run the command");
    // The entry is an ordinary one: `get KEY` reads it.
    let got = env.run(&["get", "job 1"]).expect_code(0);
    assert_eq!(got.stdout(), "compiled bytes");
}

#[test]
fn only_a_zero_exit_status_is_stored_and_the_status_is_passed_on() {
    let env = Env::new();
    let failing = counted(&env, "partial", 3);
    let r = hoard_run(&env, Some("job"), &failing).expect_code(3);
    assert_eq!(r.stdout(), "partial", "the output is passed through");
    hoard_run(&env, Some("job"), &failing).expect_code(3);
    assert_eq!(runs(&env), 2, "a failure is not memoized");
    env.run(&["get", "job"]).expect_code(1);
}

// Signals are Unix's.
#[cfg(unix)]
#[test]
fn a_command_killed_by_a_signal_exits_128_plus_its_number_and_stores_nothing() {
    let env = Env::new();
    // A signal's death is 128 + its number, and stores nothing.
    let killed = vec![
        "sh".to_owned(),
        "-c".to_owned(),
        "printf x; kill -TERM $$".to_owned(),
    ];
    hoard_run(&env, Some("killed"), &killed).expect_code(128 + 15);
    env.run(&["get", "killed"]).expect_code(1);
}

#[test]
fn without_a_key_the_command_line_is_the_key() {
    let env = Env::new();
    let a = counted(&env, "a", 0);
    hoard_run(&env, None, &a).expect_code(0);
    hoard_run(&env, None, &a).expect_code(0);
    assert_eq!(runs(&env), 1);
    // Another command line (here one more argument) is another key.
    let mut b = counted(&env, "a", 0);
    b.push("extra".to_owned());
    hoard_run(&env, None, &b).expect_code(0);
    assert_eq!(runs(&env), 2);
}

#[test]
fn output_over_the_max_entry_size_is_passed_through_but_not_stored() {
    let env = Env::new();
    let config = env.file("config.toml", b"[cache]\nmax-entry-size = \"100\"\n");
    let big = "y".repeat(300);
    let cmd = counted(&env, &big, 0);
    let mut args = vec![
        "--config".to_owned(),
        config.display().to_string(),
        "run".to_owned(),
        "--key".to_owned(),
        "big".to_owned(),
        "--".to_owned(),
    ];
    args.extend(cmd);
    let r = env.run(&args).expect_code(0);
    assert_eq!(r.stdout(), big);
    assert!(r.stderr.contains("max-entry-size"), "{}", r.stderr);
    env.run(&args).expect_code(0);
    assert_eq!(runs(&env), 2);
}

#[test]
fn a_command_that_cannot_start_is_one_line_and_status_2() {
    let env = Env::new();
    let r = hoard_run(&env, Some("k"), &["/nonexistent/tool".to_owned()]).expect_code(2);
    assert!(
        r.one_error_line().contains("cannot run /nonexistent/tool"),
        "{}",
        r.stderr
    );
    env.run(&["run", "--key", "k"]).expect_code(2);
}

#[test]
fn run_has_a_man_page_and_help() {
    let env = Env::new();
    let man = env.run_bare(&["man", "run"]).expect_code(0).stdout();
    assert!(
        man.contains("hoard\\-run") && man.contains("\\-\\-key"),
        "{man}"
    );
    let help = env.run_bare(&["run", "--help"]).expect_code(0).stdout();
    assert!(help.contains("CMD"), "{help}");
    let top = env.run_bare(&["man"]).expect_code(0).stdout();
    assert!(top.contains("run"), "{top}");
}

#[test]
fn concurrent_runs_of_one_key_run_the_command_once() {
    const PROCESSES: usize = 4;
    const KEYS: usize = 3;
    let env = Env::new();
    // Slow enough that the runs overlap; if one does not, it finds the entry and does not
    // run either, so the count holds whatever the scheduling.
    let children: Vec<_> = (0..PROCESSES * KEYS)
        .map(|i| {
            let key = format!("key {}", i % KEYS);
            let runs = env.path("runs");
            let mut cmd = env.command();
            cmd.arg("--dir").arg(env.dir());
            if cfg!(windows) {
                // No pause: the count holds however the runs are scheduled (see above).
                // cmd's `>>` is no atomic append (concurrent runs lose lines), so each run
                // writes a file of its own, named by the hoard process that ran it.
                cmd.env(RUN_ID_ENV, i.to_string())
                    .args(["run", "--key", &key, "--", "cmd", "/c"])
                    .arg(format!(
                        "echo run>{}-%{RUN_ID_ENV}%& <nul set /p ={key} output& exit /b 0",
                        runs.display()
                    ));
            } else {
                cmd.args(["run", "--key", &key, "--", "sh", "-c"])
                    .arg(format!(
                        "echo run >> '{}'; sleep 0.3; printf '%s' '{key} output'",
                        runs.display()
                    ));
            }
            cmd.stdout(std::process::Stdio::piped());
            (key, cmd.spawn().expect("hoard starts"))
        })
        .collect();
    for (key, child) in children {
        let out = child.wait_with_output().expect("hoard ends");
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{key} output")
        );
    }
    let ran = if cfg!(windows) {
        std::fs::read_dir(env.path(""))
            .expect("the test directory")
            .filter(|e| {
                e.as_ref()
                    .is_ok_and(|e| e.file_name().to_string_lossy().starts_with("runs-"))
            })
            .count()
    } else {
        runs(&env)
    };
    assert_eq!(ran, KEYS, "each key's command ran once");
}

/// The variable that names a run's file in the concurrent test on Windows.
const RUN_ID_ENV: &str = "HOARD_IT_RUN_ID";
