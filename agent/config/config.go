package config

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Config is one whole configuration file.
type Config struct {
	// File is the path the config was loaded from; errors found later (by drivers) name it.
	File    string   `yaml:"-"`
	Gateway Gateway  `yaml:"gateway"`
	MQTT    MQTT     `yaml:"mqtt"`
	Journal Journal  `yaml:"journal"`
	Buses   []Bus    `yaml:"buses"`
	Sensors []Sensor `yaml:"sensors"`
	// Include lists rule files (paths relative to this file) whose rules are added to Rules, so shipped
	// rule sets combine without declaring sensors twice.
	Include []string     `yaml:"include"`
	Rules   []rules.Rule `yaml:"rules"`
	// Outputs, Actions and Shutdown are the local actions (docs/actions.md).
	Outputs  []Output  `yaml:"outputs"`
	Actions  Actions   `yaml:"actions"`
	Shutdown *Shutdown `yaml:"shutdown"`
	// Operators, OperatorsDir and CommandWindow say whose signed commands the gateway takes (operators.go).
	Operators     []Operator        `yaml:"operators"`
	OperatorsDir  string            `yaml:"operators_dir"`
	CommandWindow settings.Duration `yaml:"command_window"`
	// KeyLines are the lines of the top-level keys, for errors about keys that are plain values.
	KeyLines map[string]int `yaml:"-"`
}

// Gateway identifies this agent and says where it keeps its state.
type Gateway struct {
	ID       string `yaml:"id"`
	Site     string `yaml:"site"`
	StateDir string `yaml:"state_dir"`
	HTTP     string `yaml:"http"`
	// MemoryLimit is handed to the Go runtime (debug.SetMemoryLimit) so the heap stays small on a Pi.
	MemoryLimit settings.ByteSize `yaml:"memory_limit"`
	// LogLevel is debug, info, warn or error.
	LogLevel string            `yaml:"log_level"`
	Labels   map[string]string `yaml:"labels"`
	// LastGaspRules name rules (typically a UPS low_battery rule) whose raise means power is about to go:
	// the agent then pushes its whole backlog to every reachable broker at once.
	LastGaspRules []string `yaml:"last_gasp_rules"`
	Line          int
}

// MQTT says where alarms and readings go.
type MQTT struct {
	TopicPrefix    string         `yaml:"topic_prefix"`
	Brokers        []Broker       `yaml:"brokers"`
	Readings       ReadingsPolicy `yaml:"readings"`
	EmbeddedBroker string         `yaml:"embedded_broker"`
	// HomeAssistant, when set, publishes Home Assistant discovery configs (homeassistant.go).
	HomeAssistant *HomeAssistant `yaml:"home_assistant"`
	// EmbeddedBrokerAuth, when set, makes the embedded broker take only the users it lists.
	EmbeddedBrokerAuth *BrokerAuth `yaml:"embedded_broker_auth"`
	// EmbeddedLogin is how the gateway logs in to its own embedded broker when it has users: set by the
	// agent when it starts the broker, never read from the file.
	EmbeddedLogin *Login `yaml:"-"`
	Line          int
}

// Login is a user name and password held in memory only.
type Login struct{ User, Password string }

// Broker is one MQTT broker every alarm is sent to.
type Broker struct {
	URL          string            `yaml:"url"`
	CAFile       string            `yaml:"ca_file"`
	CertFile     string            `yaml:"cert_file"`
	KeyFile      string            `yaml:"key_file"`
	ServerName   string            `yaml:"server_name"`
	Username     string            `yaml:"username"`
	Password     string            `yaml:"password"` // rejected: present only to explain why
	PasswordFile string            `yaml:"password_file"`
	PasswordEnv  string            `yaml:"password_env"`
	ClientID     string            `yaml:"client_id"`
	KeepAlive    settings.Duration `yaml:"keepalive"`
	// Commands says whether the gateway takes operator commands arriving through this broker (default
	// true); commands arriving through others are ignored and counted.
	Commands *bool `yaml:"commands"`
	Line     int
}

// PasswordSecret says where the broker password is kept.
func (b *Broker) PasswordSecret() settings.Secret {
	return settings.Secret{File: b.PasswordFile, Env: b.PasswordEnv}
}

// ReadingsPolicy says how readings (as opposed to alarms) are published: on a change beyond Deadband, and
// at least every Every.
type ReadingsPolicy struct {
	Every    settings.Duration `yaml:"every"`
	Deadband float64           `yaml:"deadband"`
	QoS      int               `yaml:"qos"`
	// Disabled stops publishing readings altogether (alarms still go out).
	Disabled bool `yaml:"disabled"`
	Line     int
}

// Journal bounds the durable outbox of alarm transitions kept in state_dir.
type Journal struct {
	MaxSize settings.ByteSize `yaml:"max_size"`
	Line    int
}

// Bus is a shared wire (an I2C bus, an RS-485 line, a Modbus TCP gateway). One goroutine owns each bus.
type Bus struct {
	ID      string           `yaml:"id"`
	Type    string           `yaml:"type"`
	Options settings.Options `yaml:",rest"`
	Line    int
}

// Sensor is one configured device. Keys other than the common ones below belong to its driver.
type Sensor struct {
	ID     string            `yaml:"id"`
	Driver string            `yaml:"driver"`
	Bus    string            `yaml:"bus"`
	Every  settings.Duration `yaml:"every"`
	// Timeout bounds one read; a read that takes longer becomes a bad reading.
	Timeout settings.Duration `yaml:"timeout"`
	Labels  map[string]string `yaml:"labels"`
	Options settings.Options  `yaml:",rest"`
	Line    int
}

// Defaults applied when a key is absent.
const (
	DefaultStateDir    = "/var/lib/rackwatch"
	DefaultTopicPrefix = "rackwatch"
	DefaultEvery       = 5 * time.Second
	DefaultReadEvery   = 60 * time.Second
	DefaultJournalSize = 64 << 20
	maxTimeout         = 10 * time.Second
)

// Load reads, decodes and checks a config file. On failure the error is Errors: every problem, each with
// FILE:LINE. Driver-specific options are checked later, by whoever knows the drivers (agent.Check).
func Load(path string) (*Config, error) {
	data, err := readFile(path)
	if err != nil {
		return nil, settings.Errors{{File: path, Msg: fmt.Sprintf("cannot read config: %v", errors.Unwrap(err))}}
	}
	return Parse(path, data)
}

// Parse is Load on bytes already read; path only names the file in errors.
func Parse(path string, data []byte) (*Config, error) {
	c := &collector{file: path}
	doc, ok := c.unmarshal(data)
	if !ok {
		return nil, c.errs
	}
	cfg := &Config{File: path}
	c.decode(doc, reflect.ValueOf(cfg).Elem(), "")
	if len(c.errs) == 0 {
		c.errs = append(c.errs, cfg.include(path, includeLines(doc))...)
	}
	if len(c.errs) == 0 {
		cfg.applyDefaults()
		cfg.validate(c)
	}
	if len(c.errs) > 0 {
		c.errs.Sort()
		return nil, c.errs
	}
	return cfg, nil
}

func (cfg *Config) applyDefaults() {
	if cfg.Gateway.StateDir == "" {
		cfg.Gateway.StateDir = DefaultStateDir
	}
	if cfg.Gateway.LogLevel == "" {
		cfg.Gateway.LogLevel = "info"
	}
	if cfg.MQTT.TopicPrefix == "" {
		cfg.MQTT.TopicPrefix = DefaultTopicPrefix
	}
	if cfg.MQTT.Readings.Every == 0 {
		cfg.MQTT.Readings.Every = settings.Duration(DefaultReadEvery)
	}
	if cfg.Journal.MaxSize == 0 {
		cfg.Journal.MaxSize = DefaultJournalSize
	}
	for i := range cfg.Brokers() {
		b := &cfg.MQTT.Brokers[i]
		if b.KeepAlive == 0 {
			b.KeepAlive = settings.Duration(30 * time.Second)
		}
	}
	for i := range cfg.Sensors {
		s := &cfg.Sensors[i]
		if s.Every == 0 {
			s.Every = settings.Duration(DefaultEvery)
		}
		if s.Timeout == 0 {
			s.Timeout = min(s.Every, settings.Duration(maxTimeout))
		}
	}
	for i := range cfg.Rules {
		cfg.Rules[i].ApplyDefaults()
	}
	cfg.applyActionDefaults()
	cfg.applyHomeAssistantDefaults()
}

// Brokers returns the configured external brokers.
func (cfg *Config) Brokers() []Broker { return cfg.MQTT.Brokers }

// Sensor returns the sensor with the given id, or nil.
func (cfg *Config) Sensor(id string) *Sensor {
	for i := range cfg.Sensors {
		if cfg.Sensors[i].ID == id {
			return &cfg.Sensors[i]
		}
	}
	return nil
}

// BusByID returns the bus with the given id, or nil.
func (cfg *Config) BusByID(id string) *Bus {
	for i := range cfg.Buses {
		if cfg.Buses[i].ID == id {
			return &cfg.Buses[i]
		}
	}
	return nil
}
