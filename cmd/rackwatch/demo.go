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
	"sync"
	"syscall"
	"time"

	"github.com/rackwatch/rackwatch/agent"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/operator"
	"github.com/rackwatch/rackwatch/agent/view"
	"github.com/rackwatch/rackwatch/drivers/sim"
)

func init() {
	commands["demo"] = command{"run a config (default: the simulated battery room) and show what reaches the broker", cmdDemo}
}

// cmdDemo runs a config (by default the simulated battery room) with a fresh state directory and prints
// what reaches the broker: the same view as `rackwatch tail`, subscribed to the agent's own broker. When
// the simulated story is over it tells it back in order; Ctrl-C ends it (exit status 0).
func cmdDemo(args []string) int {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	cfgPath := fs.String("c", "configs/demo.yaml", "config file")
	stateDir := fs.String("state-dir", "", "state directory (default: a fresh temporary one, removed at exit)")
	forDur := fs.Duration("for", 0, "stop after this long (default: until Ctrl-C)")
	readings := fs.Bool("readings", false, "show readings as well as alarms")
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
	storyLen, scale := storyLength(plan)
	story := &view.Story{Start: time.Now(), TimeScale: scale}
	go func() {
		agentDone <- agent.Run(ctx, plan, reg, agent.Options{Log: log, Ready: func(r agent.Ready) { ready <- r }, OnTransition: story.Add})
	}()

	var addr, httpAddr string
	select {
	case r := <-ready:
		addr, httpAddr = r.Broker, r.HTTP
	case err := <-agentDone:
		fmt.Fprintln(os.Stderr, "rackwatch demo:", err)
		return 1
	}
	p.Note("rackwatch demo: %d sensors, %d rules; alarms as they reach the broker at tcp://%s", len(cfg.Sensors), len(cfg.Rules), addr)
	if httpAddr != "" {
		p.Note("status page http://%s/ ; watch with: rackwatch tail -b tcp://%s ; Ctrl-C to stop", httpAddr, addr)
	}
	if len(cfg.Outputs) > 0 {
		p.Note("test an output: rackwatch output test %s -c %s --state-dir %s", cfg.Outputs[0].ID, cfg.File, *stateDir)
	}
	if cfg.MQTT.EmbeddedBrokerAuth == nil {
		p.Note("the embedded broker takes anonymous clients: a demo on loopback only (docs/security.md for a real gateway)")
	}
	p.Note("acknowledge as the demo operator: rackwatch ack -b tcp://%s --gateway %s --key %s ALARM (an alarm key below, e.g. smoke/batt-room.smoke/smoke)",
		addr, cfg.Gateway.ID, demoKey)
	if storyLen > 0 {
		p.Note("the story lasts %s; alarms and actions below as they reach the broker (readings too with --readings)", storyLen.Round(time.Second))
	}
	// At the end of the story (and a moment for the last delays), tell it back in order; if the demo is
	// stopped before, tell what there was.
	var tell sync.Once
	if storyLen > 0 {
		end := time.AfterFunc(storyLen+storyGrace, func() {
			tell.Do(func() {
				story.Summary(os.Stdout, time.Now(), true)
				if httpAddr != "" {
					fmt.Fprintf(os.Stdout, "The gateway keeps running: its status page http://%s/ tells the same story. Ctrl-C to stop.\n", httpAddr)
				} else {
					fmt.Fprintln(os.Stdout, "The gateway keeps running. Ctrl-C to stop.")
				}
			})
		})
		defer end.Stop()
	}
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
	if storyLen > 0 {
		tell.Do(func() { story.Summary(os.Stdout, time.Now(), false) })
	}
	// Ctrl-C is how a demo ends: that is success, not an error.
	return 0
}

// storyGrace lets the rules' last delays (a `for:`, the shutdown's countdown) run out after the story.
const storyGrace = 5 * time.Second

// storyLength is how long the simulated story of a config takes on the clock: the longest of its sim
// sensors' scenarios, from where each starts, at its time_scale; 0 when there is none or one loops. scale
// is that sensor's time_scale.
func storyLength(plan *agent.Plan) (length time.Duration, scale float64) {
	for _, s := range plan.Sensors {
		if s.Driver != "sim" {
			continue
		}
		o := sim.Options{TimeScale: 1}
		if s.Options.Decode(&o) != nil {
			continue
		}
		sc, err := sim.Lookup(o.Scenario)
		if err != nil {
			continue
		}
		if o.Loop {
			return 0, 1
		}
		if d := time.Duration(float64(sc.Duration()-o.StartAt.D()) / o.TimeScale); d > length {
			length, scale = d, o.TimeScale
		}
	}
	return length, scale
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
