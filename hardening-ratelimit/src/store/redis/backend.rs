//! Where the store's commands go: one standalone Redis (a lazy
//! [`ConnectionManager`]) or a Redis Cluster (a lazy cluster connection that
//! follows `MOVED`/`ASK` and refreshes its slot map after a failover).

use std::sync::OnceLock;

use ::redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, Cmd, Pipeline, RedisError, RedisFuture, Value};

/// The client of one topology and its connection, opened on first use.
pub(super) enum Backend {
    Standalone {
        client: Client,
        config: ConnectionManagerConfig,
        connection: OnceLock<ConnectionManager>,
    },
    #[cfg(feature = "redis-cluster")]
    Cluster {
        client: ::redis::cluster::ClusterClient,
        config: ::redis::cluster::ClusterConfig,
        connection: OnceLock<::redis::cluster_async::ClusterConnection>,
    },
}

impl Backend {
    /// Whether keys must share a hash tag to be used in one script call.
    pub(super) fn is_cluster(&self) -> bool {
        match self {
            Backend::Standalone { .. } => false,
            #[cfg(feature = "redis-cluster")]
            Backend::Cluster { .. } => true,
        }
    }

    /// A handle on the connection (cheap: both kinds are shared handles).
    /// Must run inside a Tokio runtime the first time.
    pub(super) fn connection(&self) -> Result<Connection, RedisError> {
        match self {
            Backend::Standalone {
                client,
                config,
                connection,
            } => {
                if let Some(conn) = connection.get() {
                    return Ok(Connection::Standalone(conn.clone()));
                }
                let conn = ConnectionManager::new_lazy_with_config(client.clone(), config.clone())?;
                // Two first requests may race; the loser's manager is dropped unused.
                Ok(Connection::Standalone(
                    connection.get_or_init(|| conn).clone(),
                ))
            }
            #[cfg(feature = "redis-cluster")]
            Backend::Cluster {
                client,
                config,
                connection,
            } => {
                if let Some(conn) = connection.get() {
                    return Ok(Connection::Cluster(conn.clone()));
                }
                // Connects in the background; a cluster that is down at
                // first is found again by the client's slot refreshes.
                let conn = client.get_pending_async_connection_with_config(config.clone());
                Ok(Connection::Cluster(connection.get_or_init(|| conn).clone()))
            }
        }
    }
}

/// A connection of either kind, usable with `query_async`.
#[derive(Clone)]
pub(super) enum Connection {
    Standalone(ConnectionManager),
    #[cfg(feature = "redis-cluster")]
    Cluster(::redis::cluster_async::ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Standalone(conn) => conn.req_packed_command(cmd),
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(conn) => conn.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Standalone(conn) => conn.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(conn) => conn.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Standalone(conn) => conn.get_db(),
            #[cfg(feature = "redis-cluster")]
            Connection::Cluster(conn) => conn.get_db(),
        }
    }
}
