package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/exepages"
	"github.com/rackwatch/rackwatch/agent/fileref"
	"github.com/rackwatch/rackwatch/agent/sdnotify"
	"github.com/rackwatch/rackwatch/agent/settings"
)

const defaultConfig = "/etc/rackwatch/rackwatch.yaml"

func cmdRun(args []string) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	cfgPath := fs.String("c", defaultConfig, "config file")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	reg := registry()
	plan, warns, err := loadPlan(*cfgPath, reg, fileref.Process())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := newLogger(plan.Config.Gateway.LogLevel, *logFormat)
	for _, w := range warns {
		log.Warn("config: " + w.Error())
	}
	// The soft memory limit and GC setting for this config's size (agent/memory.go), as check shows them.
	plan.Memory().Apply(log)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reload := watchReload(ctx, *cfgPath, reg, log)
	sm := newServiceManager(log)
	context.AfterFunc(ctx, sm.stopping)
	opt := agent.Options{Log: log, Reload: reload, Ready: func(r agent.Ready) {
		sm.ready(r)
		// Start-up (the config, TLS, the first connections) ran code that will not run again: unmap it now,
		// and again once the first polls and publishes have been through (agent/exepages).
		exepages.Trim()
		time.AfterFunc(trimAfter, func() { exepages.Trim() })
	}, Alive: sm.alive}
	if err := agent.Run(ctx, plan, reg, opt); err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	return 0
}

// trimAfter is when the executable's pages are trimmed a second time after start: by then every sensor has
// been read and every broker published to a few times.
const trimAfter = time.Minute

// serviceManager keeps systemd (Type=notify, WatchdogSec=) informed: READY once the agent runs, then, from
// the agent's loop, a watchdog keep-alive every half watchdog timeout and the status line whenever it
// changes. The keep-alives come from the loop itself, so a loop that freezes gets the agent restarted.
// Outside systemd it does nothing.
type serviceManager struct {
	n     *sdnotify.Notifier
	log   *slog.Logger
	every time.Duration // between keep-alives: half the watchdog timeout; 0 for no watchdog
	last  time.Time     // of the last keep-alive
	shown agent.Vitals  // what the status line shows (At unset)
	msgs  []string

	mu    sync.Mutex // send runs on the loop and, at shutdown, on the signal's goroutine
	fails int
}

func newServiceManager(log *slog.Logger) *serviceManager {
	n, err := sdnotify.FromEnv()
	if err != nil {
		log.Warn("service manager: cannot use the environment it set; the watchdog is not fed", "err", err)
	}
	return &serviceManager{n: n, log: log, every: n.WatchdogTimeout() / 2}
}

func (m *serviceManager) ready(r agent.Ready) {
	m.send("READY=1", "STATUS=running")
	if m.n.Enabled() && m.every > 0 {
		m.log.Info("service manager: ready; feeding the watchdog from the rules loop", "every", m.every)
	}
}

// alive runs on the agent's loop at every tick; it allocates only when something is sent.
func (m *serviceManager) alive(v agent.Vitals) {
	if !m.n.Enabled() {
		return
	}
	msgs := m.msgs[:0]
	if m.every > 0 && !v.At.Before(m.last.Add(m.every)) {
		msgs = append(msgs, "WATCHDOG=1")
		m.last = v.At
	}
	v.At = time.Time{}
	if v != m.shown {
		msgs = append(msgs, "STATUS="+statusLine(v))
		m.shown = v
	}
	m.msgs = msgs
	if len(msgs) > 0 {
		m.send(msgs...)
	}
}

func (m *serviceManager) stopping() { m.send("STOPPING=1", "STATUS=stopping: delivering the backlog") }

// send logs the first failure of a run of failures and the recovery, not every tick's.
func (m *serviceManager) send(msgs ...string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	err := m.n.Send(msgs...)
	switch {
	case err != nil && m.fails == 0:
		m.log.Warn("service manager: notification failed; if this goes on the watchdog restarts the agent", "err", err)
	case err == nil && m.fails > 0:
		m.log.Info("service manager: notifications go through again", "failed", m.fails)
	}
	if err != nil {
		m.fails++
	} else {
		m.fails = 0
	}
}

// statusLine is what `systemctl status rackwatch` shows.
func statusLine(v agent.Vitals) string {
	s := fmt.Sprintf("%d of %d brokers connected, ", v.Connected, v.Brokers)
	switch {
	case v.Active == 0:
		s += "no alarm active"
	case v.Active == 1:
		s += "1 alarm active"
	default:
		s += fmt.Sprintf("%d alarms active", v.Active)
	}
	if v.Critical > 0 {
		s += fmt.Sprintf(" (%d critical)", v.Critical)
	}
	return s
}

// loadPlan is agent.LoadAndCheck followed by the check of the files the config names (as u): what `run`
// would trip on fails here, with FILE:LINE. Warnings (a secret others can read) are for the caller to show.
func loadPlan(path string, reg *driver.Registry, u *fileref.User) (*agent.Plan, settings.Errors, error) {
	plan, err := agent.LoadAndCheck(path, reg)
	if err != nil {
		return nil, nil, err
	}
	errs, warns := agent.CheckFiles(plan, u)
	if len(errs) > 0 {
		return nil, warns, errs
	}
	return plan, warns, nil
}

// serviceUser is whom `check` checks the files for: itself, except when it runs as root and the
// service user exists, because the agent does not run as root and root can read anything.
func serviceUser() *fileref.User {
	if os.Geteuid() == 0 {
		if u := fileref.Lookup(serviceUserName); u != nil {
			return u
		}
	}
	return fileref.Process()
}

// serviceUserName is the user the packaged systemd unit runs the agent as.
const serviceUserName = "rackwatch"

// watchReload re-reads the config on SIGHUP. A config with errors is refused with every error logged, and
// the running one stays.
func watchReload(ctx context.Context, path string, reg *driver.Registry, log *slog.Logger) <-chan *agent.Plan {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	out := make(chan *agent.Plan)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
			}
			plan, _, err := loadPlan(path, reg, fileref.Process())
			if err != nil {
				log.Error("SIGHUP: new config refused; the running config stays", "errors", err.Error())
				continue
			}
			select {
			case out <- plan:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

func newLogger(level, format string) *slog.Logger {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		lv = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: lv}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewTextHandler(os.Stderr, opts))
}
