package snmp

import (
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gosnmp/gosnmp"

	"github.com/rackwatch/rackwatch/agent/driver"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// fakeAgent is an in-process SNMPv2c agent built on gosnmp's packet encoding: GET, GETNEXT and GETBULK over
// a table of objects, silence for a wrong community (as real agents do).
type fakeAgent struct {
	conn      *net.UDPConn
	community string

	mu   sync.Mutex
	objs map[string]gosnmp.SnmpPDU
	reqs int
}

func newFakeAgent(t *testing.T, community string) *fakeAgent {
	t.Helper()
	c, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	a := &fakeAgent{conn: c, community: community, objs: map[string]gosnmp.SnmpPDU{}}
	go a.serve()
	t.Cleanup(func() { c.Close() })
	return a
}

func (a *fakeAgent) set(oid string, typ gosnmp.Asn1BER, v any) {
	a.mu.Lock()
	a.objs[oid] = gosnmp.SnmpPDU{Name: oid, Type: typ, Value: v}
	a.mu.Unlock()
}

func (a *fakeAgent) del(prefix string) {
	a.mu.Lock()
	for k := range a.objs {
		if strings.HasPrefix(k, prefix) {
			delete(a.objs, k)
		}
	}
	a.mu.Unlock()
}

func oidLess(x, y string) bool {
	xs, ys := strings.Split(strings.Trim(x, "."), "."), strings.Split(strings.Trim(y, "."), ".")
	for i := 0; i < len(xs) && i < len(ys); i++ {
		a, _ := strconv.Atoi(xs[i])
		b, _ := strconv.Atoi(ys[i])
		if a != b {
			return a < b
		}
	}
	return len(xs) < len(ys)
}

func (a *fakeAgent) next(oid string) (gosnmp.SnmpPDU, bool) {
	keys := make([]string, 0, len(a.objs))
	for k := range a.objs {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return oidLess(keys[i], keys[j]) })
	for _, k := range keys {
		if oidLess(oid, k) {
			return a.objs[k], true
		}
	}
	return gosnmp.SnmpPDU{}, false
}

func (a *fakeAgent) serve() {
	dec := &gosnmp.GoSNMP{Version: gosnmp.Version2c, Logger: gosnmp.NewLogger(nil)}
	buf := make([]byte, 65536)
	for {
		n, from, err := a.conn.ReadFromUDP(buf)
		if err != nil {
			return
		}
		req, err := dec.SnmpDecodePacket(buf[:n])
		if err != nil || req.Community != a.community {
			continue
		}
		resp := &gosnmp.SnmpPacket{Version: gosnmp.Version2c, Community: a.community, PDUType: gosnmp.GetResponse,
			RequestID: req.RequestID, Logger: gosnmp.NewLogger(nil)}
		a.mu.Lock()
		a.reqs++
		switch req.PDUType {
		case gosnmp.GetRequest:
			for _, v := range req.Variables {
				name := "." + strings.TrimPrefix(v.Name, ".")
				if o, ok := a.objs[name]; ok {
					resp.Variables = append(resp.Variables, o)
				} else {
					resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: name, Type: gosnmp.NoSuchObject})
				}
			}
		case gosnmp.GetNextRequest, gosnmp.GetBulkRequest:
			reps := 1
			if req.PDUType == gosnmp.GetBulkRequest {
				reps = int(req.MaxRepetitions)
			}
			for _, v := range req.Variables {
				cur := "." + strings.TrimPrefix(v.Name, ".")
				for i := 0; i < reps; i++ {
					o, ok := a.next(cur)
					if !ok {
						resp.Variables = append(resp.Variables, gosnmp.SnmpPDU{Name: cur, Type: gosnmp.EndOfMibView})
						break
					}
					resp.Variables = append(resp.Variables, o)
					cur = o.Name
				}
			}
		}
		a.mu.Unlock()
		out, err := resp.MarshalMsg()
		if err != nil {
			panic(err)
		}
		a.conn.WriteToUDP(out, from)
	}
}

// loadOnMains fills the agent with a healthy UPS on mains.
func (a *fakeAgent) loadOnMains() {
	a.set(oidBatteryStatus, gosnmp.Integer, 2)
	a.set(oidSecondsOnBattery, gosnmp.Integer, 0)
	a.set(oidMinutesRemaining, gosnmp.Integer, 42)
	a.set(oidChargeRemaining, gosnmp.Integer, 100)
	a.set(oidBatteryVoltage, gosnmp.Integer, 545)
	a.set(oidBatteryTemp, gosnmp.Integer, 27)
	a.set(oidInputVoltage, gosnmp.Integer, 231)
	a.set(oidOutputSource, gosnmp.Integer, 3)
	a.set(oidOutputVoltage, gosnmp.Integer, 230)
	a.set(oidOutputLoad, gosnmp.Integer, 37)
	a.set(oidAlarmsPresent, gosnmp.Gauge32, uint(0))
}

func communityFile(t *testing.T, c string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "community")
	if err := os.WriteFile(p, []byte(c+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func newDevice(t *testing.T, o *Options) *Device {
	t.Helper()
	if o.Retries == 0 {
		o.Retries = 1
	}
	d, err := New(o, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return d
}

func read(t *testing.T, d *Device, timeout time.Duration) (map[reading.Channel]driver.Sample, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	out, err := d.Read(ctx, nil)
	m := map[reading.Channel]driver.Sample{}
	for _, s := range out {
		m[s.Channel] = s
	}
	return m, err
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

func TestAgentOnMainsThenOnBatteryWithAlarms(t *testing.T) {
	a := newFakeAgent(t, "s3cret")
	a.loadOnMains()
	d := newDevice(t, &Options{Address: a.conn.LocalAddr().String(), Version: "2c", CommunityFile: communityFile(t, "s3cret")})
	got, err := read(t, d, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 12 {
		t.Errorf("%d channels, want 12", len(got))
	}
	wantValues(t, got, map[reading.Channel]float64{
		reading.OnBattery: 0, reading.LowBattery: 0, reading.Charge: 100, reading.Runtime: 42 * 60,
		reading.BatteryVoltage: 54.5, reading.BatteryTemp: 27, reading.InputVoltage: 231, reading.OutputVoltage: 230,
		reading.Load: 37, reading.ReplaceBattery: 0, reading.Overload: 0, reading.Fault: 0,
	})

	// Mains fail: output from battery, battery low, and three alarms in the table.
	a.set(oidOutputSource, gosnmp.Integer, 5)
	a.set(oidBatteryStatus, gosnmp.Integer, 3)
	a.set(oidInputVoltage, gosnmp.Integer, 0)
	a.set(oidMinutesRemaining, gosnmp.Integer, 3)
	a.set(oidAlarmsPresent, gosnmp.Gauge32, uint(3))
	a.set(oidAlarmDescr+".7", gosnmp.ObjectIdentifier, oidWellKnownAlarms+".1")
	a.set(oidAlarmDescr+".8", gosnmp.ObjectIdentifier, oidWellKnownAlarms+".8")
	a.set(oidAlarmDescr+".9", gosnmp.ObjectIdentifier, oidWellKnownAlarms+".18")
	a.set(".1.3.6.1.2.1.33.1.6.2.1.3.7", gosnmp.TimeTicks, uint32(100)) // upsAlarmTime: must not be read as an alarm
	got, err = read(t, d, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{
		reading.OnBattery: 1, reading.LowBattery: 1, reading.Runtime: 180, reading.InputVoltage: 0,
		reading.ReplaceBattery: 1, reading.Overload: 1, reading.Fault: 1,
	})

	// Alarms clear.
	a.del(".1.3.6.1.2.1.33.1.6.2")
	a.set(oidAlarmsPresent, gosnmp.Gauge32, uint(0))
	got, err = read(t, d, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{reading.ReplaceBattery: 0, reading.Overload: 0, reading.Fault: 0})
}

func TestAgentMissingObjects(t *testing.T) {
	a := newFakeAgent(t, "public")
	a.set(oidChargeRemaining, gosnmp.Integer, 80)
	a.set(oidSecondsOnBattery, gosnmp.Integer, 12)
	d := newDevice(t, &Options{Address: a.conn.LocalAddr().String(), Version: "2c", CommunityFile: communityFile(t, "public")})
	got, err := read(t, d, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	wantValues(t, got, map[reading.Channel]float64{reading.Charge: 80, reading.OnBattery: 1})
	for ch, want := range map[reading.Channel]string{
		reading.BatteryTemp: "upsBatteryTemperature", reading.LowBattery: "upsBatteryStatus",
		reading.ReplaceBattery: "upsAlarmsPresent", reading.Load: "upsOutputPercentLoad",
	} {
		if e := got[ch].Err; e == nil || !strings.Contains(e.Error(), want) {
			t.Errorf("%s: err %v, want mention of %s", ch, e, want)
		}
	}
}

func TestAgentWrongCommunityTimesOut(t *testing.T) {
	a := newFakeAgent(t, "right")
	a.loadOnMains()
	d := newDevice(t, &Options{Address: a.conn.LocalAddr().String(), Version: "2c", CommunityFile: communityFile(t, "wrong")})
	_, err := read(t, d, 600*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "no answer") {
		t.Fatalf("err %v, want no answer", err)
	}
}

// BenchmarkRead measures one poll (one GET of 11 objects, no alarms) against the in-process agent; the
// allocations are mostly gosnmp's packet encoding and decoding.
func BenchmarkRead(b *testing.B) {
	t := &testing.T{}
	a := newFakeAgent(t, "public")
	defer a.conn.Close()
	a.loadOnMains()
	dir := b.TempDir()
	cf := filepath.Join(dir, "c")
	os.WriteFile(cf, []byte("public"), 0o600)
	d, err := New(&Options{Address: a.conn.LocalAddr().String(), Version: "2c", CommunityFile: cf, Retries: 1}, slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer d.Close()
	ctx := context.Background()
	out := make([]driver.Sample, 0, 16)
	b.ReportAllocs()
	for b.Loop() {
		out, err = d.Read(ctx, out[:0])
		if err != nil || len(out) != 12 {
			b.Fatal(err, len(out))
		}
	}
}
