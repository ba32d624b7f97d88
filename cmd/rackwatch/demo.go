//go:build !nobroker && !nosim

package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/operator"
	"github.com/rackwatch/rackwatch/agent/view"
)

func init() {
	commands["demo"] = command{"run a config (default: the simulated battery room) and show what reaches the broker", cmdDemo}
}

// cmdDemo runs a config (by default the simulated battery room) with a fresh state directory and prints
// what reaches the broker: the same view as `rackwatch tail`, subscribed to the agent's own broker.
func cmdDemo(args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	cfgPath := fs.String("c", "configs/demo.yaml", "config file")
	stateDir := fs.String("state-dir", "", "state directory (default: a fresh temporary one, removed at exit)")
	forDur := fs.Duration("for", 0, "stop after this long (default: until Ctrl-C)")
	readings := fs.Bool("readings", true, "show readings as well as alarms")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	reg := registry()
	plan, err := agent.LoadAndCheck(*cfgPath, reg)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 2
	}
	cfg := plan.Config
	if cfg.MQTT.EmbeddedBroker == "" {
		fmt.Fprintf(os.Stderr, "%s: the demo needs mqtt.embedded_broker to watch\n", cfg.File)
		return 2
	}
	if *stateDir == "" {
		dir, err := os.MkdirTemp("", "rackwatch-demo-")
		if err != nil {
			fmt.Fprintln(os.Stderr, "rackwatch demo:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		*stateDir = dir
	}
	cfg.Gateway.StateDir = *stateDir
	demoKey, err := demoOperator(plan)
	if err != nil {
		fmt.Fprintln(os.Stderr, "rackwatch demo:", err)
		return 1
	}
	p := view.New(os.Stdout)
	// A port already taken (a Mosquitto on 1883, a second demo) should not stop a demo: take a free one.
	if !free(cfg.MQTT.EmbeddedBroker) {
		p.Note("%s is in use; the embedded broker takes a free port instead", cfg.MQTT.EmbeddedBroker)
		cfg.MQTT.EmbeddedBroker = "127.0.0.1:0"
	}
	if cfg.Gateway.HTTP != "" && !free(cfg.Gateway.HTTP) {
		p.Note("%s is in use; the status page is off for this demo", cfg.Gateway.HTTP)
		cfg.Gateway.HTTP = ""
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *forDur > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, *forDur)
		defer cancel()
	}
	// The agent logs only warnings here, so the terminal shows the broker's view, not the agent's diary.
	log := newLogger("warn", "text")
	ready := make(chan agent.Ready, 1)
	agentDone := make(chan error, 1)
	go func() {
		agentDone <- agent.Run(ctx, plan, reg, agent.Options{Log: log, Ready: func(r agent.Ready) { ready <- r }})
	}()

	var addr string
	select {
	case r := <-ready:
		addr = r.Broker
	case err := <-agentDone:
		fmt.Fprintln(os.Stderr, "rackwatch demo:", err)
		return 1
	}
	p.Note("rackwatch demo: %d sensors, %d rules; alarms as they reach the broker at tcp://%s", len(cfg.Sensors), len(cfg.Rules), addr)
	if cfg.Gateway.HTTP != "" {
		p.Note("status page http://%s/ ; watch with: rackwatch tail -b tcp://%s ; Ctrl-C to stop", cfg.Gateway.HTTP, addr)
	}
	if len(cfg.Outputs) > 0 {
		p.Note("test an output: rackwatch output test %s -c %s --state-dir %s", cfg.Outputs[0].ID, cfg.File, *stateDir)
	}
	if cfg.MQTT.EmbeddedBrokerAuth == nil {
		p.Note("the embedded broker takes anonymous clients: a demo on loopback only (docs/security.md for a real gateway)")
	}
	p.Note("acknowledge as the demo operator: rackwatch ack -b tcp://%s --gateway %s --key %s ALARM (an alarm key below, e.g. smoke/batt-room.smoke/smoke)",
		addr, cfg.Gateway.ID, demoKey)
	viewCtx, stopView := context.WithCancel(context.Background())
	viewDone := make(chan error, 1)
	go func() {
		viewDone <- follow(viewCtx, mqtt.Config{URL: "tcp://" + addr, ClientID: fmt.Sprintf("rackwatch-demo-view-%d", os.Getpid()),
			CleanSession: true, KeepAlive: 30 * time.Second}, cfg.MQTT.TopicPrefix, cfg.Gateway.ID, *readings, false, p)
	}()
	err = <-agentDone
	// The agent said "offline" before its broker closed; give the view a moment to print it.
	time.Sleep(200 * time.Millisecond)
	stopView()
	<-viewDone
	if err != nil {
		fmt.Fprintln(os.Stderr, "rackwatch demo:", err)
		return 1
	}
	return 0
}

func free(addr string) bool {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// demoOperator makes the demo operator's key in the demo's state directory (or reuses the one there) and
// adds it to the plan's operators, so the console can be tried on the demo. It returns the private key's
// path.
func demoOperator(plan *agent.Plan) (string, error) {
	cfg := plan.Config
	dir := filepath.Join(cfg.Gateway.StateDir, "demo-operator")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", err
	}
	priv := filepath.Join(dir, "demo"+operator.PrivateSuffix)
	pub := filepath.Join(dir, "demo"+operator.PublicSuffix)
	if _, err := os.Stat(priv); err != nil {
		if priv, pub, err = operator.NewKeyFiles(dir, "demo"); err != nil {
			return "", err
		}
	}
	entries := []operator.Entry{{Name: "demo", File: pub, ConfigFile: cfg.File}}
	for _, o := range cfg.Operators {
		if o.Name != "demo" {
			entries = append(entries, operator.Entry{Name: o.Name, File: o.PublicKeyFile, ConfigFile: cfg.File, Line: o.Line})
		}
	}
	k, _, err := operator.Load(entries, operator.Dir{})
	if err != nil {
		return "", err
	}
	plan.Operators = k
	return priv, nil
}
