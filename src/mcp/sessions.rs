//! Sessions of the Streamable HTTP transport (`Mcp-Session-Id`, the revisions before
//! 2026-07-28; later clients are served statelessly): rmcp's in-memory session manager, with a
//! bounded count. An idle session is closed after `mcp.session_idle_secs` (rmcp's keep-alive);
//! when `mcp.max_sessions` are open, a new one closes the least recently used first (its
//! client gets 404 and, as the spec says, starts a new session), so a flood of sessions cannot
//! lock everyone out for the idle timeout.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use futures::Stream;
use prometheus::IntGauge;
use rmcp::model::{ClientJsonRpcMessage, ServerJsonRpcMessage};
use rmcp::transport::streamable_http_server::session::local::{
    LocalSessionManager, LocalSessionManagerError, SessionConfig,
};
use rmcp::transport::streamable_http_server::session::{
    ServerSseMessage, SessionId, SessionManager,
};

pub struct BoundedSessions {
    inner: LocalSessionManager,
    max: usize,
    /// When each open session was last used.
    used: Mutex<HashMap<SessionId, Instant>>,
    gauge: IntGauge,
}

impl BoundedSessions {
    pub fn new(max: usize, idle: Duration, gauge: IntGauge) -> BoundedSessions {
        let mut inner = LocalSessionManager::default();
        let mut config = SessionConfig::default();
        config.keep_alive = Some(idle);
        inner.session_config = config;
        BoundedSessions {
            inner,
            max: max.max(1),
            used: Mutex::default(),
            gauge,
        }
    }

    fn used(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, Instant>> {
        self.used.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn touch(&self, id: &SessionId) {
        let mut used = self.used();
        if let Some(at) = used.get_mut(id) {
            *at = Instant::now();
        }
    }

    fn least_recently_used(&self) -> Option<SessionId> {
        self.used()
            .iter()
            .min_by_key(|(_, at)| **at)
            .map(|(id, _)| id.clone())
    }

    async fn open(&self) -> usize {
        self.inner.sessions.read().await.len()
    }
}

impl SessionManager for BoundedSessions {
    type Error = LocalSessionManagerError;
    type Transport = <LocalSessionManager as SessionManager>::Transport;

    async fn create_session(&self) -> Result<(SessionId, Self::Transport), Self::Error> {
        while self.open().await >= self.max {
            let Some(oldest) = self.least_recently_used() else {
                break;
            };
            tracing::info!(
                max = self.max,
                "MCP session limit reached: closing the least recently used"
            );
            self.close_session(&oldest).await?;
        }
        let (id, transport) = self.inner.create_session().await?;
        self.used().insert(id.clone(), Instant::now());
        self.gauge.set(self.open().await as i64);
        Ok((id, transport))
    }

    async fn initialize_session(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<ServerJsonRpcMessage, Self::Error> {
        self.touch(id);
        self.inner.initialize_session(id, message).await
    }

    async fn has_session(&self, id: &SessionId) -> Result<bool, Self::Error> {
        self.inner.has_session(id).await
    }

    async fn close_session(&self, id: &SessionId) -> Result<(), Self::Error> {
        self.used().remove(id);
        let closed = self.inner.close_session(id).await;
        self.gauge.set(self.open().await as i64);
        closed
    }

    async fn create_stream(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.create_stream(id, message).await
    }

    async fn accept_message(
        &self,
        id: &SessionId,
        message: ClientJsonRpcMessage,
    ) -> Result<(), Self::Error> {
        self.touch(id);
        self.inner.accept_message(id, message).await
    }

    async fn create_standalone_stream(
        &self,
        id: &SessionId,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.create_standalone_stream(id).await
    }

    async fn resume(
        &self,
        id: &SessionId,
        last_event_id: String,
    ) -> Result<impl Stream<Item = ServerSseMessage> + Send + Sync + 'static, Self::Error> {
        self.touch(id);
        self.inner.resume(id, last_event_id).await
    }
}
