//go:build nobroker

package agent

import (
	"errors"
	"log/slog"

	"github.com/rackwatch/rackwatch/agent/config"
)

const embeddedBrokerBuilt = false

func startEmbedded(*config.Config, string, *slog.Logger) (string, *config.Login, func(), error) {
	return "", nil, nil, errors.New("mqtt.embedded_broker: this rackwatch was built without the embedded broker (build tag nobroker)")
}
