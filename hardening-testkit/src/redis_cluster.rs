//! A real Redis Cluster for tests: six `redis-server --cluster-enabled yes`
//! processes on free loopback ports (3 primaries, 3 replicas) joined with
//! `redis-cli --cluster create … --cluster-replicas 1`, killed on drop; and
//! the shared cluster of a CI run (`REDIS_CLUSTER_URLS`).
//!
//! The topology is read and changed with `redis-cli` (`CLUSTER NODES`,
//! `CLUSTER SETSLOT`, `MIGRATE`, …), as an operator would.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::redis::{
    free_cluster_port, free_port, started_or_skip, unique_prefix, write_test_certificates,
};

/// The seed node URLs of the shared cluster of this run
/// (`REDIS_CLUSTER_URLS`, comma-separated), or `None` (after saying so)
/// when it is unset outside CI.
///
/// # Panics
///
/// When `REDIS_CLUSTER_URLS` is unset and `CI` is set.
pub fn cluster_urls(test: &str) -> Option<Vec<String>> {
    match std::env::var("REDIS_CLUSTER_URLS") {
        Ok(urls) if !urls.trim().is_empty() => Some(
            urls.split(',')
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(str::to_owned)
                .collect(),
        ),
        _ if std::env::var_os("CI").is_some() => panic!(
            "{test}: REDIS_CLUSTER_URLS is not set, but CI is: the Redis Cluster tests must run \
             in CI"
        ),
        _ => {
            eprintln!(
                "SKIPPED {test}: REDIS_CLUSTER_URLS is not set (start a Redis Cluster and export \
                 its node URLs, comma-separated, as .ci/run does, to run the cluster tests)"
            );
            None
        }
    }
}

/// One node as `CLUSTER NODES` describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClusterNode {
    /// The node id (40 hex digits).
    pub id: String,
    /// Its port on 127.0.0.1.
    pub port: u16,
    /// Whether it is a primary.
    pub primary: bool,
    /// The id of its primary, for a replica.
    pub primary_id: Option<String>,
    /// Whether the cluster flags it as failed (`fail` or `fail?`).
    pub failed: bool,
    /// The slot ranges it serves (inclusive), for a primary.
    pub slots: Vec<(u16, u16)>,
}

impl ClusterNode {
    /// Whether it serves `slot`.
    pub fn serves(&self, slot: u16) -> bool {
        self.slots.iter().any(|&(a, b)| a <= slot && slot <= b)
    }
}

/// Six `redis-server` processes forming a cluster of three primaries with
/// one replica each, without persistence, killed on drop (with their
/// directory). `cluster-node-timeout` is 2 s, so a killed primary is
/// replaced within a few seconds.
#[derive(Debug)]
pub struct RedisCluster {
    dir: PathBuf,
    /// Per node: its plain port and its process (None once killed).
    nodes: Vec<(u16, Option<Child>)>,
    /// The TLS port of each node, in the order of `nodes` (TLS clusters).
    tls_ports: Vec<u16>,
    tls: bool,
}

/// The `cluster-node-timeout` of [`RedisCluster`] nodes, in milliseconds.
pub const NODE_TIMEOUT_MS: u64 = 2000;

impl RedisCluster {
    /// Starts one and waits until every node reports `cluster_state:ok`
    /// and agrees on the slots. `None` (after saying so) when
    /// `redis-server` or `redis-cli` cannot run outside CI.
    ///
    /// # Panics
    ///
    /// When they cannot run and `CI` is set.
    pub fn start(test: &str) -> Option<Self> {
        Self::start_with(test, false)
    }

    /// Starts one whose nodes also speak TLS, to clients and to each other
    /// (`--tls-cluster yes`), with a CA and a server certificate made for it
    /// (by the `openssl` command) in its directory. Plain ports stay open
    /// for [`cli`](Self::cli); a client connected over TLS learns the TLS
    /// ports from `CLUSTER SLOTS`. `None` (after saying so) when
    /// `redis-server`, `redis-cli` or `openssl` cannot run outside CI.
    ///
    /// # Panics
    ///
    /// When they cannot run and `CI` is set.
    pub fn start_tls(test: &str) -> Option<Self> {
        Self::start_with(test, true)
    }

    fn start_with(test: &str, tls: bool) -> Option<Self> {
        let dir = std::env::temp_dir().join(unique_prefix("cluster").replace(':', "-"));
        let mut cluster = RedisCluster {
            dir,
            nodes: Vec::new(),
            tls_ports: Vec::new(),
            tls,
        };
        let started = cluster.spawn().map(|()| cluster);
        started_or_skip(test, "start a Redis Cluster", started)
    }

    fn spawn(&mut self) -> std::io::Result<()> {
        std::fs::create_dir_all(&self.dir)?;
        if self.tls {
            write_test_certificates(&self.dir)?;
        }
        for _ in 0..6 {
            let port = free_cluster_port();
            let mut command = Command::new("redis-server");
            if self.tls {
                let tls_port = free_port();
                let file = |name: &str| self.dir.join(name).display().to_string();
                command
                    .args(["--tls-port", &tls_port.to_string()])
                    .args(["--tls-cluster", "yes", "--tls-replication", "yes"])
                    .args(["--tls-cert-file", &file("server.crt")])
                    .args(["--tls-key-file", &file("server.key")])
                    .args(["--tls-ca-cert-file", &file("ca.crt")])
                    .args(["--tls-auth-clients", "no"]);
                self.tls_ports.push(tls_port);
            }
            let child = command
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--cluster-enabled", "yes"])
                .args([
                    "--cluster-config-file",
                    &self
                        .dir
                        .join(format!("nodes-{port}.conf"))
                        .display()
                        .to_string(),
                ])
                .args(["--cluster-node-timeout", &NODE_TIMEOUT_MS.to_string()])
                // a replica may always take over, however stale it thinks it is
                .args(["--cluster-replica-validity-factor", "0"])
                .args(["--save", "", "--appendonly", "no"])
                .args(["--dir", &self.dir.display().to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()?;
            self.nodes.push((port, Some(child)));
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        for &(port, _) in &self.nodes {
            while self.cli(port, &["PING"]).as_deref() != Some("PONG") {
                if Instant::now() > deadline {
                    return Err(std::io::Error::other(
                        "a cluster node did not answer PING within 10 s",
                    ));
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for &(port, _) in &self.nodes {
            create.arg(format!("127.0.0.1:{port}"));
        }
        let out = create
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .stdin(Stdio::null())
            .output()?;
        if !out.status.success() {
            return Err(std::io::Error::other(format!(
                "redis-cli --cluster create failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )));
        }
        self.wait_until("the cluster is ok", Duration::from_secs(30), |c| {
            c.is_ok() && c.replicas_attached()
        })
    }

    /// Every live node answers `cluster_state:ok` and all agree on who
    /// serves every slot.
    pub fn is_ok(&self) -> bool {
        let mut views = Vec::new();
        for port in self.live_ports() {
            let ok = self
                .cli(port, &["CLUSTER", "INFO"])
                .is_some_and(|info| info.lines().any(|l| l.trim() == "cluster_state:ok"));
            if !ok {
                return false;
            }
            let Some(nodes) = self.nodes_seen_by(port) else {
                return false;
            };
            let mut primaries: Vec<(String, Vec<(u16, u16)>)> = nodes
                .into_iter()
                .filter(|n| n.primary && !n.slots.is_empty() && !n.failed)
                .map(|n| (n.id, n.slots))
                .collect();
            primaries.sort();
            views.push(primaries);
        }
        let covered: u32 = views.first().map_or(0, |v| {
            v.iter()
                .flat_map(|(_, s)| s)
                .map(|&(a, b)| u32::from(b - a) + 1)
                .sum()
        });
        covered == 16384 && views.windows(2).all(|w| w[0] == w[1])
    }

    /// Every live replica reports its link to its primary up.
    fn replicas_attached(&self) -> bool {
        self.live_ports().all(|port| {
            let Some(info) = self.cli(port, &["INFO", "replication"]) else {
                return false;
            };
            !info.contains("role:slave") || info.contains("master_link_status:up")
        })
    }

    /// Polls `done` every 20 ms until it holds or `timeout` passes.
    ///
    /// # Errors
    ///
    /// When `timeout` passes first (naming `what`).
    pub fn wait_until(
        &self,
        what: &str,
        timeout: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> std::io::Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            if done(self) {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(std::io::Error::other(format!(
                    "timed out after {timeout:?} waiting until {what}"
                )));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// `redis://127.0.0.1:PORT/` of every node (the seed list).
    pub fn urls(&self) -> Vec<String> {
        self.nodes
            .iter()
            .map(|(port, _)| format!("redis://127.0.0.1:{port}/"))
            .collect()
    }

    /// `rediss://127.0.0.1:TLS_PORT/` of every node of a
    /// [`start_tls`](Self::start_tls) cluster.
    ///
    /// # Panics
    ///
    /// When the cluster was started without TLS.
    pub fn tls_urls(&self) -> Vec<String> {
        assert!(self.tls, "a cluster started with start_tls");
        self.tls_ports
            .iter()
            .map(|port| format!("rediss://127.0.0.1:{port}/"))
            .collect()
    }

    /// The CA file that signed a [`start_tls`](Self::start_tls) cluster's
    /// certificate.
    ///
    /// # Panics
    ///
    /// When the cluster was started without TLS.
    pub fn ca_file(&self) -> PathBuf {
        assert!(self.tls, "a cluster started with start_tls");
        self.dir.join("ca.crt")
    }

    /// The ports of the nodes not killed.
    pub fn live_ports(&self) -> impl Iterator<Item = u16> + '_ {
        self.nodes
            .iter()
            .filter(|(_, child)| child.is_some())
            .map(|(port, _)| *port)
    }

    /// Runs `redis-cli -p PORT ARGS…` and returns its output, trimmed;
    /// `None` when it fails or the node does not answer within 2 s.
    pub fn cli(&self, port: u16, args: &[&str]) -> Option<String> {
        cli(port, args)
    }

    /// The topology as the first live node sees it.
    pub fn nodes(&self) -> Vec<ClusterNode> {
        self.live_ports()
            .find_map(|port| self.nodes_seen_by(port))
            .unwrap_or_default()
    }

    /// The topology as the node at `port` sees it (`CLUSTER NODES`).
    pub fn nodes_seen_by(&self, port: u16) -> Option<Vec<ClusterNode>> {
        let text = self.cli(port, &["CLUSTER", "NODES"])?;
        Some(text.lines().filter_map(parse_node_line).collect())
    }

    /// The primaries serving slots, as the first live node sees them.
    pub fn primaries(&self) -> Vec<ClusterNode> {
        self.nodes()
            .into_iter()
            .filter(|n| n.primary && !n.failed && !n.slots.is_empty())
            .collect()
    }

    /// The slot of `key` (`CLUSTER KEYSLOT`).
    ///
    /// # Panics
    ///
    /// When no node answers.
    pub fn key_slot(&self, key: &str) -> u16 {
        self.live_ports()
            .find_map(|port| self.cli(port, &["CLUSTER", "KEYSLOT", key]))
            .and_then(|s| s.parse().ok())
            .expect("a live node answers CLUSTER KEYSLOT")
    }

    /// The primary serving `slot`.
    ///
    /// # Panics
    ///
    /// When no primary serves it.
    pub fn primary_of(&self, slot: u16) -> ClusterNode {
        self.primaries()
            .into_iter()
            .find(|n| n.serves(slot))
            .expect("a primary serves every slot")
    }

    /// Kills the node at `port` (SIGKILL) and waits for it.
    pub fn kill(&mut self, port: u16) {
        for (p, child) in &mut self.nodes {
            if *p == port {
                if let Some(mut child) = child.take() {
                    let _ = child.kill();
                    let _ = child.wait();
                }
            }
        }
    }

    /// Starts moving `slot` from the primary `from` to the primary `to`:
    /// `CLUSTER SETSLOT … IMPORTING` on `to`, `… MIGRATING` on `from`.
    /// From now on `from` answers `ASK` for keys of the slot it no longer
    /// holds.
    ///
    /// # Errors
    ///
    /// When a node refuses.
    pub fn begin_migration(
        &self,
        slot: u16,
        from: &ClusterNode,
        to: &ClusterNode,
    ) -> std::io::Result<()> {
        let slot = slot.to_string();
        expect_ok(self.cli(
            to.port,
            &["CLUSTER", "SETSLOT", &slot, "IMPORTING", &from.id],
        ))?;
        expect_ok(self.cli(
            from.port,
            &["CLUSTER", "SETSLOT", &slot, "MIGRATING", &to.id],
        ))
    }

    /// Moves up to `count` keys of `slot` from `from` to `to` (`MIGRATE`,
    /// one key per command) and returns how many it moved.
    ///
    /// # Errors
    ///
    /// When a node refuses.
    pub fn migrate_keys(
        &self,
        slot: u16,
        from: &ClusterNode,
        to: &ClusterNode,
        count: usize,
    ) -> std::io::Result<usize> {
        let keys = self
            .cli(
                from.port,
                &[
                    "CLUSTER",
                    "GETKEYSINSLOT",
                    &slot.to_string(),
                    &count.to_string(),
                ],
            )
            .ok_or_else(|| std::io::Error::other("CLUSTER GETKEYSINSLOT failed"))?;
        let mut moved = 0;
        for key in keys.lines().map(str::trim).filter(|k| !k.is_empty()) {
            let port = to.port.to_string();
            let reply = self.cli(
                from.port,
                &["MIGRATE", "127.0.0.1", &port, key, "0", "5000"],
            );
            match reply.as_deref() {
                Some("OK") => moved += 1,
                // expired or moved meanwhile
                Some("NOKEY") => {}
                other => {
                    return Err(std::io::Error::other(format!(
                        "MIGRATE {key} answered {other:?}"
                    )))
                }
            }
        }
        Ok(moved)
    }

    /// Ends a migration: `CLUSTER SETSLOT slot NODE to` on every live
    /// primary, then waits until every node agrees.
    ///
    /// # Errors
    ///
    /// When a node refuses or the nodes do not agree within 10 s.
    pub fn finish_migration(&self, slot: u16, to: &ClusterNode) -> std::io::Result<()> {
        let slot_arg = slot.to_string();
        // the target first, as redis-cli does, so it owns the slot before
        // the source lets go
        expect_ok(self.cli(to.port, &["CLUSTER", "SETSLOT", &slot_arg, "NODE", &to.id]))?;
        for primary in self.primaries() {
            if primary.id != to.id {
                expect_ok(self.cli(
                    primary.port,
                    &["CLUSTER", "SETSLOT", &slot_arg, "NODE", &to.id],
                ))?;
            }
        }
        self.wait_until(
            "every node agrees on the migrated slot",
            Duration::from_secs(10),
            |c| {
                c.live_ports().all(|port| {
                    c.nodes_seen_by(port)
                        .is_some_and(|nodes| nodes.iter().any(|n| n.id == to.id && n.serves(slot)))
                })
            },
        )
    }

    /// `redis-cli --cluster reshard`: moves `slots` slots from `from` to
    /// `to`, keys and all, as an operator would.
    ///
    /// # Errors
    ///
    /// When `redis-cli` fails.
    pub fn reshard(&self, from: &ClusterNode, to: &ClusterNode, slots: u16) -> std::io::Result<()> {
        let out = Command::new("redis-cli")
            .args(["--cluster", "reshard", &format!("127.0.0.1:{}", to.port)])
            .args(["--cluster-from", &from.id, "--cluster-to", &to.id])
            .args(["--cluster-slots", &slots.to_string(), "--cluster-yes"])
            .stdin(Stdio::null())
            .output()?;
        if out.status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "redis-cli --cluster reshard failed: {}",
                String::from_utf8_lossy(&out.stdout)
            )))
        }
    }
}

impl Drop for RedisCluster {
    fn drop(&mut self) {
        for (_, child) in &mut self.nodes {
            if let Some(mut child) = child.take() {
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn cli(port: u16, args: &[&str]) -> Option<String> {
    let out = Command::new("redis-cli")
        .args(["-h", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    (out.status.success() && !text.starts_with("Could not connect")).then_some(text)
}

fn expect_ok(reply: Option<String>) -> std::io::Result<()> {
    match reply.as_deref() {
        Some("OK") => Ok(()),
        other => Err(std::io::Error::other(format!("expected OK, got {other:?}"))),
    }
}

/// One line of `CLUSTER NODES`:
/// `id ip:port@cport flags primary-id ping pong epoch link slot…`.
fn parse_node_line(line: &str) -> Option<ClusterNode> {
    let mut fields = line.split_whitespace();
    let id = fields.next()?.to_owned();
    let addr = fields.next()?;
    let port = addr.split('@').next()?.rsplit(':').next()?.parse().ok()?;
    let flags = fields.next()?;
    let primary_id = fields.next()?;
    let slots = fields
        .skip(4)
        .filter(|s| !s.starts_with('['))
        .filter_map(|s| match s.split_once('-') {
            Some((a, b)) => Some((a.parse().ok()?, b.parse().ok()?)),
            None => s.parse().ok().map(|n| (n, n)),
        })
        .collect();
    Some(ClusterNode {
        id,
        port,
        primary: flags.split(',').any(|f| f == "master"),
        primary_id: (primary_id != "-").then(|| primary_id.to_owned()),
        failed: flags.split(',').any(|f| f == "fail" || f == "fail?"),
        slots,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_lines_are_parsed() {
        let line = "07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,hostname4 \
                    slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected";
        let n = parse_node_line(line).unwrap();
        assert_eq!(n.port, 30004);
        assert!(!n.primary);
        assert_eq!(
            n.primary_id.as_deref(),
            Some("e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca")
        );
        let line =
            "e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - \
                    0 0 1 connected 0-5460 6000 [5461->-abc]";
        let n = parse_node_line(line).unwrap();
        assert!(n.primary && !n.failed);
        assert_eq!(n.slots, [(0, 5460), (6000, 6000)]);
        assert!(n.serves(6000) && !n.serves(5461));
    }

    #[test]
    fn a_cluster_of_our_own_forms_and_fails_over() {
        let Some(mut cluster) = RedisCluster::start("testkit cluster") else {
            return;
        };
        let primaries = cluster.primaries();
        assert_eq!(primaries.len(), 3);
        assert_eq!(cluster.nodes().len(), 6);
        let slot = cluster.key_slot("k");
        let old = cluster.primary_of(slot);
        cluster.kill(old.port);
        cluster
            .wait_until("a replica took over", Duration::from_secs(30), |c| {
                c.is_ok()
                    && c.primaries()
                        .iter()
                        .any(|n| n.serves(slot) && n.id != old.id)
            })
            .unwrap();
    }
}
