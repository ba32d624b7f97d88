package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/pager"
)

func cmdCheck(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	cfgPath := fs.String("c", "/etc/rackwatch/rackwatch.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if isPagerConfig(*cfgPath) {
		return checkPager(*cfgPath)
	}
	plan, err := agent.LoadAndCheck(*cfgPath, registry())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg := plan.Config
	fmt.Printf("%s: ok (%d buses, %d sensors, %d rules, %d brokers)\n", cfg.File, len(cfg.Buses), len(cfg.Sensors), len(cfg.Rules), len(cfg.MQTT.Brokers))
	return 0
}

// isPagerConfig reports whether the file is a `rackwatch pager` config (a top-level pager: key); an
// unreadable file is left to the gateway's loader, which reports it.
func isPagerConfig(path string) bool {
	data, err := os.ReadFile(path)
	return err == nil && config.IsPager(data)
}

func checkPager(path string) int {
	cfg, err := config.LoadPager(path)
	if err == nil {
		err = pager.Check(cfg)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	fmt.Printf("%s: ok (pager %s: %d brokers, %d receivers, %d routes)\n", cfg.File, cfg.Pager.ID, len(cfg.Pager.Brokers), len(cfg.Receivers), len(cfg.Routes))
	return 0
}
