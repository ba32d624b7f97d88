package httpapi

import (
	"io"
	"runtime"

	"github.com/VictoriaMetrics/metrics"

	"github.com/rackwatch/rackwatch/agent/buildinfo"
	"github.com/rackwatch/rackwatch/agent/promtext"
)

func init() {
	// The go_* and process_* families with their TYPE lines, as Prometheus' own client writes them.
	metrics.ExposeMetadata(true)
}

// writeRuntime writes what every Prometheus target has: rackwatch_build_info, and the standard go_*
// (runtime, memory, GC) and process_* (CPU, resident memory, file descriptors, start time) families, so
// that the usual dashboards and alerts work unchanged. The go_* and process_* families come from
// github.com/VictoriaMetrics/metrics (about 128 KiB of binary, against 2 MiB for Prometheus' own client).
func writeRuntime(pw *promtext.Writer, w io.Writer) {
	pw.Family("rackwatch_build_info", "The running rackwatch: its version and the Go that built it.", promtext.Gauge)
	pw.Sample("rackwatch_build_info", 1, "version", buildinfo.Version, "goversion", runtime.Version(), "goarch", runtime.GOARCH)
	metrics.WriteProcessMetrics(w)
	metrics.WriteFDMetrics(w)
}
