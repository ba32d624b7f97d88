package config

import (
	"net"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Operator is someone whose signed commands (ack, shelve, unshelve, output tests) this gateway takes: a
// name and the public key file `rackwatch key new NAME` wrote (NAME.pub).
type Operator struct {
	Name          string `yaml:"name"`
	PublicKeyFile string `yaml:"public_key_file"`
	Line          int
}

// Command window bounds: how far a command's signing time may be from the gateway's clock.
const (
	DefaultCommandWindow = 5 * time.Minute
	minCommandWindow     = 10 * time.Second
	maxCommandWindow     = time.Hour
)

// BrokerAuth makes the embedded broker ask every client for a user and password, and decides what each
// may do: the gateway itself publishes its own topics (with a password only it knows, made at each start);
// operators may publish commands (<prefix>/+/cmd/…) and read; readers only read.
type BrokerAuth struct {
	// PasswordFile holds one "user:hash" line per user, the hash bcrypt's ($2a$, $2b$, $2y$: `rackwatch key
	// password`, or `htpasswd -B`).
	PasswordFile string   `yaml:"password_file"`
	Operators    []string `yaml:"operators"`
	Readers      []string `yaml:"readers"`
	Line         int
}

// CommandsFrom reports whether the gateway takes commands from this broker (commands: true, the default).
func (b *Broker) CommandsFrom() bool { return b.Commands == nil || *b.Commands }

// Window is the command time window, with its default.
func (cfg *Config) Window() time.Duration {
	if cfg.CommandWindow == 0 {
		return DefaultCommandWindow
	}
	return cfg.CommandWindow.D()
}

// keyLine is the line of a top-level key, or 0.
func (cfg *Config) keyLine(key string) int { return cfg.KeyLines[key] }

// OperatorsDirLine is the line of operators_dir, for errors about the directory.
func (cfg *Config) OperatorsDirLine() int { return cfg.keyLine("operators_dir") }

func (cfg *Config) validateOperators(c *collector) {
	names := map[string]int{}
	for i := range cfg.Operators {
		o := &cfg.Operators[i]
		switch {
		case o.Name == "":
			c.add(o.Line, "operators: name is required")
		case !contract.ValidOperator(o.Name):
			c.add(o.Line, "operator name %q: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.' or '-'", o.Name)
		}
		if prev, dup := names[o.Name]; dup && o.Name != "" {
			c.add(o.Line, "operator %q is listed twice (first on line %d)", o.Name, prev)
		}
		names[o.Name] = o.Line
		if o.PublicKeyFile == "" {
			c.add(o.Line, "operator %q: public_key_file is required (the NAME.pub that `rackwatch key new NAME` wrote)", o.Name)
		}
	}
	if w := cfg.CommandWindow; w != 0 && (w.D() < minCommandWindow || w.D() > maxCommandWindow) {
		c.add(cfg.keyLine("command_window"), "command_window %s: use %s to %s (default %s): how far a command's signing time may be from this gateway's clock",
			w, settings.Duration(minCommandWindow), settings.Duration(maxCommandWindow), settings.Duration(DefaultCommandWindow))
	}
	m := &cfg.MQTT
	if a := m.EmbeddedBrokerAuth; a != nil {
		if m.EmbeddedBroker == "" {
			c.add(a.Line, "mqtt.embedded_broker_auth: there is no embedded_broker to protect")
		}
		if a.PasswordFile == "" {
			c.add(a.Line, "mqtt.embedded_broker_auth: password_file is required (user:bcrypt-hash lines; `rackwatch key password FILE USER` adds one)")
		}
		role := map[string]string{}
		for _, l := range []struct {
			key   string
			names []string
		}{{"operators", a.Operators}, {"readers", a.Readers}} {
			for _, n := range l.names {
				switch {
				case !validUser(n):
					c.add(a.Line, "mqtt.embedded_broker_auth.%s: user %q: 1 to 64 characters, no ':', '/', '+', '#' or spaces", l.key, n)
				case role[n] != "":
					c.add(a.Line, "mqtt.embedded_broker_auth: user %q is listed under %s and %s; give each user one role", n, role[n], l.key)
				}
				role[n] = l.key
			}
		}
		if len(a.Operators) == 0 && len(a.Readers) == 0 {
			c.add(a.Line, "mqtt.embedded_broker_auth: list the users under operators (may send commands) or readers (read only)")
		}
	}
}

// validUser is a broker user name the password file and the ACL can hold.
func validUser(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if r <= ' ' || r == ':' || r == '/' || r == '+' || r == '#' || r == 0x7f {
			return false
		}
	}
	return true
}

// Loopback reports whether a listen address (host:port) is reachable from this machine only. An empty or
// unspecified host (":1883", "0.0.0.0:1883") listens everywhere; a name is judged by what it resolves to
// when it is localhost, and taken as reachable otherwise.
func Loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host == "" {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
