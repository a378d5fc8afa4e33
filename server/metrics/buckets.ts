/**
 * Histogram buckets, in seconds, shared by every process so that aggregation across workers is exact
 * (buckets must be identical in every worker for the cluster sum to be valid).
 */
export const httpDurationBuckets = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

/** Waiting for a pooled connection; the 1 s default deadline sits on a boundary, so timeouts land above it. */
export const poolWaitBuckets = Object.freeze([0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);

export const poolUseBuckets = Object.freeze([0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

export const connectionCreateBuckets = Object.freeze([0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5]);
