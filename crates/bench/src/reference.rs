//! Drives `bench/reference.mjs`: the automerge-repo server as a child process (measured
//! like Red Folder's, from `/proc`) and its client running S1–S3 on the same fixture.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{Context, bail};
use serde::Deserialize;
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::Command;

use crate::server::ServerProcess;

/// The fixture loaded into an automerge-repo storage directory, copied afresh per server.
#[derive(Debug)]
pub(crate) struct Reference {
    script: PathBuf,
    pristine: PathBuf,
    pub(crate) docs: PathBuf,
    /// The documents' compacted saves, added up: the floor for a cold sync's bytes.
    pub(crate) saved_bytes: f64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct S1 {
    pub(crate) seconds: f64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct S2 {
    pub(crate) seconds: f64,
    pub(crate) change_bytes: f64,
}

#[derive(Debug, Deserialize)]
pub(crate) struct S3 {
    pub(crate) latencies_ms: Vec<f64>,
}

impl Reference {
    /// Loads `fixture` into a storage directory the way the workload builds documents.
    pub(crate) async fn prepare(
        script: &Path,
        work: &Path,
        fixture: &Path,
    ) -> anyhow::Result<Self> {
        let pristine = work.join("reference-store");
        let docs = work.join("reference-docs.json");
        if pristine.exists() {
            std::fs::remove_dir_all(&pristine)?;
        }
        let status = Command::new("node")
            .arg(script)
            .arg("load")
            .arg("--fixture")
            .arg(fixture)
            .arg("--dir")
            .arg(&pristine)
            .arg("--out")
            .arg(&docs)
            .status()
            .await
            .context("running node (is Node.js installed, and `npm ci` run in bench/?)")?;
        if !status.success() {
            bail!("node reference.mjs load failed with {status}");
        }
        let listed: Value = serde_json::from_slice(&std::fs::read(&docs)?)?;
        let saved_bytes = listed["docs"]
            .as_array()
            .context("reference-docs.json has no docs")?
            .iter()
            .filter_map(|d| d["saved_bytes"].as_f64())
            .sum();
        Ok(Reference {
            script: script.to_owned(),
            pristine,
            docs,
            saved_bytes,
        })
    }

    /// A server on a fresh copy of the loaded storage.
    pub(crate) fn server(&self, dir: &Path) -> anyhow::Result<ServerProcess> {
        let storage = dir.join("storage");
        copy_dir(&self.pristine, &storage)?;
        ServerProcess::reference(&self.script, &storage, dir)
    }

    fn command(&self, mode: &str) -> Command {
        let mut command = Command::new("node");
        command
            .arg(&self.script)
            .arg(mode)
            .arg("--docs")
            .arg(&self.docs)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true);
        command
    }

    /// S1 through `s1_url`, then (after `between` has looked at the server) S2, whose
    /// catch-up goes through `s2_url`.
    pub(crate) async fn s1s2(
        &self,
        server_url: &str,
        s1_url: &str,
        s2_url: &str,
        visits: &Path,
        between: impl AsyncFnOnce(&S1) -> anyhow::Result<()>,
    ) -> anyhow::Result<(S1, S2)> {
        let mut child = self
            .command("s1s2")
            .args(["--server", server_url, "--s1", s1_url, "--s2", s2_url])
            .arg("--visits")
            .arg(visits)
            .spawn()
            .context("starting node reference.mjs s1s2")?;
        let mut stdin = child.stdin.take().context("no stdin")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let s1: S1 = expect_line(&mut lines, "S1").await?;
        between(&s1).await?;
        stdin.write_all(b"go\n").await?;
        stdin.flush().await?;
        let s2: S2 = expect_line(&mut lines, "S2").await?;
        let status = child.wait().await?;
        if !status.success() {
            bail!("node reference.mjs s1s2 failed with {status}");
        }
        Ok((s1, s2))
    }

    pub(crate) async fn s3(
        &self,
        server_url: &str,
        plans: usize,
        devices: usize,
        edits: usize,
        interval_ms: u64,
    ) -> anyhow::Result<S3> {
        let mut child = self
            .command("s3")
            .args(["--server", server_url])
            .args(["--plans", &plans.to_string()])
            .args(["--devices", &devices.to_string()])
            .args(["--edits", &edits.to_string()])
            .args(["--interval", &interval_ms.to_string()])
            .spawn()
            .context("starting node reference.mjs s3")?;
        let mut lines = BufReader::new(child.stdout.take().context("no stdout")?).lines();
        let s3 = expect_line(&mut lines, "S3").await?;
        child.wait().await?;
        Ok(s3)
    }
}

async fn expect_line<T: for<'de> Deserialize<'de>>(
    lines: &mut tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    tag: &str,
) -> anyhow::Result<T> {
    let prefix = format!("{tag} ");
    let wait = async {
        while let Some(line) = lines.next_line().await? {
            if let Some(json) = line.strip_prefix(&prefix) {
                let value: Value = serde_json::from_str(json)?;
                return Ok(serde_json::from_value(value)?);
            }
        }
        bail!("reference.mjs ended without printing {tag}")
    };
    tokio::time::timeout(Duration::from_secs(600), wait)
        .await
        .with_context(|| format!("reference.mjs took too long to print {tag}"))?
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)?;
        }
    }
    Ok(())
}
