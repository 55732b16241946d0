// The worker's `/metrics` server is core's, shared with the ingress.
export { startMetricsServer, type MetricsServer } from '@vouchflow/core';
