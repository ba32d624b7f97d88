//go:build nohttp

package agent

import (
	"errors"
	"log/slog"
)

const httpBuilt = false

func startHTTP(string, *runner, *slog.Logger) (string, func(), error) {
	return "", nil, errors.New("gateway.http: this rackwatch was built without the HTTP endpoints (build tag nohttp)")
}
