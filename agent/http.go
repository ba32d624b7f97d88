//go:build !nohttp

package agent

import (
	"log/slog"

	"github.com/rackwatch/rackwatch/agent/httpapi"
)

const httpBuilt = true

// startHTTP serves /healthz, /metrics and the status page on addr; it returns the real address and how to
// stop.
func startHTTP(addr string, a *runner, log *slog.Logger) (string, func(), error) {
	srv, err := httpapi.Start(addr, a, log)
	if err != nil {
		return "", nil, err
	}
	return srv.Addr(), func() { srv.Close() }, nil
}
