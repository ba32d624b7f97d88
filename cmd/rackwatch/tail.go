package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/settings"
	"github.com/rackwatch/rackwatch/agent/view"
)

func cmdTail(args []string) int {
	fs := flag.NewFlagSet("tail", flag.ContinueOnError)
	broker := fs.String("b", "", "broker URL: tcp://host:1883, tls://host:8883, ws://host/mqtt, wss://… (required)")
	prefix := fs.String("prefix", "rackwatch", "topic prefix (mqtt.topic_prefix of the gateways)")
	gateway := fs.String("gateway", "+", "gateway id to follow; + for all")
	readings := fs.Bool("readings", false, "also print readings")
	ca := fs.String("ca", "", "CA certificate (PEM) for tls:// and wss://")
	cert := fs.String("cert", "", "client certificate (PEM) for mutual TLS")
	key := fs.String("key", "", "client key (PEM) for mutual TLS")
	serverName := fs.String("server-name", "", "name expected in the broker's certificate")
	user := fs.String("username", "", "MQTT username")
	passFile := fs.String("password-file", "", "file holding the MQTT password")
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), "usage: rackwatch tail -b URL [--prefix rackwatch] [--gateway +] [--readings]\n\nPrints status, current alarms and every alarm transition (and readings) from any MQTT broker.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *broker == "" || fs.NArg() > 0 {
		fs.Usage()
		return 2
	}
	cfg := mqtt.Config{URL: *broker, ClientID: fmt.Sprintf("rackwatch-tail-%d", os.Getpid()), CleanSession: true,
		KeepAlive: 30 * time.Second, Username: *user}
	if err := cfg.Credentials(*ca, *cert, *key, *serverName, settings.Secret{File: *passFile}); err != nil {
		fmt.Fprintln(os.Stderr, "rackwatch tail:", err)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := view.New(os.Stdout)
	p.ShowGateway = *gateway == "+"
	if err := follow(ctx, cfg, *prefix, *gateway, *readings, true, p); err != nil {
		fmt.Fprintln(os.Stderr, "rackwatch tail:", err)
		return 1
	}
	return 0
}

// follow prints a gateway's topics until ctx ends; the demo uses it too, so what it shows is what reached
// the broker. With reconnect false it returns when the connection ends (the demo's broker going away with
// the agent).
func follow(ctx context.Context, cfg mqtt.Config, prefix, gateway string, readings, reconnect bool, p *view.Printer) error {
	cfg.Subscribe = contract.Filters(prefix, gateway, readings)
	handle, stop := p.Async(prefix, 1024)
	defer stop()
	cfg.OnMessage = func(m mqtt.Received) { handle(m.Topic, m.Payload, m.Retain) }
	return mqtt.Follow(ctx, cfg, reconnect, p.Note)
}
