//! The command with a `[cache.remote]` table: two `hoard` processes with their own cache
//! directories ("machines") share entries through real Redis, memcached and S3 (moto)
//! servers; `stats` shows the lifetime remote counters; `config show` shows the table; a dead
//! remote costs a miss, and only the first process after it died tries it.

use std::fs;

use hoard_testkit::servers::{Kind, Server};

use crate::Env;

/// A machine: its own home, cache directory and configuration file naming the remote.
fn machine(server: &Server) -> Env {
    let env = Env::new();
    let remote = match server.kind() {
        Kind::S3 => format!(
            "url = \"{}\"\nendpoint = \"{}\"\n",
            server.url("cli"),
            server.endpoint()
        ),
        _ => format!("url = \"{}\"\nprefix = \"cli\"\n", server.url("")),
    };
    let config = format!(
        "[cache]\nnamespace = \"cli-remote\"\n\n[cache.remote]\n{remote}timeout = \"500ms\"\n"
    );
    #[expect(
        clippy::disallowed_methods,
        reason = "test fixture: a configuration file in a temporary home"
    )]
    fs::write(env.path("config.toml"), config).expect("config written");
    env
}

/// Runs `hoard --config <machine's> --dir <machine's> ARGS`, with S3 credentials in the
/// environment, the only place they are read from (moto checks no signature but refuses
/// anonymous requests).
fn run(env: &Env, args: &[&str]) -> crate::Run {
    let mut cmd = env.command();
    cmd.arg("--dir")
        .arg(env.dir())
        .arg("--config")
        .arg(env.path("config.toml"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "hoard-test")
        .env("AWS_SECRET_ACCESS_KEY", "hoard-test");
    crate::finish(cmd)
}

/// A put by one `hoard` process is a byte-for-byte hit for another with its own directory;
/// returns the server and the two machines for more checks.
fn share(kind: Kind) -> (Server, Env, Env) {
    let server = Server::start(kind);
    let (a, b) = (machine(&server), machine(&server));
    let value = crate::noise(11, 200_000);
    let input = a.path("input.bin");
    #[expect(
        clippy::disallowed_methods,
        reason = "test fixture: the value to store"
    )]
    fs::write(&input, &value).expect("input written");
    run(&a, &["put", "module.o", input.to_str().expect("utf-8")]).expect_code(0);
    let got = run(&b, &["get", "module.o"]).expect_code(0);
    assert_eq!(
        got.stdout, value,
        "{kind:?}: byte for byte on the other machine"
    );
    let stats = run(&b, &["stats", "--json"]).expect_code(0).json();
    assert_eq!(stats["entries"], 1, "{kind:?}: backfilled: {stats}");
    assert_eq!(
        stats["remote"]["counters"]["tier.remote_hits"], 1,
        "{kind:?}: {stats}"
    );
    (server, a, b)
}

#[test]
fn two_processes_share_through_memcached() {
    share(Kind::Memcached);
}

#[test]
fn two_processes_share_through_s3() {
    share(Kind::S3);
}

#[test]
fn put_on_one_machine_is_a_hit_on_another_and_stats_counts_it() {
    let (server, _a, b) = share(Kind::Redis);
    run(&b, &["get", "absent"]).expect_code(1);

    let stats = run(&b, &["stats", "--json"]).expect_code(0).json();
    assert_eq!(
        stats["entries"], 1,
        "backfilled into B's own directory: {stats}"
    );
    let remote = &stats["remote"];
    assert_eq!(remote["url"], server.url(""), "{stats}");
    assert_eq!(remote["backend"], "redis");
    assert_eq!(remote["counters"]["tier.remote_hits"], 1, "{stats}");
    assert_eq!(remote["counters"]["tier.backfills"], 1, "{stats}");
    assert_eq!(remote["counters"]["tier.misses"], 1, "{stats}");
    let text = run(&b, &["stats"]).expect_code(0).stdout();
    assert!(text.contains("remote         redis://"), "{text}");
    assert!(text.contains("tier.remote_hits"), "{text}");
    assert!(
        text.contains("50.0% of local misses") || text.contains("50% of local misses"),
        "{text}"
    );

    let zeroed = run(&b, &["stats", "--zero", "--json"])
        .expect_code(0)
        .json();
    assert_eq!(zeroed["remote"]["counters"]["tier.remote_hits"], 1);
    let after = run(&b, &["stats", "--json"]).expect_code(0).json();
    assert!(
        after["remote"]["counters"]
            .as_object()
            .is_some_and(|c| c.is_empty()),
        "{after}"
    );

    let shown = run(&b, &["config", "show"]).expect_code(0).stdout();
    assert!(
        shown.contains("[cache.remote]") && shown.contains("prefix = \"cli\""),
        "{shown}"
    );
    // Every key of the default file's remote table, none invented.
    let default = b.path("default.toml");
    b.run_bare(&["config", "new", crate::s(&default)])
        .expect_code(0);
    let text = fs::read_to_string(&default).expect("written");
    let (_, remote_part) = text.split_once("# [cache.remote]").expect("remote table");
    let listed: Vec<&str> = remote_part
        .lines()
        .filter_map(|l| l.strip_prefix("# ")?.split_once(" = ").map(|(k, _)| k))
        .collect();
    let (_, shown_remote) = shown.split_once("[cache.remote]").expect("table");
    for key in [
        "url",
        "prefix",
        "timeout",
        "connect-timeout",
        "cooldown",
        "write-policy",
        "read-only",
        "max-item-size",
    ] {
        assert!(listed.contains(&key), "{key} missing from the default file");
        assert!(
            shown_remote.contains(&format!("\n{key} = ")),
            "{key} missing from show: {shown}"
        );
    }
}

#[test]
fn a_dead_remote_costs_a_miss_not_a_failure() {
    let mut server = Server::start(Kind::Redis);
    let a = machine(&server);
    server.kill();
    let input = a.path("input.bin");
    #[expect(
        clippy::disallowed_methods,
        reason = "test fixture: the value to store"
    )]
    fs::write(&input, b"value").expect("input written");
    run(&a, &["put", "k", input.to_str().expect("utf-8")]).expect_code(0);
    let got = run(&a, &["get", "k"]).expect_code(0);
    assert_eq!(got.stdout, b"value", "served locally");
    run(&a, &["get", "other"]).expect_code(1);
    run(&a, &["get", "another"]).expect_code(1);
    // Only the first process tried the refused server (once, failing at once rather than
    // at the timeout); the later ones honoured the cool-down it recorded in the directory.
    let stats = run(&a, &["stats", "--json"]).expect_code(0).json();
    let counters = &stats["remote"]["counters"];
    assert_eq!(counters["remote.connect_failures"], 1, "{stats}");
    assert_eq!(counters["remote.bypassed"], 2, "{stats}");
    for zero in ["remote.timeouts", "remote.probes"] {
        assert_eq!(counters[zero].as_u64().unwrap_or(0), 0, "{zero}: {stats}");
    }
}

#[test]
fn run_takes_the_remote_lease_and_stats_counts_it() {
    let server = Server::start(Kind::Redis);
    let (a, b) = (machine(&server), machine(&server));
    for env in [&a, &b] {
        let path = env.path("config.toml");
        let text = fs::read_to_string(&path).expect("config read") + "lease = true\n";
        #[expect(
            clippy::disallowed_methods,
            reason = "test fixture: a configuration file in a temporary home"
        )]
        fs::write(&path, text).expect("config written");
    }
    let first = run(&a, &["run", "--key", "leased", "--", "echo", "computed"]).expect_code(0);
    assert_eq!(first.stdout, b"computed\n");
    // The other machine reads it from the remote: `false` never runs.
    let second = run(&b, &["run", "--key", "leased", "--", "false"]).expect_code(0);
    assert_eq!(second.stdout, b"computed\n");
    let stats = run(&a, &["stats", "--json"]).expect_code(0).json();
    let counters = &stats["remote"]["counters"];
    assert_eq!(counters["remote.lease_wins"], 1, "{stats}");
    for zero in ["remote.lease_losses", "remote.lease_failures"] {
        assert_eq!(counters[zero].as_u64().unwrap_or(0), 0, "{zero}: {stats}");
    }
    let shown = run(&a, &["config", "show"]).expect_code(0).stdout();
    assert!(
        shown.contains("\nlease = true\nlease-ttl = \"30s\"\n"),
        "{shown}"
    );
}
