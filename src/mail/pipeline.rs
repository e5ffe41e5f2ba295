//! One mail transaction over lettre's SMTP connection, pipelined (RFC 2920) when the server
//! advertises `PIPELINING`.
//!
//! lettre sends `MAIL`, each `RCPT` and `DATA` one at a time, waiting for each reply, then
//! the content: four round trips per single-recipient message. When the server advertises
//! `PIPELINING`, this module writes `MAIL FROM`, every `RCPT TO` and `DATA` in one write and
//! then reads their replies in order, then sends the content: two round trips. Everything
//! else stays lettre's: connecting, TLS, `EHLO`, `AUTH`, the command syntax, dot-stuffing the
//! content and parsing replies (`AsyncSmtpConnection::command` writes a group and reads the
//! first reply, `read_response` the others).
//!
//! The replies are interpreted as RFC 2920 §3.1 says, the same way with and without
//! pipelining: a rejected `MAIL` fails the message; a rejected `RCPT` fails only that
//! recipient, and the message goes to the others; with no recipient accepted, `DATA` is
//! refused and the message fails with the recipient's reply. Unlike lettre, a negative reply
//! does not end the session: the transaction is reset (`RSET`) when the server still holds
//! part of it, and the connection is reused. Only I/O errors and unreadable replies break it.
use std::fmt;

use lettre::Address;
use lettre::address::Envelope;
use lettre::transport::smtp::Error as SmtpError;
use lettre::transport::smtp::client::AsyncSmtpConnection;
use lettre::transport::smtp::commands::{Data, Ehlo, Mail, Rcpt, Rset};
use lettre::transport::smtp::extension::{ClientId, Extension, MailBodyParameter, MailParameter};
use lettre::transport::smtp::response::Response;

use super::SendError;

/// What the server said to a transaction it completed.
#[derive(Debug, Default)]
pub struct Accepted {
    /// Recipients refused at `RCPT` while others were accepted: the message did not go to them.
    pub rejected: Vec<(Address, SendError)>,
}

/// Why a transaction did not go through.
#[derive(Debug)]
pub enum Failure {
    /// The server refused the message; the session is in a clean state and can carry the next.
    Refused(SendError),
    /// The session is unusable (I/O error, unreadable reply, protocol surprise): drop it.
    Broken(SendError),
}

/// Sends `EHLO` again and tells whether the reply lists `PIPELINING`.
///
/// lettre parses the `EHLO` reply it got while connecting but keeps only the extensions it
/// uses itself. A second `EHLO` is allowed at any point outside a transaction (RFC 5321
/// §4.1.4) and costs one round trip per connection; call it before `AUTH`.
pub async fn advertises_pipelining(
    connection: &mut AsyncSmtpConnection,
    hello: &ClientId,
) -> Result<bool, SmtpError> {
    let reply = connection.command(Ehlo::new(hello.clone())).await?;
    Ok(lists_pipelining(&reply))
}

fn lists_pipelining(ehlo: &Response) -> bool {
    // The first line is the server's greeting; each further line is one extension.
    ehlo.message().skip(1).any(|line| {
        line.split_whitespace()
            .next()
            .is_some_and(|keyword| keyword.eq_ignore_ascii_case("PIPELINING"))
    })
}

/// One command's reply: its code when positive, the classified error when negative; `None`
/// when the command was not sent (without pipelining, nothing follows a refused `MAIL`, and
/// `DATA` does not follow when every `RCPT` was refused).
type Reply = Option<Result<u16, SendError>>;

/// A reply, or `Failure::Broken` when there is none (I/O error, unreadable reply).
fn reply(result: Result<Response, SmtpError>) -> Result<Reply, Failure> {
    match result {
        Ok(response) => Ok(Some(Ok(code(&response)))),
        Err(err) if err.status().is_some() => Ok(Some(Err(classify(&err)))),
        Err(err) => Err(Failure::Broken(classify(&err))),
    }
}

fn code(response: &Response) -> u16 {
    let code = response.code();
    u16::from(code.severity as u8) * 100
        + u16::from(code.category as u8) * 10
        + u16::from(code.detail as u8)
}

/// Sends one message: `MAIL`, `RCPT` for every recipient of `envelope`, `DATA` and the
/// content, in one write up to `DATA` when `pipelining`, one command at a time otherwise.
pub async fn send(
    connection: &mut AsyncSmtpConnection,
    envelope: &Envelope,
    content: &[u8],
    pipelining: bool,
) -> Result<Accepted, Failure> {
    let mail = Mail::new(
        envelope.from().cloned(),
        mail_parameters(connection, envelope, content)?,
    );
    let recipients = envelope.to();
    let mut replies: Vec<Reply> = Vec::with_capacity(recipients.len() + 2);
    if pipelining {
        let mut group = mail.to_string();
        for to in recipients {
            group.push_str(&Rcpt::new(to.clone(), vec![]).to_string());
        }
        group.push_str(&Data.to_string());
        // One write; `command` reads the first reply (MAIL's), then the others in order.
        replies.push(reply(connection.command(Group(&group)).await)?);
        for _ in 0..=recipients.len() {
            replies.push(reply(connection.read_response().await)?);
        }
    } else {
        let mail_reply = reply(connection.command(mail).await)?;
        let mail_accepted = matches!(mail_reply, Some(Ok(_)));
        replies.push(mail_reply);
        let mut any_recipient = false;
        for to in recipients {
            if mail_accepted {
                let rcpt_reply = reply(connection.command(Rcpt::new(to.clone(), vec![])).await)?;
                any_recipient |= matches!(rcpt_reply, Some(Ok(_)));
                replies.push(rcpt_reply);
            } else {
                replies.push(None);
            }
        }
        replies.push(if any_recipient {
            reply(connection.command(Data).await)?
        } else {
            None
        });
    }

    match judge(recipients, replies)? {
        Verdict::Content { rejected } => match connection.message(content).await {
            Ok(_) => Ok(Accepted { rejected }),
            Err(err) => Err(failure(err)),
        },
        Verdict::Refused { error, reset } => {
            if reset {
                // MAIL was accepted: the server holds a transaction that must go before the
                // next MAIL.
                connection.command(Rset).await.map_err(failure)?;
            }
            Err(Failure::Refused(error))
        }
    }
}

/// `BODY=8BITMIME` and `SMTPUTF8` when the message needs them, as lettre's own `send` does.
fn mail_parameters(
    connection: &AsyncSmtpConnection,
    envelope: &Envelope,
    content: &[u8],
) -> Result<Vec<MailParameter>, Failure> {
    let server = connection.server_info();
    let mut parameters = Vec::new();
    let non_ascii_address = envelope
        .from()
        .into_iter()
        .chain(envelope.to())
        .any(|address| !AsRef::<str>::as_ref(address).is_ascii());
    if non_ascii_address {
        if !server.supports_feature(Extension::SmtpUtfEight) {
            return Err(Failure::Refused(SendError::permanent(
                "the address is not ASCII and the SMTP server does not support SMTPUTF8",
            )));
        }
        parameters.push(MailParameter::SmtpUtfEight);
    }
    if !content.is_ascii() {
        if !server.supports_feature(Extension::EightBitMime) {
            return Err(Failure::Refused(SendError::permanent(
                "the message is not ASCII and the SMTP server does not support 8BITMIME",
            )));
        }
        parameters.push(MailParameter::Body(MailBodyParameter::EightBitMime));
    }
    Ok(parameters)
}

/// Several commands written as one.
struct Group<'a>(&'a str);

impl fmt::Display for Group<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

#[derive(Debug)]
enum Verdict {
    /// `DATA` was answered `354`: send the content.
    Content { rejected: Vec<(Address, SendError)> },
    /// The message will not go; `reset` when the server still holds an open transaction.
    Refused { error: SendError, reset: bool },
}

/// Reads the replies to `MAIL`, each `RCPT` and `DATA` (RFC 2920 §3.1), all of them
/// negative or positive server replies.
fn judge(recipients: &[Address], replies: Vec<Reply>) -> Result<Verdict, Failure> {
    let mut replies = replies.into_iter();
    let mail = replies.next().flatten();
    let rcpts: Vec<Reply> = recipients
        .iter()
        .map(|_| replies.next().flatten())
        .collect();
    let data = replies.next().flatten();
    let data_accepted = matches!(data, Some(Ok(354)));

    match mail {
        Some(Ok(_)) => {}
        Some(Err(err)) if !data_accepted => return Err(Failure::Refused(err)),
        Some(Err(_)) => return Err(broken("the SMTP server accepted DATA after refusing MAIL")),
        None => return Err(broken("MAIL was not sent")),
    }
    let mut rejected = Vec::new();
    for (to, reply) in recipients.iter().zip(rcpts) {
        match reply {
            Some(Ok(_)) => {}
            Some(Err(err)) => rejected.push((to.clone(), err)),
            None => return Err(broken("RCPT was not sent after an accepted MAIL")),
        }
    }
    if rejected.len() == recipients.len() {
        if data_accepted {
            return Err(broken("the SMTP server accepted DATA without recipients"));
        }
        let error = match rejected.into_iter().next() {
            Some((_, error)) => error,
            None => SendError::permanent("the message has no recipients"),
        };
        return Ok(Verdict::Refused { error, reset: true });
    }
    match data {
        Some(Ok(_)) if data_accepted => Ok(Verdict::Content { rejected }),
        Some(Err(error)) => Ok(Verdict::Refused { error, reset: true }),
        Some(Ok(code)) => Err(broken(&format!("unexpected reply to DATA: {code}"))),
        None => Err(broken("DATA was not sent after an accepted RCPT")),
    }
}

fn broken(what: &str) -> Failure {
    Failure::Broken(SendError::transient(what.to_owned()))
}

/// A negative reply leaves the session usable; anything else breaks it.
fn failure(err: SmtpError) -> Failure {
    if err.status().is_some() {
        Failure::Refused(classify(&err))
    } else {
        Failure::Broken(classify(&err))
    }
}

/// 5xx replies are permanent; 4xx replies, I/O errors, timeouts and protocol surprises are
/// worth another try.
pub fn classify(err: &SmtpError) -> SendError {
    let text = err.to_string();
    if err.is_permanent() {
        SendError::permanent(text)
    } else {
        SendError::transient(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addresses(list: &[&str]) -> Vec<Address> {
        list.iter().map(|a| a.parse().unwrap()).collect()
    }

    fn ok(code: u16) -> Reply {
        Some(Ok(code))
    }

    fn permanent(text: &str) -> Reply {
        Some(Err(SendError::permanent(text)))
    }

    fn transient(text: &str) -> Reply {
        Some(Err(SendError::transient(text)))
    }

    #[test]
    fn all_accepted_sends_the_content() {
        let to = addresses(&["a@x.org", "b@x.org"]);
        let verdict = judge(&to, vec![ok(250), ok(250), ok(250), ok(354)]).unwrap();
        assert!(matches!(verdict, Verdict::Content { rejected } if rejected.is_empty()));
    }

    #[test]
    fn a_refused_recipient_fails_alone() {
        let to = addresses(&["a@x.org", "b@x.org", "c@x.org"]);
        let replies = vec![ok(250), ok(250), permanent("550 b"), ok(250), ok(354)];
        let Verdict::Content { rejected } = judge(&to, replies).unwrap() else {
            panic!("the content goes to a and c");
        };
        assert_eq!(rejected.len(), 1);
        assert_eq!(rejected[0].0.to_string(), "b@x.org");
        assert_eq!(rejected[0].1, SendError::permanent("550 b"));
    }

    #[test]
    fn every_recipient_refused_fails_with_the_recipient_reply_and_resets() {
        let to = addresses(&["a@x.org"]);
        let replies = vec![
            ok(250),
            transient("450 a"),
            permanent("554 no valid recipients"),
        ];
        let Verdict::Refused { error, reset } = judge(&to, replies).unwrap() else {
            panic!("nothing to send");
        };
        assert_eq!(error, SendError::transient("450 a"));
        assert!(reset, "MAIL was accepted: the transaction must be reset");
        // Without pipelining DATA is not sent at all: same verdict.
        let replies = vec![ok(250), permanent("550 a"), None];
        assert!(matches!(
            judge(&to, replies).unwrap(),
            Verdict::Refused { reset: true, .. }
        ));
    }

    #[test]
    fn a_refused_mail_fails_the_message_without_reset() {
        let to = addresses(&["a@x.org"]);
        let pipelined = vec![permanent("553 from"), permanent("503"), permanent("503")];
        let Err(Failure::Refused(error)) = judge(&to, pipelined) else {
            panic!("refused");
        };
        assert_eq!(error, SendError::permanent("553 from"));
        let one_by_one = vec![transient("421 busy"), None, None];
        assert!(matches!(
            judge(&to, one_by_one),
            Err(Failure::Refused(SendError {
                transient: true,
                ..
            }))
        ));
    }

    #[test]
    fn a_refused_data_resets_and_protocol_surprises_break_the_session() {
        let to = addresses(&["a@x.org"]);
        let replies = vec![ok(250), ok(250), transient("451 later")];
        assert!(matches!(
            judge(&to, replies).unwrap(),
            Verdict::Refused { reset: true, error } if error.transient
        ));
        for replies in [
            vec![ok(250), ok(250), ok(250)],
            vec![permanent("553"), permanent("503"), ok(354)],
            vec![ok(250), permanent("550"), ok(354)],
        ] {
            assert!(
                matches!(judge(&to, replies.clone()), Err(Failure::Broken(_))),
                "{replies:?}"
            );
        }
    }

    #[test]
    fn pipelining_is_read_from_the_ehlo_extensions() {
        use lettre::transport::smtp::response::{Category, Code, Detail, Severity};
        let ehlo = |lines: &[&str]| {
            Response::new(
                Code::new(
                    Severity::PositiveCompletion,
                    Category::MailSystem,
                    Detail::Zero,
                ),
                lines.iter().map(|l| (*l).to_owned()).collect(),
            )
        };
        assert!(lists_pipelining(&ehlo(&[
            "mx greets you",
            "SIZE 10",
            "pipelining"
        ])));
        assert!(!lists_pipelining(&ehlo(&[
            "PIPELINING greets you",
            "8BITMIME"
        ])));
    }
}
