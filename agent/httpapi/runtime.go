package httpapi

import (
	"io"

	"github.com/VictoriaMetrics/metrics"
)

func init() {
	// The go_* and process_* families with their TYPE lines, as Prometheus' own client writes them.
	metrics.ExposeMetadata(true)
}

// writeRuntime writes the standard go_* (runtime, memory, GC) and process_* (CPU, resident memory, file
// descriptors, start time) families every Prometheus target has, so that the usual dashboards and alerts
// work unchanged. They come from github.com/VictoriaMetrics/metrics: 128 KiB of the stripped armv6
// binary, against 1.75 MiB for Prometheus' own client, which would break the 12 MB budget.
func writeRuntime(w io.Writer) {
	metrics.WriteProcessMetrics(w)
	metrics.WriteFDMetrics(w)
}
