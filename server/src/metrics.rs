//! `/metrics`: the core's metrics (`galaxy_core::telemetry`) in Prometheus text format, rendered by
//! `metrics-exporter-prometheus` from one recorder per process. Served without a login on the main
//! listener, or — when `--metrics-addr` is set — only on that separate address (so it can stay on a
//! private network).

use std::sync::OnceLock;
use std::time::Duration;

use axum::http::header;
use axum::response::IntoResponse;
use galaxy_core::telemetry;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The process's recorder, installed on first use (every router a test builds shares it).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        // Latency buckets for every histogram; batch sizes get their own.
        let builder = PrometheusBuilder::new()
            .set_buckets(telemetry::LATENCY_BUCKETS)
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(telemetry::RECORDER_BATCH.to_owned()),
                    telemetry::BATCH_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(telemetry::STAGE_SECONDS.to_owned()),
                    telemetry::STAGE_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(telemetry::RECORDER_COMMIT_SECONDS.to_owned()),
                    telemetry::STAGE_BUCKETS,
                )
            });
        let builder = match builder {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "metric buckets refused; histograms become summaries");
                PrometheusBuilder::new()
            }
        };
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        if metrics::set_global_recorder(recorder).is_err() {
            tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
        }
        // Drains histogram samples into their buckets even when nobody scrapes.
        let upkeep = handle.clone();
        let started = std::thread::Builder::new()
            .name("metrics-upkeep".into())
            .spawn(move || {
                loop {
                    std::thread::sleep(Duration::from_secs(5));
                    upkeep.run_upkeep();
                }
            });
        if let Err(e) = started {
            tracing::warn!(error = %e, "metrics upkeep thread did not start; scrapes still drain");
        }
        handle
    })
}

/// `GET /metrics`.
pub async fn render() -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        handle().render(),
    )
}
