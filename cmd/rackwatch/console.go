package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/operator"
	"github.com/rackwatch/rackwatch/agent/settings"
)

// The operator's console: `rackwatch ack|shelve|unshelve` (and `rackwatch output test NAME -b URL …`) sign a
// command with the operator's key, publish it to a broker the gateway takes commands from, and wait for
// the gateway's answer on …/cmd/result. Exit 0: accepted; 1: refused, or no answer; 2: usage.

func cmdAck(args []string) int      { return runConsole(contract.Ack, args) }
func cmdShelve(args []string) int   { return runConsole(contract.Shelve, args) }
func cmdUnshelve(args []string) int { return runConsole(contract.Unshelve, args) }

func runConsole(action string, args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return consoleCmd(ctx, action, args, os.Stdout, os.Stderr, time.Now)
}

// consoleCmd runs one console command; now is the clock the command is signed with.
func consoleCmd(ctx context.Context, action string, args []string, stdout, stderr io.Writer, now func() time.Time) int {
	name := "rackwatch " + action
	what := "ALARM"
	if action == contract.OutputTest {
		name, what = "rackwatch output test", "OUTPUT"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	broker := fs.String("b", "", "broker URL the gateway takes commands from: tcp://host:1883, tls://host:8883, ws://…, wss://… (required)")
	gateway := fs.String("gateway", "", "the gateway's id (gateway.id in its config) (required)")
	keyFile := fs.String("key", "", "the operator's private key, NAME.key from `rackwatch key new NAME` (required)")
	opName := fs.String("operator", "", "operator name (default: the key file's name without .key)")
	prefix := fs.String("prefix", "rackwatch", "topic prefix (mqtt.topic_prefix of the gateway)")
	reason := fs.String("reason", "", "why, kept in the alarm's message (at most 200 bytes)")
	timeout := fs.Duration("timeout", 15*time.Second, "how long to wait for the gateway's answer")
	var until, forDur *time.Duration
	switch action {
	case contract.Shelve:
		until = fs.Duration("until", 0, "how long the shelve lasts, e.g. 2h (required; at most the rule's shelve_max)")
	case contract.OutputTest:
		forDur = fs.Duration("for", 5*time.Second, "how long the output stays on")
		fs.String("c", "", "(ignored with -b: the gateway's config decides)")
	}
	ca := fs.String("ca", "", "CA certificate (PEM) for tls:// and wss://")
	cert := fs.String("cert", "", "client certificate (PEM) for mutual TLS")
	certKey := fs.String("cert-key", "", "client certificate's key (PEM) for mutual TLS")
	serverName := fs.String("server-name", "", "name expected in the broker's certificate")
	user := fs.String("username", "", "MQTT username")
	passFile := fs.String("password-file", "", "file holding the MQTT password")
	fs.Usage = func() {
		extra := ""
		switch action {
		case contract.Shelve:
			extra = " --until DURATION"
		case contract.OutputTest:
			extra = " [--for 5s]"
		}
		fmt.Fprintf(fs.Output(), "usage: %s -b URL --gateway ID --key FILE %s%s [--reason TEXT]\n\n", name, what, extra)
		fmt.Fprintln(fs.Output(), "Signs the command with the operator's key, publishes it and waits for the gateway's answer on\n…/cmd/result. Exit 0: accepted; 1: refused (the reason is printed) or no answer; 2: usage.")
		fs.PrintDefaults()
	}
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return 2
	}
	usage := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "%s: %s\n", name, fmt.Sprintf(format, a...))
		fmt.Fprintf(stderr, "run '%s -h' for the flags\n", name)
		return 2
	}
	switch {
	case len(pos) != 1:
		return usage("name one %s", what)
	case *broker == "":
		return usage("-b URL is required: a broker the gateway takes commands from")
	case *gateway == "":
		return usage("--gateway ID is required")
	case *keyFile == "":
		return usage("--key FILE is required: the operator's private key (rackwatch key new NAME)")
	case until != nil && *until <= 0:
		return usage("--until DURATION is required, e.g. --until 2h")
	}
	sk, err := operator.ReadPrivateKey(*keyFile)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	op := *opName
	if op == "" {
		op = strings.TrimSuffix(filepath.Base(*keyFile), operator.PrivateSuffix)
	}
	topics := contract.NewTopics(*prefix, *gateway)
	t := now().UTC()
	s := contract.Signed{Topic: topics.Command(action), Operator: op, Gateway: *gateway, Action: action, Reason: *reason,
		Time: t.Format(contract.TimeFormat), Nonce: contract.NewNonce()}
	if action == contract.OutputTest {
		s.Output, s.For = pos[0], forDur.String()
	} else {
		s.Alarm = pos[0]
	}
	if until != nil {
		s.Until = t.Add(*until).Format(contract.TimeFormat)
	}
	if err := s.Sign(sk); err != nil {
		return usage("%v", strings.TrimPrefix(err.Error(), "contract: "))
	}

	// Each run gets its own client id: two consoles with one id take over each other's session, and a
	// broker tearing the first one down can drop the second one's subscription to the result.
	cfg := mqtt.Config{URL: *broker, ClientID: fmt.Sprintf("rackwatch-console-%d-%.8s", os.Getpid(), contract.NewNonce()), CleanSession: true,
		KeepAlive: 30 * time.Second, Username: *user, Subscribe: map[string]byte{topics.Result(): 1}}
	if err := cfg.Credentials(*ca, *cert, *certKey, *serverName, settings.Secret{File: *passFile}); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 2
	}
	results := make(chan contract.Result, 16)
	cfg.OnMessage = func(m mqtt.Received) {
		r, err := contract.ParseResult(m.Payload)
		if err != nil || r.Nonce != s.Nonce {
			return // another console's answer
		}
		select {
		case results <- r:
		default:
		}
	}
	wctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	cl, err := mqtt.Connect(wctx, cfg)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return 1
	}
	defer cl.Disconnect(250 * time.Millisecond)
	if err := cl.PublishWait(wctx, mqtt.Message{Topic: s.Topic, Payload: s.JSON(), QoS: 1}); err != nil {
		fmt.Fprintf(stderr, "%s: publishing on %s: %v\n", name, s.Topic, err)
		return 1
	}
	target := s.Alarm + s.Output
	select {
	case r := <-results:
		if r.OK {
			fmt.Fprintf(stdout, "%s %s: accepted by %s (operator %s)\n", action, target, *gateway, r.Operator)
			return 0
		}
		fmt.Fprintf(stderr, "%s %s: refused by %s (%s): %s\n", action, target, *gateway, r.Reason, r.Error)
		return 1
	case <-wctx.Done():
		fmt.Fprintf(stderr, "%s %s: no answer from %s on %s within %s. Is the gateway connected to this broker, with commands: true for it? (If the command arrives later, the gateway refuses it once it is older than its time window.)\n",
			action, target, *gateway, topics.Result(), *timeout)
		return 1
	}
}

// parseInterspersed parses flags that may come before or after the positional arguments, as in
// `rackwatch shelve ALARM --until 2h`, and returns the positional ones.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// hasBrokerFlag reports whether args name a broker (-b): `rackwatch output test` then goes through MQTT
// as a signed command instead of the local socket.
func hasBrokerFlag(args []string) bool {
	for _, a := range args {
		if a == "-b" || a == "--b" || strings.HasPrefix(a, "-b=") || strings.HasPrefix(a, "--b=") {
			return true
		}
	}
	return false
}
