package nut

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/driver"
)

func TestParseListLine(t *testing.T) {
	scratch := make([]byte, 0, 64)
	for _, tc := range []struct {
		line        string
		kind        lineKind
		name, value string
		err         string
	}{
		{line: `VAR ups1 ups.status "OL CHRG"`, kind: lineVar, name: "ups.status", value: "OL CHRG"},
		{line: `VAR ups1 device.model "Smart \"X\" \\ 1500"`, kind: lineVar, name: "device.model", value: `Smart "X" \ 1500`},
		{line: `VAR ups1 ups.load 023`, kind: lineVar, name: "ups.load", value: "023"},
		{line: `BEGIN LIST VAR ups1`, kind: lineBegin},
		{line: `END LIST VAR ups1`, kind: lineEnd},
		{line: `ERR DATA-STALE`, kind: lineErr, err: "DATA-STALE"},
		{line: `ERR ACCESS-DENIED extra words`, kind: lineErr, err: "ACCESS-DENIED extra words"},
		{line: `VAR ups2 ups.load "1"`, err: "VAR line for UPS"},
		{line: `VAR ups1 ups.load "1`, err: "unterminated"},
		{line: `VAR ups1 ups.load "1" junk`, err: "text after"},
		{line: `VAR ups1`, err: "without a variable name"},
		{line: `END LIST RW ups1`, err: "unexpected"},
		{line: `ERR`, err: "without a code"},
		{line: "", err: "unexpected"},
		{line: `OK Goodbye`, err: "unexpected"},
	} {
		kind, name, value, err := parseListLine([]byte(tc.line), []byte("ups1"), scratch)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: err %v, want %q", tc.line, err, tc.err)
			}
			continue
		}
		if err != nil || kind != tc.kind || string(name) != tc.name || string(value) != tc.value {
			t.Errorf("%q: got %v %q %q %v, want %v %q %q", tc.line, kind, name, value, err, tc.kind, tc.name, tc.value)
		}
	}
}

func FuzzParseListLine(f *testing.F) {
	for _, s := range []string{`VAR u ups.status "OL CHRG"`, `VAR u x "a\"b\\c"`, `BEGIN LIST VAR u`,
		`END LIST VAR u`, `ERR DATA-STALE`, `VAR u x "`, `VAR u x "\`, "VAR u  x   y"} {
		f.Add([]byte(s))
	}
	scratch := make([]byte, 0, maxLine)
	f.Fuzz(func(t *testing.T, line []byte) {
		kind, name, value, err := parseListLine(line, []byte("u"), scratch)
		if err != nil {
			var se *ServerError
			if !errors.Is(err, ErrSyntax) && !errors.As(err, &se) {
				t.Fatalf("error %v is neither ErrSyntax nor ServerError", err)
			}
			return
		}
		if kind != lineVar {
			return
		}
		// What was parsed must survive being written back the way upsd writes it.
		again := []byte("VAR u " + string(name) + " " + quote(string(value)))
		k2, n2, v2, err := parseListLine(again, []byte("u"), make([]byte, 0, len(again)))
		if err != nil || k2 != lineVar || !bytes.Equal(n2, name) || !bytes.Equal(v2, value) {
			t.Fatalf("%q -> %q %q -> %q: %v %q %q", line, name, value, again, err, n2, v2)
		}
	})
}

func TestParseStatus(t *testing.T) {
	f := parseStatus([]byte("FSD  OB LB  CHRG TEST"))
	if !f.onBattery || !f.lowBattery || f.replace || f.overload || f.alarm || f.wait {
		t.Errorf("%+v", f)
	}
	if f := parseStatus([]byte("OL")); f.onBattery {
		t.Errorf("OL read as on battery")
	}
}

func checkYAML(t *testing.T, sensor string) ([]driver.ChannelInfo, error) {
	t.Helper()
	cfg, err := config.Parse("t.yaml", []byte("gateway: {id: gw}\nmqtt: {embedded_broker: 127.0.0.1:1883}\nsensors:\n  - "+sensor+"\n"))
	if err != nil {
		t.Fatal(err)
	}
	return check(cfg.Sensors[0].DriverSensor(cfg.File))
}

func TestCheck(t *testing.T) {
	chs, err := checkYAML(t, `{id: ups2, driver: nut, address: 127.0.0.1, ups: myups, username: mon, password_file: /p, variables: {battery.temperature.cell.max: cell_max_temp, ups.temperature: battery_temp}}`)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, c := range chs {
		names = append(names, string(c.Channel)+"["+c.Unit+"]")
	}
	want := "self_test[] on_battery[] low_battery[] charge[%] runtime[s] battery_voltage[V] battery_temp[°C] input_voltage[V] output_voltage[V] load[%] cell_max_temp[°C] replace_battery[] overload[] fault[]"
	if strings.Join(names, " ") != want {
		t.Errorf("channels\n %s\nwant\n %s", strings.Join(names, " "), want)
	}
	for _, tc := range []struct{ sensor, err string }{
		{`{id: u, driver: nut, ups: x}`, "t.yaml:4: nut: address is required"},
		{`{id: u, driver: nut, address: "h:99999", ups: x}`, "expected host or host:port"},
		{`{id: u, driver: nut, address: h, ups: "a b"}`, "no spaces"},
		{`{id: u, driver: nut, address: h, ups: x, password: hunter2}`, "not written in the config"},
		{`{id: u, driver: nut, address: h, ups: x, username: mon}`, "needs password_file"},
		{`{id: u, driver: nut, address: h, ups: x, password_env: P}`, "needs a username"},
		{`{id: u, driver: nut, address: h, ups: x, ca_file: /ca}`, "only with starttls"},
		{`{id: u, driver: nut, address: h, ups: x, variables: {ups.x: on_battery}}`, "comes from ups.status"},
		{`{id: u, driver: nut, address: h, ups: x, variables: {ups.x: "Bad Name"}}`, "use only a-z"},
		{`{id: u, driver: nut, address: h, ups: x, port: 3493}`, "port"},
	} {
		_, err := checkYAML(t, tc.sensor)
		if err == nil || !strings.Contains(err.Error(), tc.err) {
			t.Errorf("%s: err %v, want %q", tc.sensor, err, tc.err)
		}
	}
}

// BenchmarkRead measures one poll of a 40-variable UPS over loopback against the in-process fake.
func BenchmarkRead(b *testing.B) {
	vars := append([]string(nil), onBatteryVars...)
	for i := 0; i < 15; i++ {
		vars = append(vars, "driver.parameter.x"+string(rune('a'+i)), "some value")
	}
	// A canned responder, so that only the client's work is measured.
	reply := []byte(strings.Join(listReply("ups1", vars...)("LIST VAR ups1"), "\n") + "\n")
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		buf := make([]byte, 256)
		for {
			if _, err := c.Read(buf); err != nil {
				return
			}
			c.Write(reply)
		}
	}()
	d, _ := New(&Options{Address: ln.Addr().String(), UPS: "ups1"}, slog.New(slog.DiscardHandler))
	defer d.Close()
	out := make([]driver.Sample, 0, 16)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		var err error
		out, err = d.Read(ctx, out[:0])
		if err != nil || len(out) != 12 {
			b.Fatal(err, len(out))
		}
	}
}
