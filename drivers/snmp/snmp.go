package snmp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// Options are the `snmp` driver's keys in a sensor entry.
type Options struct {
	// Address is the agent's host:port; the port defaults to 161.
	Address string `yaml:"address"`
	// Version is 2c or 3.
	Version string `yaml:"version"`
	// v2c: the community string, from a file or the environment.
	Community     string `yaml:"community"` // rejected: present only to explain why
	CommunityFile string `yaml:"community_file"`
	CommunityEnv  string `yaml:"community_env"`
	// v3 (USM).
	Username         string `yaml:"username"`
	SecurityLevel    string `yaml:"security_level"` // noAuthNoPriv, authNoPriv, authPriv
	AuthProtocol     string `yaml:"auth_protocol"`  // MD5, SHA, SHA224, SHA256, SHA384, SHA512
	AuthPasswordFile string `yaml:"auth_password_file"`
	AuthPasswordEnv  string `yaml:"auth_password_env"`
	PrivProtocol     string `yaml:"priv_protocol"` // DES, AES, AES192, AES256, AES192C, AES256C
	PrivPasswordFile string `yaml:"priv_password_file"`
	PrivPasswordEnv  string `yaml:"priv_password_env"`
	ContextName      string `yaml:"context_name"`
	// Retries is how often a request without an answer is re-sent within one poll.
	Retries int `yaml:"retries"`
}

var authProtocols = map[string]gosnmp.SnmpV3AuthProtocol{
	"MD5": gosnmp.MD5, "SHA": gosnmp.SHA, "SHA224": gosnmp.SHA224, "SHA256": gosnmp.SHA256,
	"SHA384": gosnmp.SHA384, "SHA512": gosnmp.SHA512,
}

var privProtocols = map[string]gosnmp.SnmpV3PrivProtocol{
	"DES": gosnmp.DES, "AES": gosnmp.AES, "AES192": gosnmp.AES192, "AES256": gosnmp.AES256,
	"AES192C": gosnmp.AES192C, "AES256C": gosnmp.AES256C,
}

var levels = map[string]gosnmp.SnmpV3MsgFlags{
	"noAuthNoPriv": gosnmp.NoAuthNoPriv, "authNoPriv": gosnmp.AuthNoPriv, "authPriv": gosnmp.AuthPriv,
}

// Register adds the snmp driver.
func Register(r *driver.Registry) {
	r.Add(driver.Driver{Name: "snmp", Check: check, Open: open})
}

func decode(s *driver.Sensor) (*Options, error) {
	o := &Options{Version: "2c", SecurityLevel: "authPriv", AuthProtocol: "SHA", PrivProtocol: "AES", Retries: 1}
	if err := s.Options.Decode(o); err != nil {
		return nil, err
	}
	probs := settings.NewProblems(s.Options)
	add := probs.Add
	if o.Address == "" {
		add("address", "snmp: address is required (the UPS card's host:port, e.g. 10.0.0.30:161)")
	} else if _, err := driver.HostPort(o.Address, "161"); err != nil {
		add("address", "snmp: address %q: expected host or host:port", o.Address)
	}
	if o.Community != "" {
		add("community", "snmp: the community is a password and is not written in the config; use community_file or community_env")
	}
	secret := func(fileKey, file, env, what string) {
		if err := (settings.Secret{File: file, Env: env}).Check(what + "_file or " + what + "_env"); err != nil {
			add(fileKey, "snmp: %v", err)
		}
	}
	secret("community_file", o.CommunityFile, o.CommunityEnv, "community")
	secret("auth_password_file", o.AuthPasswordFile, o.AuthPasswordEnv, "auth_password")
	secret("priv_password_file", o.PrivPasswordFile, o.PrivPasswordEnv, "priv_password")
	hasAuth := o.AuthPasswordFile != "" || o.AuthPasswordEnv != ""
	hasPriv := o.PrivPasswordFile != "" || o.PrivPasswordEnv != ""
	switch o.Version {
	case "2c":
		if o.CommunityFile == "" && o.CommunityEnv == "" {
			add("version", "snmp: version 2c needs community_file or community_env")
		}
		if o.Username != "" || hasAuth || hasPriv {
			add("username", "snmp: username and auth/priv passwords are for version 3")
		}
	case "3":
		if o.CommunityFile != "" || o.CommunityEnv != "" {
			add("community_file", "snmp: a community is for version 2c; version 3 uses username and passwords")
		}
		if o.Username == "" {
			add("version", "snmp: version 3 needs a username")
		}
		lvl, ok := levels[o.SecurityLevel]
		if !ok {
			add("security_level", "snmp: security_level %q: use noAuthNoPriv, authNoPriv or authPriv", o.SecurityLevel)
		}
		if _, ok := authProtocols[o.AuthProtocol]; !ok {
			add("auth_protocol", "snmp: auth_protocol %q: use MD5, SHA, SHA224, SHA256, SHA384 or SHA512", o.AuthProtocol)
		}
		if _, ok := privProtocols[o.PrivProtocol]; !ok {
			add("priv_protocol", "snmp: priv_protocol %q: use DES, AES, AES192, AES256, AES192C or AES256C", o.PrivProtocol)
		}
		if ok && lvl&gosnmp.AuthNoPriv != 0 && !hasAuth {
			add("security_level", "snmp: security_level %s needs auth_password_file or auth_password_env", o.SecurityLevel)
		}
		if ok && lvl == gosnmp.AuthPriv && !hasPriv {
			add("security_level", "snmp: security_level authPriv needs priv_password_file or priv_password_env")
		}
	default:
		add("version", "snmp: version %q: use 2c or 3", o.Version)
	}
	if o.Retries < 0 || o.Retries > 5 {
		add("retries", "snmp: retries %d: use 0 to 5", o.Retries)
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return o, nil
}

// channels is what every snmp sensor produces, in order.
var channels = []reading.Channel{
	reading.OnBattery, reading.LowBattery, reading.Charge, reading.Runtime, reading.BatteryVoltage,
	reading.BatteryTemp, reading.InputVoltage, reading.OutputVoltage, reading.Load, reading.ReplaceBattery,
	reading.Overload, reading.Fault,
}

func check(s *driver.Sensor) ([]driver.ChannelInfo, error) {
	if _, err := decode(s); err != nil {
		return nil, err
	}
	chs := driver.Channels(channels...)
	for i := range chs {
		if r, ok := resolutions[chs[i].Channel]; ok {
			chs[i].Resolution = r
		}
	}
	return chs, nil
}

// resolutions are the UPS-MIB's units (RFC 1628) where they differ from the channel's default: whole
// minutes of runtime, tenths of a volt on the battery, whole degrees and volts elsewhere.
var resolutions = map[reading.Channel]float64{reading.Runtime: 60, reading.BatteryVoltage: 0.1, reading.BatteryTemp: 1,
	reading.InputVoltage: 1, reading.OutputVoltage: 1}

func readSecret(file, env, what string) (string, error) {
	v, err := settings.Secret{File: file, Env: env}.Read()
	if err != nil {
		return "", fmt.Errorf("snmp: %s: %w", what, err)
	}
	return v, nil
}

// Device is an opened SNMP UPS.
type Device struct {
	opts *Options
	log  *slog.Logger
	g    *gosnmp.GoSNMP
	conn bool

	vals       [len(scalars)]float64
	has        [len(scalars)]bool
	alarms     []int
	lastAlarms string
	errMissing [len(scalars)]error
}

func open(ctx context.Context, env driver.Env) (driver.Device, error) {
	o, err := decode(env.Sensor)
	if err != nil {
		return nil, err
	}
	log := env.Logger()
	return New(o, log)
}

// New returns a device for the options; nothing is sent until the first Read.
func New(o *Options, log *slog.Logger) (*Device, error) {
	host, portS, _ := net.SplitHostPort(mustHostPort(o.Address))
	port, _ := strconv.Atoi(portS)
	g := &gosnmp.GoSNMP{
		Target: host, Port: uint16(port), Transport: "udp", Retries: o.Retries, MaxOids: len(scalars),
		MaxRepetitions: 16, Timeout: 2 * time.Second,
	}
	switch o.Version {
	case "2c":
		c, err := readSecret(o.CommunityFile, o.CommunityEnv, "community")
		if err != nil {
			return nil, err
		}
		g.Version, g.Community = gosnmp.Version2c, c
	case "3":
		auth, err := readSecret(o.AuthPasswordFile, o.AuthPasswordEnv, "auth_password")
		if err != nil {
			return nil, err
		}
		priv, err := readSecret(o.PrivPasswordFile, o.PrivPasswordEnv, "priv_password")
		if err != nil {
			return nil, err
		}
		lvl := levels[o.SecurityLevel]
		usm := &gosnmp.UsmSecurityParameters{UserName: o.Username, AuthenticationProtocol: gosnmp.NoAuth, PrivacyProtocol: gosnmp.NoPriv}
		if lvl&gosnmp.AuthNoPriv != 0 {
			if len(auth) < 8 {
				return nil, errors.New("snmp: the auth password is shorter than the 8 characters SNMPv3 requires")
			}
			usm.AuthenticationProtocol, usm.AuthenticationPassphrase = authProtocols[o.AuthProtocol], auth
		}
		if lvl == gosnmp.AuthPriv {
			if len(priv) < 8 {
				return nil, errors.New("snmp: the priv password is shorter than the 8 characters SNMPv3 requires")
			}
			usm.PrivacyProtocol, usm.PrivacyPassphrase = privProtocols[o.PrivProtocol], priv
		}
		g.Version, g.SecurityModel, g.MsgFlags, g.SecurityParameters = gosnmp.Version3, gosnmp.UserSecurityModel, lvl, usm
		g.ContextName = o.ContextName
	}
	d := &Device{opts: o, log: log, g: g}
	for i, n := range scalarNames {
		d.errMissing[i] = fmt.Errorf("snmp: the agent does not provide %s", n)
	}
	return d, nil
}

// Close closes the UDP socket.
func (d *Device) Close() error {
	if !d.conn {
		return nil
	}
	d.conn = false
	return d.g.Conn.Close()
}

// Read polls the UPS once and appends one sample per channel.
func (d *Device) Read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	if dl, ok := ctx.Deadline(); ok {
		// Spread the caller's time over the tries, so the last one still fits in it.
		d.g.Timeout = max(time.Until(dl)/time.Duration(d.opts.Retries+1), 50*time.Millisecond)
	}
	d.g.Context = ctx
	if !d.conn {
		if err := d.g.Connect(); err != nil {
			return out, fmt.Errorf("snmp: %s: %w", d.opts.Address, err)
		}
		d.conn = true
	}
	if err := d.poll(); err != nil {
		cause := ctx.Err()
		if cause == nil && (errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "timeout")) {
			cause = err
		}
		if cause != nil {
			// An agent stays silent on a wrong community or unknown v3 user, so say what to check.
			err = fmt.Errorf("snmp: %s: no answer (%w); check the address, the community or v3 credentials and the agent's access list", d.opts.Address, cause)
		}
		return out, err
	}
	return d.samples(out), nil
}

func (d *Device) poll() error {
	res, err := d.g.Get(scalars[:])
	if err != nil {
		return fmt.Errorf("snmp: %s: %w", d.opts.Address, err)
	}
	if res.Error != gosnmp.NoError {
		return fmt.Errorf("snmp: %s: the agent answered %s", d.opts.Address, res.Error)
	}
	if len(res.Variables) != len(scalars) {
		return fmt.Errorf("snmp: %s: %d values for %d objects asked", d.opts.Address, len(res.Variables), len(scalars))
	}
	for i, v := range res.Variables {
		d.has[i] = false
		if strings.TrimPrefix(v.Name, ".") != scalars[i][1:] {
			return fmt.Errorf("snmp: %s: answer for %s where %s was asked", d.opts.Address, v.Name, scalars[i])
		}
		switch v.Type {
		case gosnmp.Integer, gosnmp.Gauge32, gosnmp.Counter32, gosnmp.Uinteger32, gosnmp.TimeTicks, gosnmp.Counter64:
			d.vals[i], d.has[i] = number(v.Value)
		}
	}
	d.alarms = d.alarms[:0]
	if d.has[iAlarmsPresent] && d.vals[iAlarmsPresent] > 0 {
		walk := d.g.BulkWalk
		err := walk(oidAlarmDescr, func(pdu gosnmp.SnmpPDU) error {
			if pdu.Type != gosnmp.ObjectIdentifier {
				return nil
			}
			s, _ := pdu.Value.(string)
			if rest, ok := strings.CutPrefix(s, oidWellKnownAlarms+"."); ok {
				if n, err := strconv.Atoi(rest); err == nil {
					d.alarms = append(d.alarms, n)
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("snmp: %s: alarm table: %w", d.opts.Address, err)
		}
	}
	d.noteAlarms()
	return nil
}

// number converts the Go types gosnmp decodes integers to, without gosnmp.ToBigInt's allocation.
func number(v any) (float64, bool) {
	switch n := v.(type) {
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case int64:
		return float64(n), true
	case uint:
		return float64(n), true
	case uint32:
		return float64(n), true
	case uint64:
		return float64(n), true
	}
	return 0, false
}

// noteAlarms logs the set of present alarms by name when it changes.
func (d *Device) noteAlarms() {
	if len(d.alarms) == 0 && d.lastAlarms == "" {
		return
	}
	sort.Ints(d.alarms)
	names := make([]string, 0, len(d.alarms))
	for _, a := range d.alarms {
		n := alarmNames[a]
		if n == "" {
			n = "alarm-" + strconv.Itoa(a)
		}
		names = append(names, n)
	}
	s := strings.Join(names, ",")
	if s == d.lastAlarms {
		return
	}
	d.lastAlarms = s
	if s == "" {
		d.log.Info("snmp: UPS alarms cleared", "address", d.opts.Address)
	} else {
		d.log.Warn("snmp: UPS alarms present", "address", d.opts.Address, "alarms", s)
	}
}

func (d *Device) alarm(ids ...int) bool {
	for _, a := range d.alarms {
		for _, id := range ids {
			if a == id {
				return true
			}
		}
	}
	return false
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func (d *Device) samples(out []driver.Sample) []driver.Sample {
	add := func(ch reading.Channel, v float64, err error) {
		out = append(out, driver.Sample{Channel: ch, Value: v, Err: err})
	}
	scaled := func(ch reading.Channel, i int, scale float64) {
		if !d.has[i] {
			add(ch, 0, d.errMissing[i])
			return
		}
		add(ch, d.vals[i]*scale, nil)
	}
	haveAlarms := d.has[iAlarmsPresent]
	// On battery: the output source says so; agents without it still raise OnBattery or count seconds.
	switch {
	case d.has[iOutputSource]:
		add(reading.OnBattery, b2f(d.vals[iOutputSource] == 5 || d.alarm(alarmOnBattery)), nil)
	case haveAlarms || d.has[iSecondsOnBattery]:
		add(reading.OnBattery, b2f(d.alarm(alarmOnBattery) || d.has[iSecondsOnBattery] && d.vals[iSecondsOnBattery] > 0), nil)
	default:
		add(reading.OnBattery, 0, d.errMissing[iOutputSource])
	}
	if d.has[iBatteryStatus] || haveAlarms {
		st := d.vals[iBatteryStatus]
		low := d.has[iBatteryStatus] && (st == 3 || st == 4)
		add(reading.LowBattery, b2f(low || d.alarm(alarmLowBattery, alarmDepletedBattery)), nil)
	} else {
		add(reading.LowBattery, 0, d.errMissing[iBatteryStatus])
	}
	scaled(reading.Charge, iCharge, 1)
	scaled(reading.Runtime, iMinutesRemaining, 60)
	scaled(reading.BatteryVoltage, iBatteryVoltage, 0.1)
	scaled(reading.BatteryTemp, iBatteryTemp, 1)
	scaled(reading.InputVoltage, iInputVoltage, 1)
	scaled(reading.OutputVoltage, iOutputVoltage, 1)
	scaled(reading.Load, iLoad, 1)
	flag := func(ch reading.Channel, ids ...int) {
		if !haveAlarms {
			add(ch, 0, d.errMissing[iAlarmsPresent])
			return
		}
		add(ch, b2f(d.alarm(ids...)), nil)
	}
	flag(reading.ReplaceBattery, alarmBatteryBad)
	flag(reading.Overload, alarmOutputOverload)
	flag(reading.Fault, faultAlarms...)
	return out
}

var _ driver.Poller = (*Device)(nil)

// mustHostPort is the checked address (Check has already refused a bad one).
func mustHostPort(addr string) string {
	a, _ := driver.HostPort(addr, "161")
	return a
}
