//! The `techconf` binary, run as a user would.
use std::process::Command;

use techconf::domain::Role;

use crate::helpers::{Backend, new_database};
use crate::support::techconf;

#[tokio::test]
async fn token_create_prints_a_working_token_once() {
    let database = new_database(Backend::Sqlite).await;
    let out = techconf(database.url())
        .args(token_create("ci", "integrator", Some("default")))
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_owned();
    assert!(token.starts_with("tc_"), "{token}");

    let auth = authenticate(database.url(), &token).await;
    assert!(matches!(auth, techconf::auth::Authentication::Authenticated(p) if p.name == "ci"));
}

/// The arguments of `token create` for a token `name` with `role`, in `org` if given.
fn token_create<'a>(name: &'a str, role: &'a str, org: Option<&'a str>) -> Vec<&'a str> {
    let mut args = vec!["token", "create", "--name", name, "--role", role];
    args.extend(org.into_iter().flat_map(|org| ["--org", org]));
    args
}

/// What the server would make of `token`.
async fn authenticate(database_url: &str, token: &str) -> techconf::auth::Authentication {
    let db = techconf::db::connect(&techconf::config::DatabaseUrl::new(database_url))
        .await
        .unwrap();
    techconf::auth::Authenticator::new(None)
        .authenticate(&db, Some(token))
        .await
        .unwrap()
}

#[tokio::test]
async fn tokens_are_listed_and_revoked_from_the_command_line() {
    let database = new_database(Backend::Sqlite).await;
    let run = |args: &[&str]| techconf(database.url()).args(args).output().unwrap();
    let created = run(&token_create("ci", "integrator", Some("default")));
    assert!(created.status.success());
    let token = String::from_utf8(created.stdout).unwrap().trim().to_owned();

    let listed = String::from_utf8(run(&["token", "list"]).stdout).unwrap();
    let row = listed.lines().find(|l| l.starts_with("ci\t")).unwrap();
    assert!(
        row.starts_with("ci\tintegrator\tdefault\t") && row.ends_with("\t-"),
        "{listed}"
    );
    assert!(!listed.contains(&token), "the list never shows a token");

    let revoked = run(&["token", "revoke", "ci"]);
    assert!(revoked.status.success());
    assert!(String::from_utf8_lossy(&revoked.stdout).contains("revoked 1"));
    let listed = String::from_utf8(run(&["token", "list"]).stdout).unwrap();
    let row = listed.lines().find(|l| l.starts_with("ci\t")).unwrap();
    assert!(!row.ends_with("\t-"), "revoked: {listed}");

    let again = run(&["token", "revoke", "ci"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("no live token"));
    assert_eq!(
        authenticate(database.url(), &token).await,
        techconf::auth::Authentication::Invalid
    );
}

/// `org create` prints the new organization's id; tokens are made in it with `--org`, and
/// operator tokens without one.
#[tokio::test]
async fn organizations_and_their_tokens_are_created_from_the_command_line() {
    let database = new_database(Backend::Sqlite).await;
    let run = |args: &[&str]| techconf(database.url()).args(args).output().unwrap();
    let stdout =
        |out: &std::process::Output| String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let created = run(&["org", "create", "Acme Events", "--rate-per-second", "50"]);
    assert!(created.status.success(), "{created:?}");
    let id: uuid::Uuid = stdout(&created).parse().expect("the id is printed");
    assert!(
        !run(&["org", "create", "Acme Events"]).status.success(),
        "names are unique"
    );

    for (name, role, org, expected) in [
        ("a", "admin", Some("Acme Events"), (Role::Admin, Some(id))),
        ("ops", "operator", None, (Role::Operator, None)),
    ] {
        let created = run(&token_create(name, role, org));
        assert!(created.status.success(), "{created:?}");
        match authenticate(database.url(), &stdout(&created)).await {
            techconf::auth::Authentication::Authenticated(p) => {
                assert_eq!((p.role, p.organization_id), expected);
            }
            other => panic!("{other:?}"),
        }
    }
    // An organization role needs its organization; an operator has none; names must exist.
    for args in [
        token_create("x", "admin", None),
        token_create("x", "operator", Some("Acme Events")),
        token_create("x", "admin", Some("Nobody")),
    ] {
        let stderr = refused(database.url(), &[], &args);
        assert!(stderr.contains("organization"), "{stderr}");
    }
    let listed = stdout(&run(&["org", "list"]));
    assert!(
        listed.contains(&format!("{id}\tAcme Events\t50")),
        "{listed}"
    );
    assert!(listed.contains("\tdefault\t-"), "{listed}");
    let off = run(&["org", "set-rate", "Acme Events", "--off"]);
    assert!(stdout(&off).contains("no send rate limit"), "{off:?}");
}

/// Runs the binary on `database_url` with `env` and `args`, which it must refuse: what it
/// wrote to stderr.
fn refused(database_url: &str, env: &[(&str, &str)], args: &[&str]) -> String {
    let out = techconf(database_url)
        .envs(env.iter().copied())
        .args(args)
        .output()
        .unwrap();
    assert!(!out.status.success(), "{args:?} was accepted");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test]
async fn bad_configuration_is_refused_naming_the_variable() {
    let database = new_database(Backend::Sqlite).await;
    let listen = [("TECHCONF_LISTEN", "not-an-address")];
    let stderr = refused(database.url(), &listen, &["migrate"]);
    assert!(stderr.contains("TECHCONF_LISTEN"), "{stderr}");

    let stderr = refused(database.url(), &[], &token_create("x", "root", None));
    assert!(stderr.contains("root"), "{stderr}");
}

#[tokio::test]
async fn serve_refuses_a_postgres_database_with_pending_migrations() {
    let database = new_database(Backend::Postgres).await;
    let listen = [("TECHCONF_LISTEN", "127.0.0.1:0")];
    let stderr = refused(database.url(), &listen, &["serve"]);
    assert!(stderr.contains("pending migration"), "{stderr}");
}

#[test]
fn schema_command_prints_the_committed_schema() {
    let out = Command::new(env!("CARGO_BIN_EXE_techconf"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/schema.graphql")).unwrap();
    assert!(
        String::from_utf8(out.stdout).unwrap() == committed,
        "`techconf schema` prints schema.graphql"
    );
}
