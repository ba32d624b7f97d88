//go:build !nobroker

package agent

import (
	"log/slog"

	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
)

const embeddedBrokerBuilt = true

// startEmbedded starts the embedded broker on addr and returns its real address and how to stop it.
func startEmbedded(cfg *config.Config, addr string, log *slog.Logger) (string, func(), error) {
	lim := broker.DefaultLimits
	lim.Reserved = contract.NewTopics(cfg.MQTT.TopicPrefix, cfg.Gateway.ID).Base() + "/"
	lim.OwnClient = "rackwatch-" + cfg.Gateway.ID
	b, err := broker.StartWith(addr, log, lim)
	if err != nil {
		return "", nil, err
	}
	return b.Addr(), func() { b.Close() }, nil
}
