//! SmtpSink (Postfix smtp-sink) driven by lettre.

use std::time::Duration;

use lettre::AsyncTransport;

use testkit::SmtpSink;

use crate::mail;

#[tokio::test]
async fn records_messages_sent_through_one_transport() {
    let sink = SmtpSink::start();
    assert_eq!(sink.url(), format!("smtp://127.0.0.1:{}", sink.port()));
    let transport = sink.transport();

    let first = mail(
        "TechConf <noreply@techconf.test>",
        &["alice@example.org", "bob@example.org"],
        "Your ticket for TechConf Köln",
        "Hello\n.dot line\nbye\n",
    );
    let first_id = first.headers().get_raw("Message-ID").unwrap().to_owned();
    transport.send(first).await.unwrap();
    for i in 1..3 {
        transport
            .send(mail(
                "noreply@techconf.test",
                &["carol@example.org"],
                &format!("Reminder {i}"),
                "x",
            ))
            .await
            .unwrap();
    }

    let messages = sink
        .wait_for_count(3, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(messages.len(), 3);
    assert_eq!(sink.completed_count(), 3);
    let first = messages
        .iter()
        .find(|m| m.message_id.as_deref() == Some(first_id.as_str()))
        .expect("first message");
    assert_eq!(first.envelope_from, "noreply@techconf.test");
    assert_eq!(
        first.recipients,
        vec!["alice@example.org", "bob@example.org"]
    );
    assert_eq!(
        first.subject.as_deref(),
        Some("Your ticket for TechConf Köln")
    );
    assert_eq!(
        first.to.as_deref(),
        Some("alice@example.org, bob@example.org")
    );
    // smtp-sink un-stuffs dots and strips CRs.
    assert!(
        first.body_text().contains("\n.dot line\nbye\n"),
        "{:?}",
        first.body_text()
    );
    let mut reminders: Vec<_> = messages
        .iter()
        .filter(|m| m.recipients == ["carol@example.org"])
        .filter_map(|m| m.subject.clone())
        .collect();
    reminders.sort();
    assert_eq!(reminders, vec!["Reminder 1", "Reminder 2"]);

    let err = sink
        .wait_for_count(4, Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!((err.expected, err.received), (4, 3));
}

#[test]
fn drop_kills_the_process_and_removes_the_dump_dir() {
    let sink = SmtpSink::start();
    let pid = sink.pid();
    let dir = sink.dump_dir().to_path_buf();
    assert!(std::path::Path::new(&format!("/proc/{pid}")).exists());
    assert!(dir.is_dir());
    drop(sink);
    assert!(
        !std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "smtp-sink still running"
    );
    assert!(!dir.exists());
}
