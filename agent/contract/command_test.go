package contract

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseCommand(t *testing.T) {
	for _, c := range []struct {
		kind, payload string
		want          Command
		err           string
	}{
		{Ack, `{"alarm":"warm/r1.inlet/temperature","by":"ops"}`, Command{Kind: Ack, Alarm: "warm/r1.inlet/temperature", By: "ops"}, ""},
		{Ack, `{"alarm":"fire-suspected","by":"Jane Doe (NOC)","id":"c-17"}`, Command{Kind: Ack, Alarm: "fire-suspected", By: "Jane Doe (NOC)", ID: "c-17"}, ""},
		{Shelve, `{"alarm":"warm/r1.inlet/temperature","by":"tech","until":"2026-11-25T06:00:00+01:00"}`,
			Command{Kind: Shelve, Alarm: "warm/r1.inlet/temperature", By: "tech", Until: time.Date(2026, 11, 25, 5, 0, 0, 0, time.UTC)}, ""},
		{Shelve, `{"alarm":"warm/r1.inlet/temperature","by":"tech","until":null}`, Command{Kind: Shelve, Alarm: "warm/r1.inlet/temperature", By: "tech"}, ""},
		{Ack, `{"alarm":"warm/r1.inlet/temperature","by":"ops","until":null}`, Command{Kind: Ack, Alarm: "warm/r1.inlet/temperature", By: "ops"}, ""},
		{Ack, `{"alarm":"warm/r1.inlet/temperature"}`, Command{}, `"by" is required`},
		{Ack, `{"alarm":"warm/r1.inlet/temperature","by":"  "}`, Command{}, `"by" is required`},
		{Ack, `{"by":"ops"}`, Command{}, `"alarm" is required`},
		{Ack, `{"alarm":"warm/r1.inlet","by":"ops"}`, Command{}, "is not an alarm key"},
		{Ack, `{"alarm":"warm/+/temperature","by":"ops"}`, Command{}, "is not an alarm key"},
		{Ack, `{"alarm":"a","by":"ops","until":"2026-11-25T06:00:00Z"}`, Command{}, "only to shelve"},
		{Ack, `{"alarm":"a","by":"ops","extra":1}`, Command{}, "unknown field"},
		{Ack, `{"alarm":"a","by":"ops"} {}`, Command{}, "trailing data"},
		{Ack, `{"alarm":"a","by":"o\u0000ps"}`, Command{}, "printable"},
		{Ack, `["a"]`, Command{}, "not the expected JSON object"},
		{Ack, ``, Command{}, "not the expected JSON object"},
		{Ack, `{"alarm":1,"by":"ops"}`, Command{}, "not the expected JSON object"},
		{Shelve, `{"alarm":"a","by":"ops","until":"tomorrow"}`, Command{}, "RFC 3339"},
		{Shelve, `{"alarm":"a","by":"ops","until":3600}`, Command{}, "RFC 3339"},
		{"silence", `{"alarm":"a","by":"ops"}`, Command{}, "unknown command"},
		{Ack, `{"alarm":"a","by":"` + strings.Repeat("x", 65) + `"}`, Command{}, "at most 64"},
		{Ack, strings.Repeat(" ", 5000), Command{}, "too large"},
	} {
		got, err := ParseCommand(c.kind, []byte(c.payload))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !errors.Is(err, ErrBadCommand) {
				t.Errorf("%s %s: err %v, want %q", c.kind, c.payload, err, c.err)
			}
			continue
		}
		if err != nil || got.Kind != c.want.Kind || got.Alarm != c.want.Alarm || got.By != c.want.By || got.ID != c.want.ID || !got.Until.Equal(c.want.Until) {
			t.Errorf("%s %s: got %+v %v, want %+v", c.kind, c.payload, got, err, c.want)
		}
	}
}

func TestResult(t *testing.T) {
	c := Command{Kind: Shelve, Alarm: "warm/r1.inlet/temperature", ID: "c-1"}
	var ok map[string]any
	if err := json.Unmarshal(NewResult(c, nil).JSON(), &ok); err != nil || ok["ok"] != true || ok["alarm"] != c.Alarm || ok["id"] != "c-1" || ok["error"] != nil {
		t.Fatalf("%v %v", ok, err)
	}
	_, err := ParseCommand(Ack, []byte(`{`))
	var bad map[string]any
	if json.Unmarshal(NewResult(Command{Kind: Ack}, err).JSON(), &bad); bad["ok"] != false || !strings.Contains(bad["error"].(string), "bad command") {
		t.Fatalf("%v", bad)
	}
}

// FuzzParseCommand feeds arbitrary payloads (they come from the network): ParseCommand must not panic, and
// whatever it accepts must name a well-formed key and a sender.
func FuzzParseCommand(f *testing.F) {
	for _, s := range []string{
		`{"alarm":"warm/r1.inlet/temperature","by":"ops"}`,
		`{"alarm":"fire-suspected","by":"ops","id":"x"}`,
		`{"alarm":"warm/r1.inlet/temperature","by":"tech","until":"2026-11-25T06:00:00Z"}`,
		`{"alarm":"warm/r1.inlet/temperature","by":"tech","until":null}`,
		`{"alarm":"a/b","by":"x"}`, `{"alarm":"a","by":"x"}{}`, `{}`, `null`, `[`, "\xff",
	} {
		f.Add(true, []byte(s))
		f.Add(false, []byte(s))
	}
	f.Fuzz(func(t *testing.T, ack bool, payload []byte) {
		kind := Shelve
		if ack {
			kind = Ack
		}
		c, err := ParseCommand(kind, payload)
		if err != nil {
			if !errors.Is(err, ErrBadCommand) {
				t.Fatalf("error does not wrap ErrBadCommand: %v", err)
			}
			_ = NewResult(c, err).JSON()
			return
		}
		if !ValidKey(c.Alarm) || strings.TrimSpace(c.By) == "" || c.Kind != kind || (ack && !c.Until.IsZero()) {
			t.Fatalf("accepted %q as %+v", payload, c)
		}
	})
}
