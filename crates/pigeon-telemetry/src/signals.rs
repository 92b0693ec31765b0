//! [`shutdown_signal`]: how every Pigeon binary learns it should stop (Ctrl-C or SIGTERM), so
//! each flushes its telemetry the same way on the way out.

/// Resolves on Ctrl-C or SIGTERM, logs which, and returns once it has. A signal that cannot be
/// listened for is logged and ignored (the other one still works).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(%err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    let term = async {
        #[cfg(unix)]
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
                return;
            }
            Err(err) => tracing::error!(%err, "cannot listen for SIGTERM"),
        }
        std::future::pending::<()>().await;
    };
    let signal = tokio::select! {
        () = ctrl_c => "Ctrl-C",
        () = term => "SIGTERM",
    };
    tracing::info!(signal, "signal received: stopping");
}
