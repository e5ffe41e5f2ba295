//! Secrets never appear in logs or errors: every setting that can hold one, given a bad
//! value, stops the real `techconf` binary with a message naming the variable and not the
//! secret; and a real `serve` (with worker and Service Bus relay) and `migrate` log none.
use std::process::Stdio;
use std::time::Duration;

use testkit::db::TestDatabase;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

const SECRET: &str = "S3CRETxyzzy";

fn techconf(args: &[&str], env: &[(&str, String)]) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_techconf"));
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("RUST_LOG", "debug")
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `techconf migrate` with `env`; returns its exit success and everything it printed.
async fn migrate_output(env: &[(&str, String)]) -> (bool, String) {
    let output = tokio::time::timeout(
        Duration::from_secs(60),
        techconf(&["migrate"], env).output(),
    )
    .await
    .expect("migrate finishes")
    .expect("the techconf binary runs");
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

#[tokio::test]
async fn bad_values_of_secret_settings_are_reported_without_the_secret() {
    let sqlite = TestDatabase::sqlite();
    let good_db = sqlite.url().to_owned();
    let sb = |s: &str| ("SERVICEBUS_CONNECTION_STRING", s.to_owned());
    let cases: Vec<(&str, Vec<(&str, String)>)> = vec![
        (
            "MAIL_URL",
            vec![(
                "MAIL_URL",
                format!("smtp://me:{SECRET}@mail.example.org:notaport"),
            )],
        ),
        (
            "MAIL_URL",
            vec![(
                "MAIL_URL",
                format!("smtp://me:{SECRET}@mail.example.org?tls=maybe"),
            )],
        ),
        (
            "MAIL_URL",
            vec![("MAIL_URL", format!("ftp://me:{SECRET}@mail.example.org"))],
        ),
        (
            "DATABASE_URL",
            vec![(
                "DATABASE_URL",
                format!("mysql://me:{SECRET}@db/x?password={SECRET}"),
            )],
        ),
        (
            "DATABASE_URL",
            vec![(
                "DATABASE_URL",
                format!("postgres://me:{SECRET}@127.0.0.1:1/x?password={SECRET}"),
            )],
        ),
        (
            "DATABASE_URL",
            vec![("DATABASE_URL", format!("postgres://me:{SECRET}@[::1/x"))],
        ),
        (
            "DATABASE_URL",
            vec![(
                "DATABASE_URL",
                format!("{good_db}&password={SECRET}&token={SECRET}"),
            )],
        ),
        (
            "SERVICEBUS_CONNECTION_STRING",
            vec![sb(&format!(
                "SharedAccessKeyName=app;SharedAccessKey={SECRET}"
            ))],
        ),
        (
            "SERVICEBUS_CONNECTION_STRING",
            vec![sb(&format!(
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessSignature=SharedAccessSignature sr=x&sig={SECRET}&se=1"
            ))],
        ),
        (
            "SERVICEBUS_CONNECTION_STRING",
            vec![sb(&format!(
                "Endpoint=sb://ns.servicebus.windows.net/;SharedAccessKeyName=app;SharedAccessKey={SECRET};Bogus={SECRET}"
            ))],
        ),
        (
            "TECHCONF_ADMIN_TOKEN",
            vec![("TECHCONF_ADMIN_TOKEN", SECRET.to_owned())],
        ),
    ];
    for (variable, mut env) in cases {
        if !env.iter().any(|(k, _)| *k == "DATABASE_URL") {
            env.push(("DATABASE_URL", good_db.clone()));
        }
        let (ok, output) = migrate_output(&env).await;
        assert!(!ok, "{variable} {env:?} was accepted: {output}");
        assert!(
            output.contains(variable) || output.contains("connecting to"),
            "the error does not name {variable}: {output}"
        );
        assert!(!output.contains(SECRET), "{variable} leaked: {output}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_and_migrate_log_no_secret() {
    let database = TestDatabase::postgres().await;
    // Trust authentication ignores the password, so the server starts with one in both the
    // user info and the query string.
    let mut url = url::Url::parse(database.url()).unwrap();
    url.set_password(Some(&format!("{SECRET}-userinfo")))
        .unwrap();
    url.query_pairs_mut()
        .append_pair("password", &format!("{SECRET}-query"));
    let env = vec![
        ("DATABASE_URL", url.to_string()),
        ("TECHCONF_LISTEN", "127.0.0.1:0".to_owned()),
        (
            "MAIL_URL",
            format!("smtp://mailer:{SECRET}-mail@127.0.0.1:1"),
        ),
        ("TECHCONF_ADMIN_TOKEN", format!("{SECRET}-admin-token")),
        (
            "SERVICEBUS_CONNECTION_STRING",
            format!(
                "Endpoint=sb://techconf.servicebus.windows.net/;SharedAccessKeyName=app;SharedAccessKey={SECRET}-sb"
            ),
        ),
        // Nothing listens here: the relay logs its failures, which must not carry the key.
        ("SERVICEBUS_ENDPOINT", "http://127.0.0.1:1".to_owned()),
        ("SERVICEBUS_RELAY_BATCH", "1".to_owned()),
    ];
    let (ok, migrated) = migrate_output(&env).await;
    assert!(ok, "{migrated}");
    assert!(!migrated.contains(SECRET), "migrate leaked: {migrated}");

    let mut serve = techconf(&["serve", "--with-worker"], &env)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = serve.stderr.take().unwrap();
    let mut lines = BufReader::new(stderr).lines();
    let mut log = String::new();
    // Read until the worker's Service Bus client has failed a few times, or 10 s pass.
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        let mut failures = 0;
        while let Ok(Some(line)) = lines.next_line().await {
            log.push_str(&line);
            log.push('\n');
            if line.contains("Service Bus request failed") {
                failures += 1;
                if failures >= 3 {
                    break;
                }
            }
        }
    })
    .await;
    serve.kill().await.unwrap();
    assert!(log.contains("serving"), "the server did not start: {log}");
    assert!(
        log.contains("Service Bus request failed"),
        "the failing Service Bus path was not exercised: {log}"
    );
    assert!(!log.contains(SECRET), "serve leaked a secret: {log}");
}
