package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/driver"
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
	plan, err := agent.LoadAndCheck(*cfgPath, reg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := newLogger(plan.Config.Gateway.LogLevel, *logFormat)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	reload := watchReload(ctx, *cfgPath, reg, log)
	if err := agent.Run(ctx, plan, reg, agent.Options{Log: log, Reload: reload}); err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	return 0
}

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
			plan, err := agent.LoadAndCheck(path, reg)
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
