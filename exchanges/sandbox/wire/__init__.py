"""Each exchange's wire format: routes, payload shapes, error envelopes."""
