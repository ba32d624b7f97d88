package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/rackwatch/rackwatch/agent"
)

func cmdCheck(args []string) int {
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	cfgPath := fs.String("c", "/etc/rackwatch/rackwatch.yaml", "config file")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	plan, err := agent.LoadAndCheck(*cfgPath, registry())
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg := plan.Config
	fmt.Printf("%s: ok (%d buses, %d sensors, %d rules, %d brokers)\n", cfg.File, len(cfg.Buses), len(cfg.Sensors), len(cfg.Rules), len(cfg.MQTT.Brokers))
	for _, l := range plan.DescribeActions() {
		fmt.Println("  " + l)
	}
	return 0
}
