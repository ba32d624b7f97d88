package agent

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rackwatch/rackwatch/agent/brokerauth"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/fileref"
	"github.com/rackwatch/rackwatch/agent/operator"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// checkOperators reads the operators' public keys (operators, operators_dir): a key file that cannot be
// read or is no Ed25519 public key is an error at the line that names it.
func (p *Plan) checkOperators(errs *settings.Errors) {
	cfg := p.Config
	entries := make([]operator.Entry, len(cfg.Operators))
	for i, o := range cfg.Operators {
		entries[i] = operator.Entry{Name: o.Name, File: o.PublicKeyFile, ConfigFile: cfg.File, Line: o.Line}
	}
	k, warns, err := operator.Load(entries, operator.Dir{Path: p.operatorsDir(), ConfigFile: cfg.File, Line: cfg.OperatorsDirLine()})
	p.warns = append(p.warns, warns...)
	if err != nil {
		*errs = append(*errs, settings.AsErrors(err, cfg.File, 0)...)
		return
	}
	p.Operators = k
}

// operatorsDir is operators_dir, relative to the config file when it is not absolute.
func (p *Plan) operatorsDir() string {
	d := p.Config.OperatorsDir
	if d != "" && !filepath.IsAbs(d) {
		d = filepath.Join(filepath.Dir(p.Config.File), d)
		if abs, err := filepath.Abs(d); err == nil {
			d = abs // the agent may run from another directory (/ as a service)
		}
	}
	return d
}

// operatorFiles are the operators' key files and directory, and the embedded broker's password file, for
// fileref: the keys grant power (only root or the service user may change them), the passwords are secret.
func (p *Plan) operatorFiles() []fileref.Ref {
	cfg := p.Config
	var refs []fileref.Ref
	for _, o := range cfg.Operators {
		refs = append(refs, fileref.Ref{File: cfg.File, Line: o.Line, Key: "public_key_file", Path: o.PublicKeyFile, Need: fileref.Read, Authority: true})
	}
	if d := p.operatorsDir(); d != "" {
		refs = append(refs, fileref.Ref{File: cfg.File, Line: cfg.OperatorsDirLine(), Key: "operators_dir", Path: d, Need: fileref.List, Authority: true})
		for _, o := range p.Operators.Operators() {
			if filepath.Dir(o.File) == filepath.Clean(d) {
				refs = append(refs, fileref.Ref{File: cfg.File, Line: cfg.OperatorsDirLine(), Key: "operators_dir", Path: o.File, Need: fileref.Read, Authority: true})
			}
		}
	}
	if a := cfg.MQTT.EmbeddedBrokerAuth; a != nil {
		refs = append(refs, fileref.Ref{File: cfg.File, Line: a.Line, Key: "password_file", Path: a.PasswordFile, Need: fileref.Read, Secret: true})
	}
	return refs
}

// exposure warns about what listens beyond loopback without authentication or TLS: the HTTP endpoint
// (which has neither) and the embedded broker.
func (p *Plan) exposure() settings.Errors {
	cfg := p.Config
	var w settings.Errors
	if h := cfg.Gateway.HTTP; h != "" && !config.Loopback(h) {
		w.Add(cfg.File, cfg.Gateway.Line, "warning: gateway.http %s listens beyond loopback, and the status page and /metrics have no authentication or TLS: anyone who reaches it reads every alarm and reading. Keep it on 127.0.0.1, or put a reverse proxy with TLS and a login in front (docs/security.md)", h)
	}
	m := &cfg.MQTT
	if b := m.EmbeddedBroker; b != "" && !config.Loopback(b) {
		if m.EmbeddedBrokerAuth == nil {
			w.Add(cfg.File, m.Line, "warning: mqtt.embedded_broker %s listens beyond loopback without authentication: anyone who reaches it reads every alarm and can publish as this gateway (commands still need an operator's signature). Set mqtt.embedded_broker_auth, or keep it on 127.0.0.1 (docs/security.md)", b)
		} else {
			w.Add(cfg.File, m.Line, "warning: mqtt.embedded_broker %s listens beyond loopback without TLS: broker passwords and alarms cross the network in clear. Keep it on a network you trust, or use a Mosquitto with TLS (docs/security.md)", b)
		}
	}
	return w
}

// DescribeOperators says whose commands the gateway takes, and from which brokers, for `rackwatch check`.
func (p *Plan) DescribeOperators() []string {
	cfg := p.Config
	ops := p.Operators.Operators()
	if len(ops) == 0 {
		return []string{"operators: none, so every ack, shelve, unshelve and output test is refused; add one with `rackwatch key new NAME` and operators: or operators_dir (docs/security.md)"}
	}
	names := make([]string, len(ops))
	for i, o := range ops {
		names[i] = o.Name + " (" + operator.Fingerprint(o.Key) + ")"
	}
	out := []string{fmt.Sprintf("operators: %s; commands signed within ±%s of this gateway's clock", strings.Join(names, ", "), settings.Duration(cfg.Window()))}
	var from, not []string
	for _, b := range cfg.MQTT.Brokers {
		if b.CommandsFrom() {
			from = append(from, b.URL)
		} else {
			not = append(not, b.URL)
		}
	}
	if cfg.MQTT.EmbeddedBroker != "" {
		from = append(from, "the embedded broker")
	}
	line := "commands from: " + strings.Join(from, ", ")
	if len(from) == 0 {
		line = "commands from: no broker (every broker has commands: false)"
	}
	if len(not) > 0 {
		line += "; ignored from: " + strings.Join(not, ", ")
	}
	return append(out, line)
}

// checkBrokerUsers reads the embedded broker's password file: a line that is not user:bcrypt-hash is an
// error; a user a role names but the file lacks (cannot log in), or one the file has but no role names
// (can log in and do nothing), a warning.
func (p *Plan) checkBrokerUsers(a *config.BrokerAuth) (errs, warns settings.Errors) {
	cfg := p.Config
	hashes, err := brokerauth.ParseFile(a.PasswordFile)
	if err != nil {
		errs.Add(cfg.File, a.Line, "mqtt.embedded_broker_auth: password_file: %v", err)
		return errs, nil
	}
	u := brokerauth.New(cfg.MQTT.TopicPrefix, cfg.Gateway.ID, hashes, a.Operators, a.Readers)
	for _, n := range slices.Sorted(slices.Values(u.Missing())) {
		warns.Add(cfg.File, a.Line, "warning: mqtt.embedded_broker_auth: user %s has no line in %s, so cannot log in; add one with rackwatch key password %s %s", n, a.PasswordFile, a.PasswordFile, n)
	}
	for _, n := range slices.Sorted(slices.Values(u.Roleless())) {
		warns.Add(cfg.File, a.Line, "warning: mqtt.embedded_broker_auth: user %s of %s is neither under operators nor readers: it can log in and do nothing", n, a.PasswordFile)
	}
	return errs, warns
}
