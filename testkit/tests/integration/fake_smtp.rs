//! FakeSmtp driven by lettre and by a raw TCP client.

use std::time::Duration;

use lettre::AsyncTransport;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

use testkit::FakeSmtp;

use crate::mail;

const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn records_messages_over_one_reused_connection() {
    let server = FakeSmtp::start().await;
    assert_eq!(server.url(), format!("smtp://127.0.0.1:{}", server.port()));
    let transport = server.transport();

    let first = mail(
        "TechConf <noreply@techconf.test>",
        &["alice@example.org", "bob@example.org"],
        "Welcome to TechConf Köln",
        "Hello!\n.this line starts with a dot\n..and this one with two\nbye\n",
    );
    let first_id = first.headers().get_raw("Message-ID").unwrap().to_owned();
    transport.send(first).await.unwrap();
    for i in 1..5 {
        let msg = mail(
            "noreply@techconf.test",
            &["carol@example.org"],
            &format!("Reminder {i}"),
            "See you there",
        );
        transport.send(msg).await.unwrap();
    }

    let messages = server.wait_for_count(5, WAIT).await.unwrap();
    assert_eq!(messages.len(), 5);
    let m = &messages[0];
    assert_eq!(m.envelope_from, "noreply@techconf.test");
    assert_eq!(m.recipients, vec!["alice@example.org", "bob@example.org"]);
    assert_eq!(m.subject.as_deref(), Some("Welcome to TechConf Köln"));
    assert_eq!(m.message_id.as_deref(), Some(first_id.as_str()));
    assert_eq!(m.to.as_deref(), Some("alice@example.org, bob@example.org"));
    assert!(m.helo.is_some());
    // lettre dot-stuffs, the server must undo it; data keeps CRLF.
    let body = m.body_text();
    assert!(
        body.contains("\r\n.this line starts with a dot\r\n..and this one with two\r\n"),
        "{body:?}"
    );
    // lettre always appends "\r\n.\r\n", so the data ends with an empty line.
    assert!(m.data.ends_with(b"bye\r\n\r\n"), "{:?}", m.data_text());
    for (i, m) in messages.iter().enumerate().skip(1) {
        assert_eq!(m.subject.as_deref(), Some(format!("Reminder {i}").as_str()));
        assert_eq!(m.recipients, vec!["carol@example.org"]);
    }
    // lettre's pool reuses connections. It recycles a connection into the
    // pool on a spawned task, so a send that follows immediately may open a
    // second one; with 5 sequential sends there are at most 2 connections.
    let connections = server.connections_accepted();
    assert!((1..=2).contains(&connections), "{:?}", server.stats());
    let max_per_session = (1..=connections as u64)
        .map(|s| messages.iter().filter(|m| m.session == Some(s)).count())
        .max()
        .unwrap();
    assert!(
        max_per_session >= 3,
        "no connection carried several messages"
    );
    assert_eq!(server.stats().accepted, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_many_concurrent_connections() {
    let server = FakeSmtp::start().await;
    let transport = server.transport();
    // Burst: 200 sends at once. lettre's pool has no idle connection to hand
    // out, so this opens many simultaneous sessions.
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..200 {
        let transport = transport.clone();
        tasks.spawn(async move {
            let msg = mail(
                "noreply@techconf.test",
                &[&format!("user{i}@example.org")],
                &format!("burst {i}"),
                "body",
            );
            transport.send(msg).await
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap().unwrap();
    }
    let messages = server.wait_for_count(200, WAIT).await.unwrap();
    let mut subjects: Vec<_> = messages.iter().filter_map(|m| m.subject.clone()).collect();
    subjects.sort();
    subjects.dedup();
    assert_eq!(subjects.len(), 200);
    assert!(
        server.connections_accepted() > 1,
        "expected concurrent connections"
    );

    // 4 concurrent senders with their own transport, 10 sequential messages
    // each: every sender reuses its connection(s) (lettre recycles them
    // asynchronously, see `records_messages_over_one_reused_connection`, so
    // the exact number depends on scheduling).
    let before = server.connections_accepted();
    let mut tasks = tokio::task::JoinSet::new();
    for t in 0..4 {
        let transport = server.transport();
        tasks.spawn(async move {
            for i in 0..10 {
                let msg = mail(
                    "noreply@techconf.test",
                    &["a@example.org"],
                    &format!("seq {t}-{i}"),
                    "x",
                );
                transport.send(msg).await.unwrap();
            }
        });
    }
    while let Some(result) = tasks.join_next().await {
        result.unwrap();
    }
    server.wait_for_count(240, WAIT).await.unwrap();
    let opened = server.connections_accepted() - before;
    assert!(
        (4..40).contains(&opened),
        "{opened} connections for 40 messages"
    );
}

#[tokio::test]
async fn rejected_recipient_is_a_permanent_error() {
    let server = FakeSmtp::builder()
        .reject_recipients_containing("bounce")
        .start()
        .await;
    let transport = server.transport();

    let err = transport
        .send(mail(
            "noreply@techconf.test",
            &["Bounce-Me@example.org"],
            "x",
            "x",
        ))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");
    assert_eq!(err.status().map(|c| c.to_string()).as_deref(), Some("550"));
    assert!(err.to_string().contains("5.1.1"), "{err}");

    // Rules can be added at run time through a cloned handle.
    let handle = server.handle();
    handle.reject_recipients_matching(|rcpt| rcpt.ends_with("@blocked.test"));
    let err = transport
        .send(mail(
            "noreply@techconf.test",
            &["ok@example.org", "x@blocked.test"],
            "x",
            "x",
        ))
        .await
        .unwrap_err();
    assert!(err.is_permanent(), "{err:?}");

    transport
        .send(mail(
            "noreply@techconf.test",
            &["ok@example.org"],
            "accepted",
            "x",
        ))
        .await
        .unwrap();
    handle.clear_recipient_rejections();
    transport
        .send(mail(
            "noreply@techconf.test",
            &["bounce@example.org"],
            "accepted too",
            "x",
        ))
        .await
        .unwrap();

    let messages = server.wait_for_count(2, WAIT).await.unwrap();
    assert_eq!(messages.len(), 2);
    assert_eq!(messages[0].subject.as_deref(), Some("accepted"));
    assert_eq!(messages[1].recipients, vec!["bounce@example.org"]);
    assert_eq!(server.stats().rejected_recipients, 2);
}

#[tokio::test]
async fn tempfail_first_n_then_switch() {
    let server = FakeSmtp::builder().tempfail_first(2).start().await;
    let transport = server.transport();
    let send = |subject: &str| {
        transport.send(mail(
            "noreply@techconf.test",
            &["a@example.org"],
            subject,
            "x",
        ))
    };

    for _ in 0..2 {
        let err = send("first").await.unwrap_err();
        assert!(err.is_transient(), "{err:?}");
        assert!(!err.is_permanent());
        assert_eq!(err.status().map(|c| c.to_string()).as_deref(), Some("451"));
    }
    assert_eq!(server.tempfail_remaining(), 0);
    send("third").await.unwrap();

    server.set_tempfail(true);
    let err = send("while switched on").await.unwrap_err();
    assert!(err.is_transient(), "{err:?}");
    server.set_tempfail(false);
    send("after switch").await.unwrap();

    server.tempfail_next(1);
    assert!(send("again").await.unwrap_err().is_transient());
    send("last").await.unwrap();

    let messages = server.wait_for_count(3, WAIT).await.unwrap();
    let subjects: Vec<_> = messages
        .iter()
        .map(|m| m.subject.clone().unwrap())
        .collect();
    assert_eq!(subjects, vec!["third", "after switch", "last"]);
    assert_eq!(server.stats().tempfailed, 4);
}

#[tokio::test]
async fn down_and_up_on_the_same_port() {
    let server = FakeSmtp::start().await;
    let port = server.port();
    let transport = server.transport();
    transport
        .send(mail(
            "noreply@techconf.test",
            &["a@example.org"],
            "before",
            "x",
        ))
        .await
        .unwrap();
    assert!(server.is_up());

    server.down().await;
    assert!(!server.is_up());
    assert!(
        TcpStream::connect(server.addr()).await.is_err(),
        "listener still open"
    );
    let err = transport
        .send(mail(
            "noreply@techconf.test",
            &["a@example.org"],
            "during",
            "x",
        ))
        .await
        .unwrap_err();
    assert!(
        !err.is_permanent() && !err.is_transient(),
        "expected a connection error: {err:?}"
    );

    server.up().await.unwrap();
    assert_eq!(server.port(), port);
    // The same transport recovers (its pooled connection was dropped).
    transport
        .send(mail(
            "noreply@techconf.test",
            &["a@example.org"],
            "after",
            "x",
        ))
        .await
        .unwrap();

    let messages = server.wait_for_count(2, WAIT).await.unwrap();
    let subjects: Vec<_> = messages
        .iter()
        .map(|m| m.subject.clone().unwrap())
        .collect();
    assert_eq!(subjects, vec!["before", "after"]);

    // down/up are idempotent.
    server.up().await.unwrap();
    server.down().await;
    server.down().await;
    server.up().await.unwrap();
    assert!(TcpStream::connect(("127.0.0.1", port)).await.is_ok());
}

#[tokio::test]
async fn wait_for_count_times_out_with_error() {
    let server = FakeSmtp::start().await;
    let handle = server.handle();
    let waiter =
        tokio::spawn(async move { handle.wait_for_count(1, Duration::from_secs(10)).await });
    // The waiter is woken by the notification, not by polling.
    server
        .transport()
        .send(mail(
            "noreply@techconf.test",
            &["a@example.org"],
            "wake",
            "x",
        ))
        .await
        .unwrap();
    assert_eq!(waiter.await.unwrap().unwrap().len(), 1);

    let started = std::time::Instant::now();
    let err = server
        .wait_for_count(2, Duration::from_millis(200))
        .await
        .unwrap_err();
    assert!(started.elapsed() >= Duration::from_millis(200));
    assert_eq!((err.expected, err.received), (2, 1));

    server.clear_messages();
    assert!(server.messages().is_empty());
}

/// Drives the protocol by hand: HELO, pipelined commands, RSET, NOOP,
/// several messages on one connection, dot-unstuffing, QUIT.
#[tokio::test]
async fn raw_protocol_with_pipelining() {
    let server = FakeSmtp::builder()
        .reject_recipients_containing("nobody")
        .start()
        .await;
    let stream = TcpStream::connect(server.addr()).await.unwrap();
    let (r, mut w) = stream.into_split();
    let mut r = BufReader::new(r);
    let mut read_reply = async || {
        let mut lines = Vec::new();
        loop {
            let mut line = String::new();
            r.read_line(&mut line).await.unwrap();
            let done = line.as_bytes().get(3) == Some(&b' ');
            lines.push(line.trim_end().to_owned());
            if done {
                return lines;
            }
        }
    };
    assert!(read_reply().await[0].starts_with("220 "));

    w.write_all(b"EHLO client.test\r\n").await.unwrap();
    let ehlo = read_reply().await;
    for ext in ["PIPELINING", "8BITMIME", "SMTPUTF8", "SIZE"] {
        assert!(
            ehlo.iter().any(|l| l[4..].starts_with(ext)),
            "{ext} missing: {ehlo:?}"
        );
    }

    // Everything up to DATA in one write (pipelining).
    w.write_all(b"MAIL FROM:<s@x.test> BODY=8BITMIME\r\nRCPT TO:<a@x.test>\r\nRCPT TO:<nobody@x.test>\r\nDATA\r\n")
        .await
        .unwrap();
    assert!(read_reply().await[0].starts_with("250 "));
    assert!(read_reply().await[0].starts_with("250 "));
    assert!(read_reply().await[0].starts_with("550 5.1.1 <nobody@x.test>"));
    assert!(read_reply().await[0].starts_with("354 "));
    w.write_all(b"Subject: raw one\r\nMessage-ID: <raw1@x.test>\r\n\r\n..dot\r\nline\r\n.\r\n")
        .await
        .unwrap();
    assert!(read_reply().await[0].starts_with("250 "));

    // An aborted transaction, then NOOP, then a second message via HELO.
    w.write_all(b"MAIL FROM:<s@x.test>\r\nRSET\r\nNOOP\r\nHELO again.test\r\nMAIL FROM:<>\r\nRCPT TO:<b@x.test>\r\nDATA\r\n")
        .await
        .unwrap();
    for _ in 0..6 {
        assert!(read_reply().await[0].starts_with('2'));
    }
    assert!(read_reply().await[0].starts_with("354 "));
    w.write_all(b"Subject: raw two\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        .await
        .unwrap();
    assert!(read_reply().await[0].starts_with("250 "));
    assert!(read_reply().await[0].starts_with("221 "));

    let messages = server.wait_for_count(2, WAIT).await.unwrap();
    assert_eq!(messages[0].envelope_from, "s@x.test");
    assert_eq!(messages[0].recipients, vec!["a@x.test"]);
    assert_eq!(messages[0].message_id.as_deref(), Some("<raw1@x.test>"));
    assert_eq!(messages[0].body(), b".dot\r\nline\r\n");
    assert_eq!(messages[0].helo.as_deref(), Some("client.test"));
    assert_eq!(messages[1].envelope_from, "");
    assert_eq!(messages[1].subject.as_deref(), Some("raw two"));
    assert_eq!(messages[1].helo.as_deref(), Some("again.test"));
    assert_eq!(messages[0].session, Some(1));
    assert_eq!(messages[1].session, Some(1));
    assert_eq!(server.connections_accepted(), 1);
}

#[tokio::test]
async fn the_data_reply_delay_holds_each_message_back_and_stamps_it() {
    let server = FakeSmtp::builder()
        .data_reply_delay(Duration::from_millis(150))
        .start()
        .await;
    let transport = server.transport();
    let started = std::time::Instant::now();
    transport
        .send(mail("a@techconf.test", &["b@example.org"], "One", "x"))
        .await
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    server.set_data_reply_delay(Duration::ZERO);
    transport
        .send(mail("a@techconf.test", &["b@example.org"], "Two", "x"))
        .await
        .unwrap();
    let messages = server.wait_for_count(2, WAIT).await.unwrap();
    let first = messages[0].received_at.unwrap();
    let second = messages[1].received_at.unwrap();
    assert!(first >= started + Duration::from_millis(150));
    assert!(second >= first);
}
