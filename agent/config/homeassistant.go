package config

import "strings"

// DefaultDiscoveryPrefix is Home Assistant's own default discovery prefix.
const DefaultDiscoveryPrefix = "homeassistant"

// HomeAssistant turns on Home Assistant's MQTT discovery: the gateway publishes, retained on every
// broker, a discovery config for each sensor channel and each alarm, so that Home Assistant shows the
// gateway as one device without any YAML on its side.
type HomeAssistant struct {
	// DiscoveryPrefix is Home Assistant's discovery_prefix (default homeassistant).
	DiscoveryPrefix string `yaml:"discovery_prefix"`
	Line            int
}

func (cfg *Config) applyHomeAssistantDefaults() {
	if ha := cfg.MQTT.HomeAssistant; ha != nil && ha.DiscoveryPrefix == "" {
		ha.DiscoveryPrefix = DefaultDiscoveryPrefix
	}
}

func (cfg *Config) validateHomeAssistant(c *collector) {
	ha := cfg.MQTT.HomeAssistant
	if ha == nil {
		return
	}
	p := ha.DiscoveryPrefix
	switch {
	case strings.ContainsAny(p, "+#") || strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/"):
		c.add(ha.Line, "mqtt.home_assistant.discovery_prefix %q: no '+', '#' or leading/trailing '/'", p)
	case p == cfg.MQTT.TopicPrefix || strings.HasPrefix(p, cfg.MQTT.TopicPrefix+"/"):
		c.add(ha.Line, "mqtt.home_assistant.discovery_prefix %q is inside mqtt.topic_prefix %q: give each its own tree", p, cfg.MQTT.TopicPrefix)
	}
}
