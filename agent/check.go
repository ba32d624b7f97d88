package agent

import (
	"maps"
	"path/filepath"
	"slices"
	"strings"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/fileref"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/operator"
	"github.com/rackwatch/rackwatch/agent/outputs"
	"github.com/rackwatch/rackwatch/agent/rules"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Plan is a checked configuration: the config, the sensors and buses as their drivers see them, and what
// the drivers said about each sensor.
type Plan struct {
	Config  *config.Config
	Sensors []*driver.Sensor
	Buses   []*driver.Bus
	// Channels maps a sensor id to the channels its driver declared; a nil entry means the channels are
	// learned at run time.
	Channels map[string][]driver.ChannelInfo
	// Outputs are the checked outputs, in config order (checkoutputs.go).
	Outputs []outputs.Spec
	// Operators are the operators whose signed commands the gateway takes (checkoperators.go).
	Operators *operator.Keyring
	// warns are what Check found risky but not wrong (a private key among the operators' keys);
	// CheckFiles returns them with its own.
	warns settings.Errors
}

// Check validates everything Load cannot know alone: that each driver and bus type exists, that the driver
// accepts its options and bus, and that each rule matches at least one sensor channel. Every error carries
// FILE:LINE.
func Check(cfg *config.Config, reg *driver.Registry) (*Plan, error) {
	var errs settings.Errors
	add := func(line int, format string, args ...any) { errs.Add(cfg.File, line, format, args...) }
	addErr := func(err error, line int) {
		errs = append(errs, settings.AsErrors(err, cfg.File, line)...)
	}
	plan := &Plan{Config: cfg, Channels: map[string][]driver.ChannelInfo{}}
	checkBuild(cfg, &errs) // parts of the config this build cannot run (build.go)
	for i := range cfg.Buses {
		b := &cfg.Buses[i]
		db := b.DriverBus(cfg.File)
		plan.Buses = append(plan.Buses, db)
		bt := reg.Bus(b.Type)
		if bt == nil {
			add(b.Line, "bus %q: unknown type %q (known: %s)", b.ID, b.Type, strings.Join(reg.BusNames(), ", "))
			continue
		}
		if bt.Check != nil {
			if err := bt.Check(db); err != nil {
				addErr(err, b.Line)
			}
		}
	}
	for i := range cfg.Sensors {
		s := &cfg.Sensors[i]
		ds := s.DriverSensor(cfg.File)
		plan.Sensors = append(plan.Sensors, ds)
		d := reg.Driver(s.Driver)
		if d == nil {
			add(s.Line, "sensor %q: unknown driver %q (known: %s)", s.ID, s.Driver, strings.Join(reg.DriverNames(), ", "))
			continue
		}
		switch {
		case s.Bus == "" && len(d.Buses) > 0 && !d.BusOptional:
			add(s.Line, "sensor %q: driver %s needs a bus of type %s", s.ID, d.Name, strings.Join(d.Buses, " or "))
		case s.Bus != "" && len(d.Buses) == 0:
			add(s.Line, "sensor %q: driver %s takes no bus", s.ID, d.Name)
		case s.Bus != "":
			if b := cfg.BusByID(s.Bus); b != nil && !contains(d.Buses, b.Type) {
				add(s.Line, "sensor %q: driver %s cannot use bus %q of type %s (needs %s)", s.ID, d.Name, b.ID, b.Type, strings.Join(d.Buses, " or "))
			}
		}
		chs, err := d.Check(ds)
		if err != nil {
			addErr(err, s.Line)
			continue
		}
		plan.Channels[s.ID] = chs
	}
	plan.checkOutputs(reg, &errs)
	plan.checkOperators(&errs)
	if len(errs) == 0 {
		for i := range cfg.Rules {
			r := &cfg.Rules[i]
			file := cfg.File
			if r.File != "" {
				file = r.File // an included rule file
			}
			if r.Against != nil && !plan.matchesAny(r.Against) {
				errs.Add(file, r.Against.Line, "rule %q: against matches no sensor channel (check its sensor, channel and labels)", r.ID)
			}
			if r.Kind() == rules.KindComposite || plan.matchesAny(r.Match) {
				continue
			}
			errs.Add(file, r.Line, "rule %q matches no sensor channel (check match.sensor, match.channel and labels)", r.ID)
		}
	}
	if len(errs) > 0 {
		errs.Sort()
		return nil, errs
	}
	return plan, nil
}

func (p *Plan) matchesAny(m *rules.Match) bool {
	for i := range p.Config.Sensors {
		s := &p.Config.Sensors[i]
		chs, known := p.Channels[s.ID]
		if chs == nil && known {
			// Channels learned at run time: a rule naming this sensor, or a specific channel, may match.
			if matchSensorOnly(m, s) {
				return true
			}
			continue
		}
		for _, ch := range chs {
			if m.Matches(s.ID, ch.Channel, s.Labels) {
				return true
			}
		}
	}
	return false
}

func matchSensorOnly(m *rules.Match, s *config.Sensor) bool {
	mm := *m
	mm.Channel = ""
	return mm.Matches(s.ID, "", s.Labels)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// LoadAndCheck is config.Load followed by Check.
func LoadAndCheck(path string, reg *driver.Registry) (*Plan, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return Check(cfg, reg)
}

// IsConfigError reports whether err is a config problem (as opposed to an I/O failure at run time).
func IsConfigError(err error) bool { return settings.IsConfigError(err) }

// RuleSensors describes the plan's sensors to the rules engine, with the channels and units their drivers
// declared.
func (p *Plan) RuleSensors() []rules.Sensor {
	out := p.Config.RuleSensors()
	for i := range out {
		for _, ci := range p.Channels[out[i].ID] {
			out[i].Channels = append(out[i].Channels, rules.Channel{Name: ci.Channel, Unit: ci.Unit})
		}
	}
	return out
}

// Files lists the paths the config names, for fileref.Check: each broker's password, CA, certificate and
// key; every driver option whose key ends in _file (a file the driver reads; a secret when the key names
// a password, community, secret or token, or is key_file) or _dir (a directory it reads, relative to the
// config file); and the state directory, which the agent creates when it is missing.
func (p *Plan) Files() []fileref.Ref {
	cfg := p.Config
	var refs []fileref.Ref
	add := func(line int, key, path string, need fileref.Need, secret bool) {
		if path != "" {
			refs = append(refs, fileref.Ref{File: cfg.File, Line: line, Key: key, Path: path, Need: need, Secret: secret})
		}
	}
	refs = append(refs, fileref.Ref{File: cfg.File, Line: cfg.Gateway.Line, Key: "gateway.state_dir", Path: cfg.Gateway.StateDir,
		Need: fileref.Write, MayBeMissing: true})
	refs = append(refs, p.operatorFiles()...)
	for i := range cfg.MQTT.Brokers {
		b := &cfg.MQTT.Brokers[i]
		add(b.Line, "password_file", b.PasswordFile, fileref.Read, true)
		add(b.Line, "ca_file", b.CAFile, fileref.Read, false)
		add(b.Line, "cert_file", b.CertFile, fileref.Read, false)
		add(b.Line, "key_file", b.KeyFile, fileref.Read, true)
	}
	optionFiles := func(o settings.Options) {
		if o == nil || o.Empty() {
			return
		}
		var keys map[string]settings.Options
		if o.Decode(&keys) != nil {
			return // the driver reports the options' problems
		}
		for _, k := range slices.Sorted(maps.Keys(keys)) {
			var path string
			if !strings.HasSuffix(k, "_file") && !strings.HasSuffix(k, "_dir") || keys[k].Decode(&path) != nil || path == "" {
				continue
			}
			if strings.HasSuffix(k, "_dir") {
				if !filepath.IsAbs(path) {
					path = filepath.Join(filepath.Dir(cfg.File), path)
				}
				add(o.KeyLine(k), k, path, fileref.List, false)
				continue
			}
			add(o.KeyLine(k), k, path, fileref.Read, secretKey(k))
		}
	}
	for i := range cfg.Buses {
		optionFiles(cfg.Buses[i].Options)
	}
	for i := range cfg.Sensors {
		optionFiles(cfg.Sensors[i].Options)
	}
	return refs
}

func secretKey(k string) bool {
	if k == "key_file" || strings.HasSuffix(k, "_key_file") {
		return true
	}
	for _, s := range []string{"password", "community", "secret", "token"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// CheckFiles checks what `run` would trip on in the files the config names, as u (fileref.Process() for
// this process): each path exists and u can use it, a broker's TLS files hold what TLS needs and its
// password file can be read. errs fail `check` and `run`; warns (a secret others can read, a relative
// path that depends on the working directory) are printed and the agent runs.
func CheckFiles(p *Plan, u *fileref.User) (errs, warns settings.Errors) {
	refs := p.Files()
	errs, warns = fileref.Check(refs, u)
	warns = append(warns, p.warns...)
	warns = append(warns, p.exposure()...)
	for _, r := range refs {
		if r.Need == fileref.Read && !filepath.IsAbs(r.Path) {
			warns.Add(r.File, r.Line, "warning: %s %q is relative: the agent opens it from its working directory (/ as a service), not from the config's; write the absolute path", r.Key, r.Path)
		}
	}
	failed := map[int]bool{}
	for _, e := range errs {
		failed[e.Line] = true
	}
	cfg := p.Config
	for i := range cfg.MQTT.Brokers {
		b := &cfg.MQTT.Brokers[i]
		if failed[b.Line] {
			continue // the files themselves are the problem
		}
		if b.CAFile != "" || b.CertFile != "" {
			if _, err := mqtt.TLSConfig(b.CAFile, b.CertFile, b.KeyFile, b.ServerName); err != nil {
				errs.Add(cfg.File, b.Line, "broker %s: %s", b.URL, strings.TrimPrefix(err.Error(), "mqtt: "))
			}
		}
		if b.PasswordFile != "" {
			if _, err := b.PasswordSecret().Read(); err != nil {
				errs.Add(cfg.File, b.Line, "broker %s: password_file: %v", b.URL, err)
			}
		}
	}
	if a := cfg.MQTT.EmbeddedBrokerAuth; a != nil && !failed[a.Line] {
		e, w := p.checkBrokerUsers(a)
		errs, warns = append(errs, e...), append(warns, w...)
	}
	errs.Sort()
	warns.Sort()
	return errs, warns
}
