//go:build !nobroker

package agent

import (
	"fmt"
	"log/slog"

	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/brokerauth"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/homeassistant"
)

const embeddedBrokerBuilt = true

// startEmbedded starts the embedded broker on addr, with its users when mqtt.embedded_broker_auth is set,
// and returns its real address, the login the agent's own client uses on it (nil: anonymous) and how to
// stop it.
func startEmbedded(cfg *config.Config, addr string, log *slog.Logger) (string, *config.Login, func(), error) {
	lim := broker.DefaultLimits
	lim.Reserved = contract.NewTopics(cfg.MQTT.TopicPrefix, cfg.Gateway.ID).Base() + "/"
	lim.OwnClient = "rackwatch-" + cfg.Gateway.ID
	opt := broker.Options{Limits: lim}
	var login *config.Login
	if a := cfg.MQTT.EmbeddedBrokerAuth; a != nil {
		hashes, err := brokerauth.ParseFile(a.PasswordFile)
		if err != nil {
			return "", nil, nil, fmt.Errorf("mqtt.embedded_broker_auth: %w", err)
		}
		opt.Users = brokerauth.New(cfg.MQTT.TopicPrefix, cfg.Gateway.ID, hashes, a.Operators, a.Readers)
		if ha := cfg.MQTT.HomeAssistant; ha != nil {
			opt.Users.AllowDiscovery(ha.DiscoveryPrefix, homeassistant.Filter(ha.DiscoveryPrefix, cfg.Gateway.ID))
		}
		user, pass := opt.Users.OwnLogin()
		login = &config.Login{User: user, Password: pass}
	} else if !config.Loopback(addr) {
		log.Warn("the embedded broker listens beyond loopback and takes anonymous clients: anyone who reaches it reads every alarm and can publish as this gateway; set mqtt.embedded_broker_auth (docs/security.md)", "address", addr)
	}
	b, err := broker.StartOptions(addr, log, opt)
	if err != nil {
		return "", nil, nil, err
	}
	return b.Addr(), login, func() { b.Close() }, nil
}
