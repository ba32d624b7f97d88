package delivery

import (
	"cmp"
	"context"
	"encoding/json"
	mrand "math/rand/v2"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/internal/mosquittotest"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/reading"
)

// BenchmarkTransitionsDurable: transitions/s that reach the journal durably (fsync'd), one alarm per
// call from several goroutines at once (group commit shares the fsyncs). No broker is reachable.
func BenchmarkTransitionsDurable(b *testing.B) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "tcp://" + l.Addr().String()
	l.Close()
	cfg := testConfig(b, b.TempDir(), "  brokers:\n    - {url: "+dead+"}")
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer closeDelivery2(d)
	var seq atomic.Uint64
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		as := make([]contract.Alarm, 1)
		for pb.Next() {
			as[0] = transition(seq.Add(1), "batt-heating", "ups1", "battery_temp")
			if err := d.Transitions(as); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
}

// benchBroker is a local Mosquitto (skipped when absent).
func benchBroker(b *testing.B) string {
	return mosquittotest.Start(b, mosquittotest.Options{}).URL
}

// BenchmarkEndToEnd: transitions/s from Transitions to a subscriber of a local broker (journal, fsync,
// QoS 1 PUBACK, broker, subscriber), and the latency of single transitions (p50, p99).
func BenchmarkEndToEnd(b *testing.B) {
	url := benchBroker(b)
	recv := make(chan uint64, 1<<16)
	ctx := context.Background()
	s, err := mqtt.Connect(ctx, mqtt.Config{URL: url, ClientID: "bench-sub", CleanSession: true,
		Subscribe: map[string]byte{"rackwatch/gw1/events": 1},
		OnMessage: func(m mqtt.Received) {
			var a struct{ Seq uint64 }
			json.Unmarshal(m.Payload, &a)
			recv <- a.Seq
		}})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Disconnect(0)
	cfg := testConfig(b, b.TempDir(), "  brokers:\n    - {url: "+url+"}")
	d, err := Open(ctx, cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer closeDelivery2(d)
	waitReady(b, d)

	b.Run("throughput", func(b *testing.B) {
		var seq atomic.Uint64
		base := seqBase.Load()
		seq.Store(base)
		b.SetParallelism(4)
		b.RunParallel(func(pb *testing.PB) {
			as := make([]contract.Alarm, 1)
			for pb.Next() {
				as[0] = transition(seq.Add(1), "r", "s1", "temperature")
				if err := d.Transitions(as); err != nil {
					b.Error(err)
					return
				}
			}
		})
		for n := 0; n < b.N; n++ {
			select {
			case <-recv:
			case <-time.After(failAfter):
				b.Fatalf("received %d of %d", n, b.N)
			}
		}
		seqBase.Store(seq.Load())
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "transitions/s")
	})
	b.Run("latency", func(b *testing.B) {
		lat := make([]time.Duration, 0, b.N)
		as := make([]contract.Alarm, 1)
		for i := 0; i < b.N; i++ {
			seq := seqBase.Add(1)
			as[0] = transition(seq, "r", "s1", "temperature")
			start := time.Now()
			if err := d.Transitions(as); err != nil {
				b.Fatal(err)
			}
			for got := range recv {
				if got == seq {
					break
				}
			}
			lat = append(lat, time.Since(start))
		}
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	})
}

var seqBase atomic.Uint64

// BenchmarkReadingFiltered: the cost of a reading that the deadband filter holds back (the common case).
func BenchmarkReadingFiltered(b *testing.B) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "tcp://" + l.Addr().String()
	l.Close()
	cfg := testConfig(b, b.TempDir(), "  brokers:\n    - {url: "+dead+"}\n  readings: {every: 1h, deadband: 1}")
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer closeDelivery2(d)
	r := reading.Reading{Sensor: "r12.inlet", Channel: reading.Temperature, Value: 22, At: time.Now()}
	d.Reading(&r, &celsius)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		r.Value = 22 + float64(i%10)*0.05
		d.Reading(&r, &celsius)
	}
}

var rssOnce struct {
	backlog, drained         int
	backlogAnon, drainedAnon int
}

// BenchmarkBacklogRSS: peak RSS (VmHWM) of an agent process holding a 10,000-transition backlog for a
// broker that is down, and of a fresh process delivering that backlog once the broker is back. The
// process is this test binary, whose own code pages count in VmHWM; RssAnon (heap, stacks) is reported
// too. Run with -benchtime=1x; the figures are reported as metrics, not asserted.
func BenchmarkBacklogRSS(b *testing.B) {
	if rssOnce.backlog == 0 {
		m := mosquittotest.Start(b, mosquittotest.Options{})
		state := b.TempDir()
		m.Stop()
		c := startChild(b, state, m.URL, "BATCH=100")
		c.do("feed 1 10000", "durable 10000")
		rssOnce.backlog, rssOnce.backlogAnon = rssFields(c.do("rss", "rss"))
		c.cmd.Process.Kill()
		c.cmd.Wait()
		m.Start()
		c = startChild(b, state, m.URL)
		c.do("flush", "flushed")
		rssOnce.drained, rssOnce.drainedAnon = rssFields(c.do("rss", "rss"))
		c.do("close", "closed")
	}
	for i := 0; i < b.N; i++ {
	}
	b.ReportMetric(float64(rssOnce.backlog), "backlog-peak-RSS-KiB")
	b.ReportMetric(float64(rssOnce.drained), "drain-peak-RSS-KiB")
	b.ReportMetric(float64(rssOnce.backlogAnon), "backlog-anon-RSS-KiB")
	b.ReportMetric(float64(rssOnce.drainedAnon), "drain-anon-RSS-KiB")
}

func rssFields(s string) (hwm, anon int) {
	f := strings.Fields(s) // "rss HWM ANON"
	hwm, _ = strconv.Atoi(f[1])
	anon, _ = strconv.Atoi(f[2])
	return hwm, anon
}

// BenchmarkFlappingBroker: alarm latency while the broker restarts every 2 to 5 s (down for a few hundred
// ms each time), as measured for the issue: from Transitions returning to the event at a subscriber with a
// persistent session. One alarm every 0.3 to 1 s for FLAP_SECONDS (default 60). Run with -benchtime 1x.
func BenchmarkFlappingBroker(b *testing.B) {
	mq := mosquittotest.Start(b, mosquittotest.Options{})
	secs, _ := strconv.Atoi(os.Getenv("FLAP_SECONDS"))
	if secs <= 0 {
		secs = 60
	}
	keepalive := cmp.Or(os.Getenv("FLAP_KEEPALIVE"), "30s")
	cfg := testConfig(b, b.TempDir(), "  brokers:\n    - {url: "+mq.URL+", keepalive: "+keepalive+"}\n  readings: {disabled: true}")
	var mu sync.Mutex
	sent := map[uint64]time.Time{}
	var lat []time.Duration
	onMsg := func(m mqtt.Received) {
		var a contract.Alarm
		if json.Unmarshal(m.Payload, &a) != nil {
			return
		}
		mu.Lock()
		if at, ok := sent[a.Seq]; ok {
			lat = append(lat, time.Since(at))
			delete(sent, a.Seq)
		}
		mu.Unlock()
	}
	stop, stopSub := make(chan struct{}), make(chan struct{})
	var wg, subWG sync.WaitGroup
	wg.Add(1)
	subWG.Add(1)
	go func() { // the subscriber: a persistent session, reconnecting at once
		defer subWG.Done()
		for {
			cl, err := mqtt.Connect(context.Background(), mqtt.Config{URL: mq.URL, ClientID: "flap-sub", KeepAlive: 5 * time.Second,
				Subscribe: map[string]byte{"rackwatch/gw1/events": 1}, OnMessage: onMsg, ConnectTimeout: time.Second})
			if err == nil {
				select {
				case <-cl.Lost():
				case <-stopSub:
					cl.Disconnect(0)
					return
				}
			}
			select {
			case <-stopSub:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	go func() { // the broker: up 2-5 s, down 0.1-0.5 s
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Duration(2000+mrand.IntN(3000)) * time.Millisecond):
			}
			mq.Stop()
			time.Sleep(time.Duration(100+mrand.IntN(400)) * time.Millisecond)
			mq.Start()
		}
	}()
	d, err := Open(context.Background(), cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	end := time.Now().Add(time.Duration(secs) * time.Second)
	var seq uint64
	for time.Now().Before(end) {
		seq++
		if err := d.Transitions([]contract.Alarm{transition(seq, "smoke", "room", "smoke")}); err != nil {
			b.Fatal(err)
		}
		mu.Lock()
		sent[seq] = time.Now()
		mu.Unlock()
		time.Sleep(time.Duration(300+mrand.IntN(700)) * time.Millisecond)
	}
	close(stop)
	wg.Wait() // the broker was just started again and stays up: what is still on its way arrives
	deadline := time.Now().Add(2 * time.Minute)
	for {
		mu.Lock()
		n := len(lat)
		mu.Unlock()
		if n >= int(seq) || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	close(stopSub)
	subWG.Wait()
	closeDelivery2(d)
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	if len(lat) == 0 {
		b.Fatal("nothing arrived")
	}
	q := func(p float64) float64 { return lat[min(len(lat)-1, int(p*float64(len(lat))))].Seconds() }
	b.ReportMetric(q(0.5), "p50-s")
	b.ReportMetric(q(0.9), "p90-s")
	b.ReportMetric(lat[len(lat)-1].Seconds(), "max-s")
	b.ReportMetric(float64(len(lat)), "alarms")
	b.Logf("%d alarms, %d measured: p50 %.2fs p90 %.2fs max %.2fs", seq, len(lat), q(0.5), q(0.9), lat[len(lat)-1].Seconds())
}
