package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/mqtt"
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
	if *passFile != "" {
		b, err := os.ReadFile(*passFile)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rackwatch tail:", err)
			return 2
		}
		cfg.Password = strings.TrimRight(string(b), "\r\n")
	}
	if strings.HasPrefix(*broker, "tls") || strings.HasPrefix(*broker, "ssl") || strings.HasPrefix(*broker, "mqtts") || strings.HasPrefix(*broker, "wss") {
		tc, err := mqtt.TLSConfig(*ca, *cert, *key, *serverName)
		if err != nil {
			fmt.Fprintln(os.Stderr, "rackwatch tail:", err)
			return 2
		}
		cfg.TLS = tc
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	p := view.New(os.Stdout)
	p.ShowGateway = *gateway == "+"
	return follow(ctx, cfg, *prefix, *gateway, *readings, true, p)
}

// follow subscribes to a gateway's topics and prints them until ctx ends; the demo uses it too, so what
// it shows is what reached the broker.
// With reconnect false it returns when the connection ends (the demo's broker going away with the agent).
func follow(ctx context.Context, cfg mqtt.Config, prefix, gateway string, readings, reconnect bool, p *view.Printer) int {
	base := prefix + "/" + gateway
	cfg.Subscribe = map[string]byte{base + "/status": 1, base + "/events": 1, base + "/alarms/#": 1}
	if readings {
		cfg.Subscribe[base+"/readings/#"] = 0
	}
	// Messages are rendered on their own goroutine so a slow terminal never blocks the MQTT client.
	msgs := make(chan mqtt.Received, 1024)
	var dropped atomic.Uint64
	cfg.OnMessage = func(m mqtt.Received) {
		m.Payload = append([]byte(nil), m.Payload...)
		select {
		case msgs <- m:
		default:
			dropped.Add(1)
		}
	}
	go func() {
		for m := range msgs {
			if n := dropped.Swap(0); n > 0 {
				p.Note("%d messages skipped: the terminal is slower than the broker", n)
			}
			if !p.Message(prefix, m.Topic, m.Payload, m.Retain) {
				p.Note("unexpected message on %s: %.200s", m.Topic, m.Payload)
			}
		}
	}()
	for attempt := 0; ctx.Err() == nil; {
		cctx, cancel := context.WithTimeout(ctx, 15*time.Second)
		cl, err := mqtt.Connect(cctx, cfg)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			if mqtt.KindOf(err) != mqtt.Unreachable && attempt == 0 {
				fmt.Fprintln(os.Stderr, "rackwatch tail:", err)
				return 1
			}
			p.Note("%v; retrying", err)
			select {
			case <-ctx.Done():
			case <-time.After(driver.Backoff(attempt, time.Second, 30*time.Second)):
			}
			attempt++
			continue
		}
		attempt = 0
		p.Note("following %s on %s", base, cfg.URL)
		select {
		case <-ctx.Done():
			cl.Disconnect(100 * time.Millisecond)
		case <-cl.Lost():
			if !reconnect {
				return 0
			}
			p.Note("connection lost: %v; reconnecting", cl.Err())
		}
	}
	return 0
}
