"""Prometheus metrics, one registry per app (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64)


class Metrics:
    """Request, token, in-flight, self-check and model metrics."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("tsd_requests", "HTTP requests by route and status", ["route", "status"], registry=r)
        self.latency = Histogram("tsd_request_seconds", "request latency", ["route"], buckets=LATENCY_BUCKETS, registry=r)
        self.in_flight = Gauge("tsd_in_flight_requests", "requests being served", registry=r)
        self.prompt_tokens = Counter("tsd_prompt_tokens", "prompt tokens sent to the engine", registry=r)
        self.completion_tokens = Counter("tsd_completion_tokens", "completion tokens generated", registry=r)
        self.descriptions = Counter("tsd_descriptions", "series described", registry=r)
        self.self_check = Counter(
            "tsd_self_check", "self-check results by field", ["field", "result"], registry=r
        )
        self.repaired = Counter("tsd_repaired_fields", "output fields replaced by facts", ["field"], registry=r)
        self.model_errors = Counter("tsd_model_output_errors", "engine outputs that were not a description", registry=r)
        self.model_info = Info("tsd_model", "served model", registry=r)
        self.rejected = Counter("tsd_rejected_requests", "requests refused by admission control, rate limit or deadline",
                                ["reason"], registry=r)
        self.queued = Gauge("tsd_queued_series", "series waiting for a place on the engine", registry=r)
        self.activations = Counter("tsd_adapter_activations", "adapter activations by outcome", ["result"], registry=r)

    def set_model(self, deployed) -> None:
        """The served model and adapter version, as an info metric."""
        version = deployed.version or {}
        self.model_info.info({"name": deployed.settings.model_name, "adapter": str(deployed.settings.adapter),
                              "version": str(version.get("sha256")), "backend": deployed.backend.name})

    def record_result(self, result) -> None:
        """Count tokens and self-check outcomes of one described series."""
        self.descriptions.inc()
        self.prompt_tokens.inc(result.prompt_tokens)
        self.completion_tokens.inc(result.completion_tokens)
        if result.check is not None:
            for name, field_check in result.check.fields.items():
                self.self_check.labels(name, "agrees" if field_check.agrees else "contradicts").inc()
            for name in result.check.repaired:
                self.repaired.labels(name).inc()
