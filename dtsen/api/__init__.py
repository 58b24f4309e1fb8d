"""The data-exchange API: DTSEN served through the DCI Social Registry API v1.0.0 (see dtsen.api.server)."""
