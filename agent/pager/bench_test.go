package pager

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/internal/peer"

	"github.com/rackwatch/rackwatch/agent/config"
	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/internal/mosquittotest"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// benchRig is a real Mosquitto, a real Alertmanager and an in-process pager between them.
type benchRig struct {
	broker *mosquittotest.Broker
	svc    *Service
	am     string
}

func newBenchRig(b *testing.B) *benchRig {
	bin := peer.Binary(b, "prometheus-alertmanager", "/usr/bin/prometheus-alertmanager", "prometheus-alertmanager", "alertmanager")
	br := mosquittotest.Start(b, mosquittotest.Options{})
	dir := b.TempDir()
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	os.WriteFile(filepath.Join(dir, "am.yml"), []byte("route: {receiver: none}\nreceivers: [{name: none}]\n"), 0o600)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "am.yml"), "--storage.path="+filepath.Join(dir, "am"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", port), "--cluster.listen-address=", "--log.level=warn")
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	am := fmt.Sprintf("http://127.0.0.1:%d", port)
	waitFor(b, "Alertmanager", func() bool {
		resp, err := http.Get(am + "/-/ready")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil && resp.StatusCode == 200
	})
	cfg, err := config.ParsePager("bench.yaml", []byte(fmt.Sprintf(`pager:
  id: bench
  state_dir: %s
  brokers: [{url: %s}]
  gateways: {silent_after: 0}
receivers:
  - {name: am, alertmanager: {url: %s}}
`, filepath.Join(dir, "pager"), br.URL, am)))
	if err != nil {
		b.Fatal(err)
	}
	svc, err := New(cfg, Options{})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { svc.Run(ctx); close(done) }()
	b.Cleanup(func() { cancel(); <-done })
	waitFor(b, "the pager", func() bool { return svc.Health() == nil })
	waitFor(b, "the pager to catch up", func() bool {
		select {
		case <-svc.caughtUp:
			return true
		default:
			return false
		}
	})
	return &benchRig{broker: br, svc: svc, am: am}
}

func (r *benchRig) sent() uint64 { return r.svc.tgts[0].sent[0].Load() }

// publisher is a gateway's connection publishing transitions like a gateway: the event and the retained
// state.
func (r *benchRig) publisher(b *testing.B, id string) (*mqtt.Client, contract.Topics) {
	cl, err := mqtt.Connect(context.Background(), mqtt.Config{URL: r.broker.URL, ClientID: "bench-" + id, CleanSession: true, KeepAlive: 30 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cl.Disconnect(0) })
	return cl, contract.NewTopics("rackwatch", id)
}

func raisePayload(gw string, n uint64) (key string, payload []byte) {
	key = "bench/s" + strconv.FormatUint(n, 10) + "/temperature"
	a := contract.Alarm{Gateway: gw, Site: "dc1", Key: key, Rule: "bench", Sensor: "s" + strconv.FormatUint(n, 10), Channel: "temperature",
		Severity: contract.Critical, State: contract.Active, Value: contract.Float(42), Unit: "°C", Threshold: contract.Float(40),
		Since: time.Now(), Time: time.Now(), Seq: n, Episode: n, Event: contract.EventRaise, Message: "bench alarm", Labels: map[string]string{"room": "r1"}}
	payload, _ = json.Marshal(a)
	return key, payload
}

// BenchmarkEventsToAlertmanager measures the pager's throughput: alarm raises published by 4 gateways
// (each as an event and a retained state, as gateways do) into Mosquitto, through one pager replica (its
// journal fsync'd), until Alertmanager accepted them all. Run with a fixed count:
//
//	go test -run '^$' -bench EventsToAlertmanager -benchtime 20000x ./agent/pager/
func BenchmarkEventsToAlertmanager(b *testing.B) {
	r := newBenchRig(b)
	const gws = 4
	type pub struct {
		cl *mqtt.Client
		tp contract.Topics
		id string
	}
	var pubs []pub
	for i := 0; i < gws; i++ {
		id := fmt.Sprintf("gw%d", i)
		cl, tp := r.publisher(b, id)
		pubs = append(pubs, pub{cl, tp, id})
	}
	base := r.sent()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := 0; g < gws; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p := pubs[g]
			var toks []mqtt.Token
			for n := g; n < b.N; n += gws {
				key, payload := raisePayload(p.id, uint64(n+1))
				toks = append(toks, p.cl.Publish(mqtt.Message{Topic: p.tp.Events(), Payload: payload, QoS: 1}),
					p.cl.Publish(mqtt.Message{Topic: p.tp.Alarm(key), Payload: payload, QoS: 1, Retain: true}))
				if len(toks) >= 512 {
					for _, t := range toks {
						<-t.Done()
					}
					toks = toks[:0]
				}
			}
			for _, t := range toks {
				<-t.Done()
			}
		}()
	}
	wg.Wait()
	deadline := time.Now().Add(5 * time.Minute)
	for r.sent()-base < uint64(b.N) {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d alerts reached Alertmanager", r.sent()-base, b.N)
		}
		time.Sleep(5 * time.Millisecond)
	}
	el := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/el.Seconds(), "events/s")
}

// BenchmarkEventToAlertmanagerLatency measures one alarm at a time: a gateway's raise published to
// Mosquitto until Alertmanager accepted the alert from the pager.
//
//	go test -run '^$' -bench EventToAlertmanagerLatency -benchtime 200x ./agent/pager/
func BenchmarkEventToAlertmanagerLatency(b *testing.B) {
	r := newBenchRig(b)
	cl, tp := r.publisher(b, "gw-lat")
	var lat []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		before := r.sent()
		key, payload := raisePayload("gw-lat", uint64(i+1))
		start := time.Now()
		cl.Publish(mqtt.Message{Topic: tp.Events(), Payload: payload, QoS: 1})
		cl.Publish(mqtt.Message{Topic: tp.Alarm(key), Payload: payload, QoS: 1, Retain: true})
		for r.sent() == before {
			time.Sleep(50 * time.Microsecond)
		}
		lat = append(lat, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}
