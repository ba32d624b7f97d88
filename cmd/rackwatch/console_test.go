package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/operator"
)

// fakeGateway answers commands on the broker as a gateway does, with the real verifier and the answers of
// a gateway whose only alarm is "smoke" (shelve_max 0): the console's side of the conversation.
func fakeGateway(t *testing.T, url, keys string) {
	t.Helper()
	ring, _, err := operator.Load([]operator.Entry{{Name: "alice", File: filepath.Join(keys, "alice.pub")}}, operator.Dir{})
	if err != nil {
		t.Fatal(err)
	}
	nonces, _, err := operator.OpenNonces(filepath.Join(t.TempDir(), operator.NoncesFile), time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	topics := contract.NewTopics("rackwatch", "gw1")
	v := &operator.Verifier{Topics: topics, Gateway: "gw1", Keys: ring, Nonces: nonces}
	answers := make(chan contract.Result, 16)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cl, err := mqtt.Connect(ctx, mqtt.Config{URL: url, ClientID: "fake-gw1", CleanSession: true, KeepAlive: 30 * time.Second,
		Subscribe: map[string]byte{topics.Base() + "/cmd/+": 1},
		OnMessage: func(m mqtt.Received) {
			action := m.Topic[strings.LastIndexByte(m.Topic, '/')+1:]
			if action == contract.CommandResult {
				return
			}
			c, err := v.Verify(action, m.Payload, time.Now())
			if err == nil && c.Alarm != "smoke" {
				err = contract.ErrUnknownAlarm
			}
			if err == nil && c.Kind == contract.Shelve {
				err = contract.ErrNotAllowed
			}
			answers <- contract.NewResult(c, err)
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cl.Disconnect(0) })
	go func() {
		for r := range answers {
			cl.Publish(mqtt.Message{Topic: topics.Result(), Payload: r.JSON(), QoS: 1})
		}
	}()
}

// The console's exit codes: 0 accepted, 1 refused (with the reason) or unanswered, 2 on usage errors.
func TestConsoleExitCodes(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	keys := t.TempDir()
	for _, n := range []string{"alice", "mallory"} {
		if _, _, err := operator.NewKeyFiles(keys, n); err != nil {
			t.Fatal(err)
		}
	}
	fakeGateway(t, b.URL(), keys)
	alice, mallory := filepath.Join(keys, "alice.key"), filepath.Join(keys, "mallory.key")
	run := func(action string, args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := consoleCmd(context.Background(), action, args, &out, &errb, time.Now)
		return code, out.String(), errb.String()
	}
	for _, c := range []struct {
		name   string
		action string
		args   []string
		code   int
		want   string
	}{
		{"accepted", contract.Ack, []string{"-b", b.URL(), "--gateway", "gw1", "--key", alice, "smoke", "--reason", "on site"}, 0, "ack smoke: accepted by gw1 (operator alice)"},
		{"unknown operator", contract.Ack, []string{"-b", b.URL(), "--gateway", "gw1", "--key", mallory, "smoke"}, 1, "refused by gw1 (unknown_operator): ack smoke: operator mallory is not listed"},
		{"someone else's key", contract.Ack, []string{"-b", b.URL(), "--gateway", "gw1", "--key", mallory, "--operator", "alice", "smoke"}, 1, "(bad_signature)"},
		{"refused by the rule", contract.Shelve, []string{"smoke", "-b", b.URL(), "--gateway", "gw1", "--key", alice, "--until", "1h"}, 1, "(not_allowed)"},
		{"unknown alarm", contract.Unshelve, []string{"-b", b.URL(), "--gateway", "gw1", "--key", alice, "nope/x/y"}, 1, "(unknown_alarm)"},
		{"no gateway listens", contract.Ack, []string{"-b", b.URL(), "--gateway", "gw2", "--key", alice, "--timeout", "1s", "smoke"}, 1, "no answer from gw2 on rackwatch/gw2/cmd/result within 1s"},
		{"no broker", contract.Ack, []string{"-b", "tcp://127.0.0.1:1", "--gateway", "gw1", "--key", alice, "--timeout", "5s", "smoke"}, 1, "connect tcp://127.0.0.1:1"},
		{"no alarm", contract.Ack, []string{"-b", b.URL(), "--gateway", "gw1", "--key", alice}, 2, "name one ALARM"},
		{"two alarms", contract.Ack, []string{"-b", b.URL(), "--gateway", "gw1", "--key", alice, "a", "b"}, 2, "name one ALARM"},
		{"no key", contract.Ack, []string{"-b", b.URL(), "--gateway", "gw1", "smoke"}, 2, "--key FILE is required"},
		{"no until", contract.Shelve, []string{"-b", b.URL(), "--gateway", "gw1", "--key", alice, "smoke"}, 2, "--until DURATION is required"},
		{"bad alarm key", contract.Ack, []string{"-b", b.URL(), "--gateway", "gw1", "--key", alice, "a/b"}, 2, "is not an alarm key"},
		{"missing key file", contract.Ack, []string{"-b", b.URL(), "--gateway", "gw1", "--key", filepath.Join(keys, "nope.key"), "smoke"}, 2, "no such file"},
		{"unknown flag", contract.Ack, []string{"--bogus"}, 2, "flag provided but not defined"},
	} {
		code, out, errs := run(c.action, c.args...)
		if code != c.code || !strings.Contains(out+errs, c.want) {
			t.Errorf("%s: exit %d, want %d with %q\nstdout: %s\nstderr: %s", c.name, code, c.code, c.want, out, errs)
		}
	}
}
