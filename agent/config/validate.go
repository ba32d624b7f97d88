package config

import (
	"net"
	"net/url"
	"strings"

	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/rules"
)

var brokerSchemes = map[string]bool{"tcp": true, "mqtt": true, "tls": true, "ssl": true, "mqtts": true, "ws": true, "wss": true}

func (cfg *Config) validate(c *collector) {
	g := &cfg.Gateway
	switch {
	case g.ID == "":
		c.add(g.Line, "gateway.id is required: it names this gateway in every MQTT topic")
	case !reading.ValidID(g.ID):
		c.add(g.Line, "gateway.id %q: use only a-z, 0-9, '.', '_' and '-' (it is part of MQTT topics)", g.ID)
	}
	switch g.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		c.add(g.Line, "gateway.log_level %q: use debug, info, warn or error", g.LogLevel)
	}
	if g.HTTP != "" {
		if _, _, err := net.SplitHostPort(g.HTTP); err != nil {
			c.add(g.Line, "gateway.http %q: expected host:port, e.g. 127.0.0.1:9108", g.HTTP)
		}
	}
	if g.MemoryLimit < 0 {
		c.add(g.Line, "gateway.memory_limit must not be negative")
	}

	m := &cfg.MQTT
	if strings.ContainsAny(m.TopicPrefix, "+#") || strings.HasPrefix(m.TopicPrefix, "/") || strings.HasSuffix(m.TopicPrefix, "/") {
		c.add(m.Line, "mqtt.topic_prefix %q: no '+', '#' or leading/trailing '/'", m.TopicPrefix)
	}
	if len(m.Brokers) == 0 && m.EmbeddedBroker == "" {
		c.add(m.Line, "mqtt: no brokers and no embedded_broker, so alarms would go nowhere")
	}
	if m.EmbeddedBroker != "" {
		if _, _, err := net.SplitHostPort(m.EmbeddedBroker); err != nil {
			c.add(m.Line, "mqtt.embedded_broker %q: expected host:port, e.g. 127.0.0.1:1883", m.EmbeddedBroker)
		}
	}
	if q := m.Readings.QoS; q != 0 && q != 1 {
		c.add(m.Readings.Line, "mqtt.readings.qos %d: use 0 or 1 (alarms always go at QoS 1)", q)
	}
	if m.Readings.Deadband < 0 {
		c.add(m.Readings.Line, "mqtt.readings.deadband must not be negative")
	}
	cfg.validateHomeAssistant(c)
	urls := map[string]int{}
	for i := range m.Brokers {
		b := &m.Brokers[i]
		validateBroker(c, b)
		if prev, dup := urls[b.URL]; dup && b.URL != "" {
			c.add(b.Line, "mqtt.brokers: %q is listed twice (first on line %d)", b.URL, prev)
		}
		urls[b.URL] = b.Line
	}
	if cfg.Journal.MaxSize < 1<<20 {
		c.add(cfg.Journal.Line, "journal.max_size must be at least 1MiB")
	}

	buses := map[string]int{}
	for i := range cfg.Buses {
		b := &cfg.Buses[i]
		switch {
		case b.ID == "":
			c.add(b.Line, "bus: id is required")
		case !reading.ValidID(b.ID):
			c.add(b.Line, "bus id %q: use only a-z, 0-9, '.', '_' and '-'", b.ID)
		}
		if prev, dup := buses[b.ID]; dup {
			c.add(b.Line, "bus id %q is defined twice (first on line %d)", b.ID, prev)
		}
		buses[b.ID] = b.Line
		if b.Type == "" {
			c.add(b.Line, "bus %q: type is required", b.ID)
		}
	}
	sensors := map[string]int{}
	for i := range cfg.Sensors {
		s := &cfg.Sensors[i]
		switch {
		case s.ID == "":
			c.add(s.Line, "sensor: id is required")
		case !reading.ValidID(s.ID):
			c.add(s.Line, "sensor id %q: use only a-z, 0-9, '.', '_' and '-' (it is part of MQTT topics)", s.ID)
		}
		if prev, dup := sensors[s.ID]; dup {
			c.add(s.Line, "sensor id %q is defined twice (first on line %d)", s.ID, prev)
		}
		sensors[s.ID] = s.Line
		if s.Driver == "" {
			c.add(s.Line, "sensor %q: driver is required", s.ID)
		}
		if s.Bus != "" {
			if _, ok := buses[s.Bus]; !ok {
				c.add(s.Line, "sensor %q: bus %q is not defined under buses", s.ID, s.Bus)
			}
		}
		if s.Timeout > s.Every {
			c.add(s.Line, "sensor %q: timeout %s is longer than every %s", s.ID, s.Timeout, s.Every)
		}
	}
	c.errs = append(c.errs, rules.Validate(c.file, cfg.Rules)...)
	for _, id := range g.LastGaspRules {
		found := false
		for i := range cfg.Rules {
			found = found || cfg.Rules[i].ID == id
		}
		if !found {
			c.add(g.Line, "gateway.last_gasp_rules: rule %q is not defined", id)
		}
	}
	cfg.validateActions(c)
	cfg.validateOperators(c)
}

func validateBroker(c *collector, b *Broker) {
	if b.URL == "" {
		c.add(b.Line, "mqtt.brokers: url is required")
		return
	}
	u, err := url.Parse(b.URL)
	if err != nil || !brokerSchemes[u.Scheme] || u.Host == "" {
		c.add(b.Line, "mqtt.brokers: url %q: expected tcp://, tls://, ws:// or wss:// followed by host:port", b.URL)
		return
	}
	if u.User != nil {
		c.add(b.Line, "mqtt.brokers: url %q carries credentials; use username and password_file instead", b.URL)
	}
	if b.Password != "" {
		c.add(b.Line, "mqtt.brokers: password is not written in the config; use password_file or password_env")
	}
	if err := b.PasswordSecret().Check("password_file or password_env"); err != nil {
		c.add(b.Line, "mqtt.brokers: %v", err)
	}
	if (b.CertFile == "") != (b.KeyFile == "") {
		c.add(b.Line, "mqtt.brokers: cert_file and key_file go together (mutual TLS needs both)")
	}
	secure := u.Scheme == "tls" || u.Scheme == "ssl" || u.Scheme == "mqtts" || u.Scheme == "wss"
	if !secure && (b.CAFile != "" || b.CertFile != "") {
		c.add(b.Line, "mqtt.brokers: %q is not a TLS url but TLS files are set; use tls:// or wss://", b.URL)
	}
	if b.ClientID != "" && strings.ContainsAny(b.ClientID, "+#/") {
		c.add(b.Line, "mqtt.brokers: client_id %q must not contain '+', '#' or '/'", b.ClientID)
	}
}
