package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rackwatch/rackwatch/agent/config"
)

func cmdCheck(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	cfgPath := fs.String("c", "/etc/rackwatch/rackwatch.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if isPagerConfig(*cfgPath) {
		return checkPager(*cfgPath, os.Stdout, os.Stderr)
	}
	plan, warns, err := loadPlan(*cfgPath, registry(), serviceUser())
	for _, w := range warns {
		fmt.Fprintln(os.Stderr, w)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg := plan.Config
	fmt.Printf("%s: ok (%d buses, %d sensors, %d rules, %d brokers)\n", cfg.File, len(cfg.Buses), len(cfg.Sensors), len(cfg.Rules), len(cfg.MQTT.Brokers))
	fmt.Println("  memory: " + plan.Memory().String())
	for _, l := range append(plan.DescribeOperators(), plan.DescribeActions()...) {
		fmt.Println("  " + l)
	}
	return 0
}

// isPagerConfig reports whether the file is a `rackwatch pager` config (a top-level pager: key); an
// unreadable file is left to the gateway's loader, which reports it.
func isPagerConfig(path string) bool {
	data, err := os.ReadFile(path)
	return err == nil && config.IsPager(data)
}
