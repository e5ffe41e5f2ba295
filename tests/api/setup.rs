//! `make test`'s setup step (scripts/setup-test-deps.sh) on a machine without `smtp-sink`:
//! PATH holds only stubs and the system's /usr/bin and /bin, so Postfix's /usr/sbin/smtp-sink
//! is out of sight. A stub `apt-get` records what it is asked and "installs" postfix by
//! putting an `smtp-sink` into the stub directory; a stub `id` plays root or a plain user.
use std::path::Path;
use std::process::{Command, Output};

use testkit::TempDir;

fn stub(dir: &Path, name: &str, body: &str) {
    use std::os::unix::fs::PermissionsExt;
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A stub directory with `apt-get` (logging to `apt.log`) and `id -u` printing `uid`.
fn machine(uid: u32) -> TempDir {
    let dir = TempDir::new("setup").unwrap();
    let bin = dir.path();
    stub(
        bin,
        "apt-get",
        &format!(
            "echo \"$*\" >> {log}\ncase \"$*\" in *install*postfix*) printf '#!/bin/sh\\n' > {sink}; chmod +x {sink};; esac",
            log = bin.join("apt.log").display(),
            sink = bin.join("smtp-sink").display(),
        ),
    );
    stub(bin, "id", &format!("echo {uid}"));
    // No password-less sudo on this machine.
    stub(bin, "sudo", "exit 1");
    dir
}

fn setup_smtp_sink(machine: &TempDir) -> Output {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/setup-test-deps.sh");
    Command::new(script)
        .arg("smtp-sink")
        .env_clear()
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", machine.path().display()),
        )
        .output()
        .expect("the setup script runs")
}

fn apt_log(machine: &TempDir) -> String {
    std::fs::read_to_string(machine.path().join("apt.log")).unwrap_or_default()
}

#[test]
fn setup_installs_postfix_when_smtp_sink_is_missing_and_then_does_nothing() {
    let machine = machine(0);
    let first = setup_smtp_sink(&machine);
    let said = String::from_utf8_lossy(&first.stdout);
    assert!(
        first.status.success(),
        "{said}{}",
        String::from_utf8_lossy(&first.stderr)
    );
    assert!(
        said.contains("installing postfix (for Postfix's smtp-sink) with apt-get"),
        "{said}"
    );
    let sink = machine.path().join("smtp-sink");
    assert!(
        said.contains(&format!("ok: smtp-sink at {}", sink.display())),
        "{said}"
    );
    assert_eq!(
        apt_log(&machine),
        "update -qq\ninstall -y -qq --no-install-recommends postfix\n"
    );

    // Idempotent: a second run finds it and installs nothing.
    let second = setup_smtp_sink(&machine);
    assert!(second.status.success());
    let said = String::from_utf8_lossy(&second.stdout);
    assert!(!said.contains("installing"), "{said}");
    assert_eq!(apt_log(&machine).lines().count(), 2);
}

#[test]
fn setup_without_root_names_the_missing_piece_and_its_install_command() {
    let machine = machine(1000);
    let out = setup_smtp_sink(&machine);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        stderr,
        "setup: Postfix's smtp-sink is missing; install it with: \
         sudo apt-get install -y --no-install-recommends postfix\n"
    );
    assert_eq!(apt_log(&machine), "", "nothing is attempted");
}
