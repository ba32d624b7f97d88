// Package httpapi serves the agent's local HTTP endpoints: /healthz for a supervisor or load balancer,
// /metrics in the Prometheus text format, and / a plain status page an engineer can open on the gateway.
package httpapi
