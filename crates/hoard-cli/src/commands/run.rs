//! `hoard run [--key KEY] -- CMD [ARGS...]`: a command's standard output, memoized.

use std::ffi::OsString;
use std::io::{self, Read, Write};
use std::process::{Command, Stdio};

use crate::context::Settings;
use crate::error::{CliError, CliResult, Status};
use crate::output::Output;

/// The key of `hoard run` without `--key`: the command line, each argument's bytes after a
/// tag and its length (little-endian u64), so that no two command lines share a key
/// (`a b` and `"a b"` differ), and none equals a `--key` string (which is hashed alone).
/// The bytes are the platform's encoding of each argument (the bytes themselves on Unix).
pub(crate) fn default_key(command: &[OsString]) -> Vec<u8> {
    let mut key = b"hoard run\0".to_vec();
    for arg in command {
        let bytes = arg.as_encoded_bytes();
        key.extend_from_slice(&(bytes.len() as u64).to_le_bytes());
        key.extend_from_slice(bytes);
    }
    key
}

/// `hoard run`: on a hit, the stored output and status 0 without running anything; on a
/// miss, takes the key's single-flight turn (another `hoard run` of the key in progress is
/// waited for, and its output printed), then runs the command (standard input and error inherited), passes its standard output
/// through as it comes, and stores it if the command exited 0 and the output fits under
/// `max-entry-size`. The status is the command's (128 + the signal's number if a signal
/// ended it). A cache that cannot be opened is a warning: the command still runs.
pub(crate) fn run(
    settings: &Settings,
    out: Output,
    key_text: Option<&str>,
    command: &[OsString],
) -> CliResult {
    let Some((program, args)) = command.split_first() else {
        return Err(CliError::new("run needs a command after --"));
    };
    let key_bytes = match key_text {
        Some(k) => k.as_bytes().to_vec(),
        None => default_key(command),
    };
    let shown = key_text.map_or_else(
        || format!("the command line of {}", program.to_string_lossy()),
        |k| format!("key {k:?}"),
    );
    let opened = match settings.open_or_create() {
        Ok(o) => Some(o),
        Err(e) => {
            out.note(&format!("warning: running without the cache: {e}"));
            None
        }
    };
    let key = opened.as_ref().map(|o| o.cache.key(&key_bytes));
    if let (Some(o), Some(key)) = (&opened, &key)
        && let Some(hit) = o.cache.get(key)
    {
        out.detail(&format!("hit: {shown}, {} bytes", hit.len()));
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(&hit)
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::output(&e))?;
        return Ok(Status::Success);
    }
    // Single-flight: another `hoard run` (or program) computing this key right now is
    // waited for, at most the single-flight bound, and its output printed.
    let turn = match (&opened, &key) {
        (Some(o), Some(key)) => Some(o.cache.single_flight(key)),
        _ => None,
    };
    if let (Some(o), Some(key), Some(turn)) = (&opened, &key, &turn)
        && turn.waited()
        && let Some(hit) = o.cache.get(key)
    {
        out.detail(&format!("hit after waiting for another run: {shown}"));
        let mut stdout = io::stdout().lock();
        stdout
            .write_all(&hit)
            .and_then(|()| stdout.flush())
            .map_err(|e| CliError::output(&e))?;
        return Ok(Status::Success);
    }
    let mut child = Command::new(program)
        .args(args)
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| {
            CliError::new(format!(
                "cannot run {}: {}",
                program.to_string_lossy(),
                crate::error::lowercase_first(&e.to_string())
            ))
        })?;
    let max = settings.config.max_entry_size;
    let mut output = Vec::new();
    let mut fits = true;
    let mut passed = Ok(());
    if let Some(mut pipe) = child.stdout.take() {
        let mut stdout = io::stdout().lock();
        let mut buf = vec![0u8; 64 << 10];
        loop {
            let n = match pipe.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    passed = Err(CliError::new(format!(
                        "cannot read the output of {}: {}",
                        program.to_string_lossy(),
                        crate::error::lowercase_first(&e.to_string())
                    )));
                    break;
                }
            };
            let chunk = &buf[..n];
            // Keep reading after our own output failed, so that the command is not stopped
            // by a full pipe; what it printed is then not stored either.
            if passed.is_ok()
                && let Err(e) = stdout.write_all(chunk).and_then(|()| stdout.flush())
            {
                passed = Err(CliError::output(&e));
            }
            if fits && (output.len() + n) as u64 <= max {
                output.extend_from_slice(chunk);
            } else if fits {
                fits = false;
                output = Vec::new();
            }
        }
    }
    let status = child.wait().map_err(|e| {
        CliError::new(format!(
            "cannot wait for {}: {}",
            program.to_string_lossy(),
            crate::error::lowercase_first(&e.to_string())
        ))
    })?;
    passed?;
    #[cfg(unix)]
    let signal = std::os::unix::process::ExitStatusExt::signal(&status);
    #[cfg(not(unix))]
    let signal: Option<i32> = None;
    let code = match (status.code(), signal) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(signal)) => u8::try_from(128 + signal).unwrap_or(255),
        (None, None) => 1,
    };
    if code != 0 {
        out.detail(&format!(
            "not stored: the command exited with status {code}"
        ));
        return Ok(Status::Exited(code));
    }
    if !fits {
        out.note(&format!(
            "not stored: the output is larger than the {max}-byte max entry size (`max-entry-size`)"
        ));
        return Ok(Status::Success);
    }
    if let (Some(o), Some(key)) = (&opened, &key)
        && let Err(e) = o.cache.try_put(key, &output)
    {
        out.note(&format!(
            "warning: the output was not stored under {shown}: {e}"
        ));
    }
    // Released only now: a waiter then finds the entry.
    drop(turn);
    Ok(Status::Success)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_keys_tell_argument_boundaries_apart() {
        let k = |args: &[&str]| default_key(&args.iter().map(OsString::from).collect::<Vec<_>>());
        assert_ne!(k(&["echo", "a b"]), k(&["echo", "a", "b"]));
        assert_ne!(k(&["echo", ""]), k(&["echo"]));
        assert_eq!(k(&["cc", "-c", "x.c"]), k(&["cc", "-c", "x.c"]));
    }
}
