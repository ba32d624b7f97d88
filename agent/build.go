package agent

import (
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// checkBuild reports, at their lines, the config's use of parts this build of rackwatch left out (the
// embedded broker: build tag nobroker; the HTTP endpoints: nohttp), so that `rackwatch check` says so
// before `run` would fail at start.
func checkBuild(cfg *config.Config, errs *settings.Errors) {
	if cfg.MQTT.EmbeddedBroker != "" && !embeddedBrokerBuilt {
		errs.Add(cfg.File, cfg.MQTT.Line, "mqtt.embedded_broker: this rackwatch was built without the embedded broker (build tag nobroker); use an external broker or the full build")
	}
	if cfg.Gateway.HTTP != "" && !httpBuilt {
		errs.Add(cfg.File, cfg.Gateway.Line, "gateway.http: this rackwatch was built without the HTTP endpoints (build tag nohttp); remove gateway.http or use the full build")
	}
}

// LeftOut names the parts of the agent this build leaves out, for `rackwatch version`.
func LeftOut() []string {
	var out []string
	if !embeddedBrokerBuilt {
		out = append(out, "the embedded broker")
	}
	if !httpBuilt {
		out = append(out, "the HTTP endpoints")
	}
	return out
}
