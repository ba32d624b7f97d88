//go:build !nopager

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/pager"
)

const pagerBuilt = true

func init() {
	commands["pager"] = command{"the central service: page through Alertmanager, PagerDuty or a webhook (-c pager.yaml)", cmdPager}
}

func cmdPager(args []string) int { return pagerMain(args, os.Stdout, os.Stderr) }

func pagerMain(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("pager", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("c", "/etc/rackwatch/pager.yaml", "pager config file")
	logFormat := fs.String("log-format", "text", "log format: text or json")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: rackwatch pager -c pager.yaml\n\nThe central service: follows every gateway on the central brokers and pages through Alertmanager,\nPagerDuty or a webhook, including for a gateway that is offline or silent. See docs/pager.md.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg, err := config.LoadPager(*cfgPath)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	log := newLogger(cfg.Pager.LogLevel, *logFormat)
	svc, err := pager.New(cfg, pager.Options{Log: log})
	if err != nil {
		fmt.Fprintln(stderr, err)
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

// checkPager is `rackwatch check` on a pager config: the config, then the secrets and TLS files it names.
func checkPager(path string, stdout, stderr io.Writer) int {
	cfg, err := config.LoadPager(path)
	if err == nil {
		err = pager.Check(cfg)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	fmt.Fprintf(stdout, "%s: ok (pager %s: %d brokers, %d receivers, %d routes)\n", cfg.File, cfg.Pager.ID, len(cfg.Pager.Brokers), len(cfg.Receivers), len(cfg.Routes))
	return 0
}
