package nut

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// fakeUpsd is an in-process upsd speaking just enough of the protocol. reply decides the answer to
// each request line; it runs on the connection's goroutine.
type fakeUpsd struct {
	ln      net.Listener
	tlsConf *tls.Config

	mu      sync.Mutex
	reply   func(req string) []string
	accepts int
	reqs    []string
	conns   []net.Conn
}

func newFakeUpsd(t *testing.T, reply func(req string) []string) *fakeUpsd {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeUpsd{ln: ln, reply: reply}
	go f.serve()
	t.Cleanup(func() {
		ln.Close()
		f.mu.Lock()
		for _, c := range f.conns {
			c.Close()
		}
		f.mu.Unlock()
	})
	return f
}

func (f *fakeUpsd) serve() {
	for {
		c, err := f.ln.Accept()
		if err != nil {
			return
		}
		f.mu.Lock()
		f.accepts++
		f.conns = append(f.conns, c)
		f.mu.Unlock()
		go f.handle(c)
	}
}

func (f *fakeUpsd) handle(c net.Conn) {
	defer c.Close()
	var rw io.ReadWriter = c
	br := bufio.NewReader(rw)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return
		}
		req := strings.TrimRight(line, "\r\n")
		f.mu.Lock()
		f.reqs = append(f.reqs, req)
		reply := f.reply
		f.mu.Unlock()
		if req == "STARTTLS" && f.tlsConf != nil {
			io.WriteString(rw, "OK STARTTLS\n")
			tc := tls.Server(c, f.tlsConf)
			if tc.Handshake() != nil {
				return
			}
			rw, br = tc, bufio.NewReader(tc)
			continue
		}
		lines := reply(req)
		if lines == nil { // hang up
			return
		}
		for _, l := range lines {
			io.WriteString(rw, l+"\n")
		}
	}
}

func (f *fakeUpsd) setReply(r func(string) []string) {
	f.mu.Lock()
	f.reply = r
	f.mu.Unlock()
}

func (f *fakeUpsd) stats() (accepts int, reqs []string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.accepts, append([]string(nil), f.reqs...)
}

func listReply(ups string, vars ...string) func(string) []string {
	return func(req string) []string {
		switch req {
		case "LIST VAR " + ups:
			out := []string{"BEGIN LIST VAR " + ups}
			for i := 0; i+1 < len(vars); i += 2 {
				out = append(out, "VAR "+ups+" "+vars[i]+" "+quote(vars[i+1]))
			}
			return append(out, "END LIST VAR "+ups)
		case "LOGOUT":
			return []string{"OK Goodbye"}
		}
		if strings.HasPrefix(req, "USERNAME ") || strings.HasPrefix(req, "PASSWORD ") {
			return []string{"OK"}
		}
		return []string{"ERR UNKNOWN-COMMAND"}
	}
}

func errReply(code string) func(string) []string {
	return func(string) []string { return []string{"ERR " + code} }
}

var onBatteryVars = []string{
	"battery.charge", "042.0", "battery.runtime", "600", "battery.voltage", "24.10",
	"battery.temperature", "031.5", "input.voltage", "0.0", "output.voltage", "229.5",
	"ups.load", "023", "ups.status", "OB DISCHRG", "device.model", `Smart "X" 1500`,
}

func read(t *testing.T, d *Device) (map[reading.Channel]driver.Sample, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := d.Read(ctx, nil)
	m := map[reading.Channel]driver.Sample{}
	for _, s := range out {
		if _, dup := m[s.Channel]; dup {
			t.Fatalf("channel %s twice", s.Channel)
		}
		m[s.Channel] = s
	}
	return m, err
}

func newDevice(t *testing.T, o *Options) *Device {
	t.Helper()
	d, err := New(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func wantValues(t *testing.T, got map[reading.Channel]driver.Sample, want map[reading.Channel]float64) {
	t.Helper()
	for ch, v := range want {
		s, ok := got[ch]
		switch {
		case !ok:
			t.Errorf("%s: no sample", ch)
		case s.Err != nil:
			t.Errorf("%s: bad: %v", ch, s.Err)
		case s.Value != v:
			t.Errorf("%s = %g, want %g", ch, s.Value, v)
		}
	}
}

func TestFakeOnBattery(t *testing.T) {
	f := newFakeUpsd(t, listReply("ups1", onBatteryVars...))
	d := newDevice(t, &Options{Address: f.ln.Addr().String(), UPS: "ups1"})
	got, err := read(t, d)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 13 {
		t.Errorf("%d channels, want 13", len(got))
	}
	wantValues(t, got, map[reading.Channel]float64{
		reading.SelfTest: 0, reading.OnBattery: 1, reading.LowBattery: 0, reading.Charge: 42, reading.Runtime: 600,
		reading.BatteryVoltage: 24.1, reading.BatteryTemp: 31.5, reading.InputVoltage: 0,
		reading.OutputVoltage: 229.5, reading.Load: 23, reading.ReplaceBattery: 0, reading.Overload: 0, reading.Fault: 0,
	})
}

func TestFakeStatusFlagsAndMissingVariables(t *testing.T) {
	f := newFakeUpsd(t, listReply("ups1", "ups.status", "ALARM OB LB RB OVER VENDORX", "ups.alarm", "Overheat",
		"battery.charge", "n/a", "battery.temperature.cell.max", "38.25"))
	d := newDevice(t, &Options{Address: f.ln.Addr().String(), UPS: "ups1",
		Variables: map[string]string{"battery.temperature.cell.max": "cell_max_temp"}})
	got, err := read(t, d)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{
		reading.OnBattery: 1, reading.LowBattery: 1, reading.ReplaceBattery: 1, reading.Overload: 1, reading.Fault: 1,
		"cell_max_temp": 38.25,
	})
	if e := got[reading.Runtime].Err; e == nil || !strings.Contains(e.Error(), "does not report battery.runtime") {
		t.Errorf("runtime: err %v, want 'does not report battery.runtime'", e)
	}
	if e := got[reading.Charge].Err; e == nil || !strings.Contains(e.Error(), "not a number") {
		t.Errorf("charge: err %v, want 'not a number'", e)
	}
}

// A UPS running its battery test is on battery on purpose: NUT says CAL (runtime calibration) or, with
// some drivers, TEST; either sets self_test.
func TestFakeSelfTest(t *testing.T) {
	for status, want := range map[string]float64{"OB CAL": 1, "OL TEST": 1, "OB DISCHRG": 0, "OL CHRG": 0} {
		f := newFakeUpsd(t, listReply("ups1", "ups.status", status))
		d := newDevice(t, &Options{Address: f.ln.Addr().String(), UPS: "ups1"})
		got, err := read(t, d)
		if err != nil {
			t.Fatal(err)
		}
		if s := got[reading.SelfTest]; s.Err != nil || s.Value != want {
			t.Errorf("%q: self_test %v (err %v), want %v", status, s.Value, s.Err, want)
		}
	}
}

func TestFakeWaitMakesFlagsBad(t *testing.T) {
	f := newFakeUpsd(t, listReply("ups1", "ups.status", "WAIT"))
	d := newDevice(t, &Options{Address: f.ln.Addr().String(), UPS: "ups1"})
	got, err := read(t, d)
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range []reading.Channel{reading.OnBattery, reading.LowBattery, reading.Fault} {
		if e := got[ch].Err; e == nil || !strings.Contains(e.Error(), "WAIT") {
			t.Errorf("%s: err %v, want WAIT", ch, e)
		}
	}
}

// Each ERR reply is a bad poll carrying the reason; the connection stays up and the next poll after the
// condition clears is good again on the same connection.
func TestFakeErrRepliesKeepConnection(t *testing.T) {
	f := newFakeUpsd(t, listReply("ups1", onBatteryVars...))
	d := newDevice(t, &Options{Address: f.ln.Addr().String(), UPS: "ups1"})
	for _, code := range []string{"UNKNOWN-UPS", "ACCESS-DENIED", "DATA-STALE", "DRIVER-NOT-CONNECTED"} {
		f.setReply(errReply(code))
		_, err := read(t, d)
		var se *ServerError
		if !errors.As(err, &se) || se.Code != code {
			t.Fatalf("%s: err %v, want ServerError %s", code, err, code)
		}
		if !strings.Contains(err.Error(), code) {
			t.Errorf("error text %q lacks the code", err)
		}
		f.setReply(listReply("ups1", onBatteryVars...))
		got, err := read(t, d)
		if err != nil {
			t.Fatalf("after %s: %v", code, err)
		}
		wantValues(t, got, map[reading.Channel]float64{reading.Charge: 42})
	}
	if n, _ := f.stats(); n != 1 {
		t.Errorf("%d connections, want 1 kept throughout", n)
	}
}

func TestFakeReconnects(t *testing.T) {
	f := newFakeUpsd(t, listReply("ups1", onBatteryVars...))
	d := newDevice(t, &Options{Address: f.ln.Addr().String(), UPS: "ups1"})
	if _, err := read(t, d); err != nil {
		t.Fatal(err)
	}
	// The server hangs up once: the kept connection is found dead and a fresh one serves the same poll.
	var once sync.Once
	f.setReply(func(req string) []string {
		hang := false
		once.Do(func() { hang = true })
		if hang {
			return nil
		}
		return listReply("ups1", onBatteryVars...)(req)
	})
	got, err := read(t, d)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{reading.Runtime: 600})
	if n, _ := f.stats(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

func TestFakeGarbageDropsConnection(t *testing.T) {
	f := newFakeUpsd(t, func(string) []string { return []string{"BEGIN LIST VAR ups1", "HELLO there"} })
	d := newDevice(t, &Options{Address: f.ln.Addr().String(), UPS: "ups1"})
	if _, err := read(t, d); !errors.Is(err, ErrSyntax) {
		t.Fatalf("err %v, want ErrSyntax", err)
	}
	f.setReply(listReply("ups1", onBatteryVars...))
	got, err := read(t, d)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{reading.OnBattery: 1})
	if n, _ := f.stats(); n != 2 {
		t.Errorf("%d connections, want 2 (the garbled one dropped)", n)
	}
}

func TestFakeUnreachable(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	d := newDevice(t, &Options{Address: addr, UPS: "ups1"})
	if _, err := read(t, d); err == nil || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err %v, want connection refused", err)
	}
}

func TestFakeStartTLSAndLogin(t *testing.T) {
	dir := t.TempDir()
	serverConf, caFile := selfSigned(t, dir)
	pass := filepath.Join(dir, "nut.pass")
	os.WriteFile(pass, []byte("s3cr\"et\n"), 0o600)
	f := newFakeUpsd(t, listReply("ups1", onBatteryVars...))
	f.tlsConf = serverConf
	d := newDevice(t, &Options{Address: f.ln.Addr().String(), UPS: "ups1", StartTLS: true, CAFile: caFile,
		ServerName: "upsd.test", Username: "mon", PasswordFile: pass})
	got, err := read(t, d)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{reading.Charge: 42})
	_, reqs := f.stats()
	want := []string{"STARTTLS", "USERNAME mon", `PASSWORD "s3cr\"et"`, "LIST VAR ups1"}
	if strings.Join(reqs, "|") != strings.Join(want, "|") {
		t.Errorf("requests %q, want %q", reqs, want)
	}
}

func TestFakeStartTLSNotConfigured(t *testing.T) {
	f := newFakeUpsd(t, errReply("FEATURE-NOT-CONFIGURED"))
	d := newDevice(t, &Options{Address: f.ln.Addr().String(), UPS: "ups1", StartTLS: true})
	_, err := read(t, d)
	if err == nil || !strings.Contains(err.Error(), "FEATURE-NOT-CONFIGURED") {
		t.Fatalf("err %v, want FEATURE-NOT-CONFIGURED", err)
	}
	if _, reqs := f.stats(); len(reqs) != 1 {
		t.Errorf("requests %q: nothing may follow a refused STARTTLS", reqs)
	}
}

func selfSigned(t *testing.T, dir string) (*tls.Config, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "upsd.test"}, DNSNames: []string{"upsd.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "ca.pem")
	os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}, caFile
}
