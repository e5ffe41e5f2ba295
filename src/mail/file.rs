//! The file transport: one `.eml` file per message, named after its Message-ID, so sending
//! the same message again rewrites the same file instead of adding a second one.
use std::path::PathBuf;

use super::{OutgoingEmail, SendError};

pub struct FileMailer {
    dir: PathBuf,
}

impl FileMailer {
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub async fn send(&self, email: &OutgoingEmail) -> Result<(), SendError> {
        let io = |e: std::io::Error| {
            SendError::transient(format!("writing to {}: {e}", self.dir.display()))
        };
        tokio::fs::create_dir_all(&self.dir).await.map_err(io)?;
        let name: String = email
            .message_id
            .trim_matches(['<', '>'])
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '@') {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let path = self.dir.join(format!("{name}.eml"));
        // Write then rename, so a reader never sees half a message.
        let partial = self.dir.join(format!(".{name}.eml.partial"));
        tokio::fs::write(&partial, &email.bytes).await.map_err(io)?;
        tokio::fs::rename(&partial, &path).await.map_err(io)?;
        Ok(())
    }
}
