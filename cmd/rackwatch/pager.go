package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/pager"
)

func cmdPager(args []string) int {
	fs := flag.NewFlagSet("pager", flag.ContinueOnError)
	cfgPath := fs.String("c", "/etc/rackwatch/pager.yaml", "pager config file")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: rackwatch pager -c pager.yaml\n\nThe central service: follows every gateway on the central brokers and pages through Alertmanager,\nPagerDuty or a webhook, including for a gateway that is offline or silent.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	cfg, err := config.LoadPager(*cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	log := newLogger(cfg.Pager.LogLevel, *logFormat)
	svc, err := pager.New(cfg, pager.Options{Log: log})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := svc.Run(ctx); err != nil {
		log.Error("cannot start", "err", err)
		return 1
	}
	return 0
}
