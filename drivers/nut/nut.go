package nut

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// DefaultPort is upsd's IANA-assigned TCP port.
const DefaultPort = "3493"

// Options are the `nut` driver's keys in a sensor entry.
type Options struct {
	// Address is upsd's host:port; the port defaults to 3493.
	Address string `yaml:"address"`
	// UPS is the UPS's name on that upsd (the section name in ups.conf).
	UPS          string `yaml:"ups"`
	Username     string `yaml:"username"`
	Password     string `yaml:"password"` // rejected: present only to explain why
	PasswordFile string `yaml:"password_file"`
	PasswordEnv  string `yaml:"password_env"`
	// StartTLS upgrades the connection with STARTTLS before anything else is sent.
	StartTLS   bool   `yaml:"starttls"`
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
	// Variables maps further NUT variable names to channels, e.g. battery.temperature.cell.max: cell_max_temp.
	// Mapping a variable to one of the standard numeric channels replaces that channel's default source.
	Variables map[string]string `yaml:"variables"`
}

// standard is where each numeric channel comes from unless Variables says otherwise.
var standard = []struct {
	name string
	ch   reading.Channel
}{
	{"battery.charge", reading.Charge},
	{"battery.runtime", reading.Runtime},
	{"battery.voltage", reading.BatteryVoltage},
	{"battery.temperature", reading.BatteryTemp},
	{"input.voltage", reading.InputVoltage},
	{"output.voltage", reading.OutputVoltage},
	{"ups.load", reading.Load},
}

// statusChannels come from ups.status and cannot be remapped.
var statusChannels = []reading.Channel{reading.OnBattery, reading.LowBattery, reading.ReplaceBattery, reading.Overload, reading.Fault}

// Register adds the nut driver and the nut output type (instant commands).
func Register(r *driver.Registry) {
	r.Add(driver.Driver{Name: "nut", Check: check, Open: open})
	r.AddOutput(instCmdType())
}

func decode(s *driver.Sensor) (*Options, error) {
	o := &Options{}
	if err := s.Options.Decode(o); err != nil {
		return nil, err
	}
	probs := settings.NewProblems(s.Options)
	add := probs.Add
	checkConnection(o, add)
	seen := map[reading.Channel]string{}
	for _, st := range statusChannels {
		seen[st] = "ups.status"
	}
	for name, ch := range o.Variables {
		c := reading.Channel(ch)
		switch {
		case name == "" || strings.ContainsAny(name, " \"\\\n\r"):
			add("variables", "nut: variables: %q is not a NUT variable name", name)
		case !reading.ValidID(ch):
			add("variables", "nut: variables: channel %q for %s: use only a-z, 0-9, '.', '_' and '-'", ch, name)
		case seen[c] == "ups.status":
			add("variables", "nut: variables: channel %s comes from ups.status and cannot be mapped from %s", ch, name)
		case seen[c] != "":
			add("variables", "nut: variables: channel %s is mapped from both %s and %s", ch, seen[c], name)
		}
		seen[c] = name
	}
	if err := probs.Err(); err != nil {
		return nil, err
	}
	return o, nil
}

// checkConnection checks the keys that say how to reach and log in to upsd, shared by the nut sensor and
// the nut output.
func checkConnection(o *Options, add func(key, format string, args ...any)) {
	if o.Address == "" {
		add("address", "nut: address is required (upsd's host:port, e.g. 127.0.0.1:3493)")
	} else if _, err := driver.HostPort(o.Address, DefaultPort); err != nil {
		add("address", "nut: address %q: expected host or host:port", o.Address)
	}
	if o.UPS == "" {
		add("ups", "nut: ups is required (the UPS's name on upsd, as in `upsc -l`)")
	} else if strings.ContainsAny(o.UPS, " \"\\\n\r") {
		add("ups", "nut: ups %q: a UPS name has no spaces, quotes or backslashes", o.UPS)
	}
	if o.Password != "" {
		add("password", "nut: the password is not written in the config; use password_file or password_env")
	}
	if err := (settings.Secret{File: o.PasswordFile, Env: o.PasswordEnv}).Check("password_file or password_env"); err != nil {
		add("password_file", "nut: %v", err)
	}
	hasPass := o.PasswordFile != "" || o.PasswordEnv != ""
	if o.Username != "" && !hasPass {
		add("username", "nut: username needs password_file or password_env")
	}
	if o.Username == "" && hasPass {
		add("username", "nut: a password needs a username")
	}
	if strings.ContainsAny(o.Username, " \"\\\n\r") {
		add("username", "nut: username %q: no spaces, quotes or backslashes", o.Username)
	}
	if !o.StartTLS && (o.CAFile != "" || o.ServerName != "") {
		add("starttls", "nut: ca_file and server_name apply only with starttls: true")
	}
}

// slots lists the variables a poll looks for, in channel order: the standard ones (unless remapped), then
// the extra ones sorted by channel name.
func (o *Options) slots() []slot {
	remapped := map[reading.Channel]bool{}
	for _, ch := range o.Variables {
		remapped[reading.Channel(ch)] = true
	}
	var out []slot
	for _, st := range standard {
		name := st.name
		for n, ch := range o.Variables {
			if reading.Channel(ch) == st.ch {
				name = n
			}
		}
		out = append(out, slot{name: name, ch: st.ch})
	}
	var extra []slot
	for n, ch := range o.Variables {
		c := reading.Channel(ch)
		if isStandard(c) {
			continue
		}
		extra = append(extra, slot{name: n, ch: c})
	}
	for i := 1; i < len(extra); i++ { // insertion sort: a handful of entries, stable order for users
		for j := i; j > 0 && extra[j].ch < extra[j-1].ch; j-- {
			extra[j], extra[j-1] = extra[j-1], extra[j]
		}
	}
	for i := range out {
		out[i].missing = fmt.Errorf("nut: the UPS does not report %s", out[i].name)
	}
	for i := range extra {
		extra[i].missing = fmt.Errorf("nut: the UPS does not report %s", extra[i].name)
	}
	return append(out, extra...)
}

func isStandard(ch reading.Channel) bool {
	for _, st := range standard {
		if st.ch == ch {
			return true
		}
	}
	return false
}

func check(s *driver.Sensor) ([]driver.ChannelInfo, error) {
	o, err := decode(s)
	if err != nil {
		return nil, err
	}
	chs := []reading.Channel{reading.SelfTest, reading.OnBattery, reading.LowBattery}
	for _, sl := range o.slots() {
		chs = append(chs, sl.ch)
	}
	chs = append(chs, reading.ReplaceBattery, reading.Overload, reading.Fault)
	return driver.Channels(chs...), nil
}

// slot is one variable a poll looks for and what the last poll found.
type slot struct {
	name    string
	ch      reading.Channel
	missing error // preallocated "not reported" error, so a poll does not allocate
	value   float64
	seen    bool
	err     error
}

// Device is an opened NUT sensor. It keeps one connection to upsd and re-dials when it breaks.
type Device struct {
	opts     *Options
	addr     string
	password string
	tlsConf  *tls.Config
	log      *slog.Logger
	dialer   net.Dialer

	conn    net.Conn
	r       *bufio.Reader
	listCmd []byte
	ups     []byte
	scratch []byte
	slots   []slot

	status      statusFlags
	statusSeen  bool
	alarmText   []byte
	lastAlarm   string
	errNoStatus error
	errWait     error
}

// maxLine bounds one reply line; upsd's own limit for a value is far below it.
const maxLine = 4096

// maxVars bounds the lines of one LIST VAR reply, so a confused peer cannot make a poll run forever.
const maxVars = 2048

func open(ctx context.Context, env driver.Env) (driver.Device, error) {
	o, err := decode(env.Sensor)
	if err != nil {
		return nil, err
	}
	log := env.Logger()
	return New(o, log)
}

// New returns a device for the given options without connecting; the first Read connects.
func New(o *Options, log *slog.Logger) (*Device, error) {
	d := &Device{
		opts:        o,
		addr:        mustHostPort(o.Address),
		log:         log,
		listCmd:     []byte("LIST VAR " + o.UPS + "\n"),
		ups:         []byte(o.UPS),
		scratch:     make([]byte, 0, maxLine),
		slots:       o.slots(),
		errNoStatus: errors.New("nut: the UPS does not report ups.status"),
		errWait:     errors.New("nut: upsd is waiting for the UPS driver's first update (status WAIT)"),
	}
	var err error
	if d.password, err = (settings.Secret{File: o.PasswordFile, Env: o.PasswordEnv}).Read(); err != nil {
		return nil, fmt.Errorf("nut: password: %w", err)
	}
	if strings.ContainsAny(d.password, "\n\r") {
		return nil, errors.New("nut: the password has more than one line")
	}
	if o.StartTLS {
		d.tlsConf, err = tlsConfig(o, d.addr)
		if err != nil {
			return nil, err
		}
	}
	return d, nil
}

func tlsConfig(o *Options, addr string) (*tls.Config, error) {
	host, _, _ := net.SplitHostPort(addr)
	c := &tls.Config{ServerName: host, MinVersion: tls.VersionTLS12}
	if o.ServerName != "" {
		c.ServerName = o.ServerName
	}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("nut: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("nut: ca_file %s holds no PEM certificate", o.CAFile)
		}
		c.RootCAs = pool
	}
	return c, nil
}

// Close drops the connection to upsd, saying goodbye when it can.
func (d *Device) Close() error {
	if d.conn == nil {
		return nil
	}
	_ = d.conn.SetDeadline(time.Now().Add(time.Second))
	_, _ = d.conn.Write([]byte("LOGOUT\n"))
	err := d.conn.Close()
	d.conn, d.r = nil, nil
	return err
}

func (d *Device) drop() {
	if d.conn != nil {
		_ = d.conn.Close()
	}
	d.conn, d.r = nil, nil
}

// defaultTimeout bounds a poll when the caller's context has no deadline.
const defaultTimeout = 10 * time.Second

// Read polls the UPS once with LIST VAR and appends one sample per channel.
func (d *Device) Read(ctx context.Context, out []driver.Sample) ([]driver.Sample, error) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(defaultTimeout)
	}
	reused := d.conn != nil
	err := d.poll(ctx, deadline)
	if err != nil && reused && !isServerError(err) && ctx.Err() == nil {
		// A kept connection may have been closed by upsd (restart, idle peer); one fresh try.
		d.log.Debug("nut: reconnecting", "err", err)
		err = d.poll(ctx, deadline)
	}
	if err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("nut: %s: %w", d.addr, ctx.Err())
		}
		return out, err
	}
	return d.samples(out), nil
}

func isServerError(err error) bool {
	var se *ServerError
	return errors.As(err, &se)
}

func (d *Device) poll(ctx context.Context, deadline time.Time) error {
	if d.conn == nil {
		if err := d.connect(ctx, deadline); err != nil {
			d.drop()
			return err
		}
	}
	conn := d.conn
	_ = conn.SetDeadline(deadline)
	if ctx.Done() != nil {
		// Cancellation (shutdown, the scheduler's timeout) must interrupt a read blocked on the socket.
		stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	if _, err := conn.Write(d.listCmd); err != nil {
		d.drop()
		return fmt.Errorf("nut: %s: send: %w", d.addr, err)
	}
	err := d.readList()
	if err != nil && !isServerError(err) {
		d.drop()
	}
	return err
}

func (d *Device) connect(ctx context.Context, deadline time.Time) error {
	dctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	c, err := d.dialer.DialContext(dctx, "tcp", d.addr)
	if err != nil {
		return fmt.Errorf("nut: %w", err)
	}
	d.conn, d.r = c, bufio.NewReaderSize(c, maxLine)
	_ = c.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if d.tlsConf != nil {
		if err := d.command("STARTTLS", "OK STARTTLS"); err != nil {
			return err
		}
		tc := tls.Client(c, d.tlsConf)
		if err := tc.HandshakeContext(dctx); err != nil {
			return fmt.Errorf("nut: %s: TLS: %w", d.addr, err)
		}
		d.conn, d.r = tc, bufio.NewReaderSize(tc, maxLine)
	}
	if d.opts.Username != "" {
		if err := d.command("USERNAME "+d.opts.Username, "OK"); err != nil {
			return err
		}
		if err := d.command("PASSWORD "+quote(d.password), "OK"); err != nil {
			return err
		}
	}
	d.log.Info("nut: connected", "address", d.addr, "ups", d.opts.UPS, "tls", d.tlsConf != nil)
	return nil
}

// quote writes a protocol argument in double quotes with the protocol's escapes.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// command sends one line and expects a reply that starts with want.
func (d *Device) command(cmd, want string) error {
	if _, err := io.WriteString(d.conn, cmd+"\n"); err != nil {
		return fmt.Errorf("nut: %s: send: %w", d.addr, err)
	}
	line, err := d.readLine()
	if err != nil {
		return err
	}
	verb, _, _ := strings.Cut(cmd, " ")
	if rest, ok := strings.CutPrefix(string(line), "ERR "); ok {
		return fmt.Errorf("nut: %s: %w", verb, parseErr([]byte(rest)))
	}
	if !strings.HasPrefix(string(line), want) {
		return fmt.Errorf("%w: %s answered %q", ErrSyntax, verb, printable(line))
	}
	return nil
}

func (d *Device) readLine() ([]byte, error) {
	line, err := d.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, fmt.Errorf("%w: a line longer than %d bytes", ErrSyntax, maxLine)
		}
		return nil, fmt.Errorf("nut: %s: receive: %w", d.addr, err)
	}
	line = line[:len(line)-1]
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, nil
}

func (d *Device) readList() error {
	for i := range d.slots {
		d.slots[i].seen, d.slots[i].err = false, nil
	}
	d.statusSeen = false
	d.alarmText = d.alarmText[:0]
	begun := false
	for n := 0; n < maxVars; n++ {
		line, err := d.readLine()
		if err != nil {
			return err
		}
		kind, name, value, err := parseListLine(line, d.ups, d.scratch)
		if err != nil {
			if isServerError(err) && !begun {
				return err
			}
			return fmt.Errorf("nut: %s: %w", d.addr, err)
		}
		switch kind {
		case lineBegin:
			begun = true
		case lineEnd:
			if !begun {
				return fmt.Errorf("%w: END before BEGIN", ErrSyntax)
			}
			d.noteAlarm()
			return nil
		case lineVar:
			if !begun {
				return fmt.Errorf("%w: VAR before BEGIN", ErrSyntax)
			}
			d.take(name, value)
		}
	}
	return fmt.Errorf("%w: more than %d lines in one LIST VAR reply", ErrSyntax, maxVars)
}

// take records one variable of the reply.
func (d *Device) take(name, value []byte) {
	switch string(name) {
	case "ups.status":
		d.status, d.statusSeen = parseStatus(value), true
	case "ups.alarm":
		d.alarmText = append(d.alarmText[:0], value...)
	}
	for i := range d.slots {
		s := &d.slots[i]
		if s.name != string(name) {
			continue
		}
		s.seen = true
		v, err := strconv.ParseFloat(string(value), 64)
		if err != nil {
			s.err = fmt.Errorf("nut: %s = %q is not a number", s.name, printable(value))
			continue
		}
		s.value = v
	}
}

// noteAlarm logs ups.alarm when its text changes; the fault channel carries only that there is one.
func (d *Device) noteAlarm() {
	if string(d.alarmText) == d.lastAlarm {
		return
	}
	d.lastAlarm = string(d.alarmText)
	if d.lastAlarm != "" {
		d.log.Warn("nut: UPS alarm", "ups", d.opts.UPS, "alarm", d.lastAlarm)
	} else {
		d.log.Info("nut: UPS alarm cleared", "ups", d.opts.UPS)
	}
}

func (d *Device) samples(out []driver.Sample) []driver.Sample {
	var stErr error
	switch {
	case !d.statusSeen:
		stErr = d.errNoStatus
	case d.status.wait:
		stErr = d.errWait
	}
	flag := func(ch reading.Channel, on bool) {
		if stErr != nil {
			out = append(out, driver.Sample{Channel: ch, Err: stErr})
			return
		}
		v := 0.0
		if on {
			v = 1
		}
		out = append(out, driver.Sample{Channel: ch, Value: v})
	}
	// The test state first: an on-battery rule with `unless` sees it before the on_battery it explains.
	flag(reading.SelfTest, d.status.test)
	flag(reading.OnBattery, d.status.onBattery)
	flag(reading.LowBattery, d.status.lowBattery)
	for i := range d.slots {
		s := &d.slots[i]
		switch {
		case !s.seen:
			out = append(out, driver.Sample{Channel: s.ch, Err: s.missing})
		case s.err != nil:
			out = append(out, driver.Sample{Channel: s.ch, Err: s.err})
		default:
			out = append(out, driver.Sample{Channel: s.ch, Value: s.value})
		}
	}
	flag(reading.ReplaceBattery, d.status.replace)
	flag(reading.Overload, d.status.overload)
	flag(reading.Fault, d.status.alarm || len(d.alarmText) > 0)
	return out
}

var _ driver.Poller = (*Device)(nil)

// mustHostPort is the checked address (Check has already refused a bad one).
func mustHostPort(addr string) string {
	a, _ := driver.HostPort(addr, DefaultPort)
	return a
}
