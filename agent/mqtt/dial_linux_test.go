package mqtt_test

import (
	"context"
	"crypto/tls"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	mochi "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/auth"
	"github.com/mochi-mqtt/server/v2/listeners"
	"golang.org/x/sys/unix"

	"github.com/rackwatch/rackwatch/agent/broker"
	"github.com/rackwatch/rackwatch/agent/internal/mosquittotest"
	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// Every connection to a broker, plain, TLS or websocket, has Nagle's algorithm off and re-arms quick
// ACKs after reading (so a broker that leaves Nagle on, as Mosquitto does by default, does not hold its
// PUBACKs ~40 ms for our delayed ACK; BenchmarkAckLatencyMosquitto shows the difference).
func TestConnectionsNoDelayQuickAck(t *testing.T) {
	b, err := broker.Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cert, clientTLS := serverCert(t)
	tlsAddr := serve(t, func(c net.Conn) { // TLS in front of the embedded broker
		tc := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}})
		up, err := net.Dial("tcp", b.Addr())
		if err != nil {
			return
		}
		defer up.Close()
		go io.Copy(up, tc)
		io.Copy(tc, up)
	})
	wsAddr := startWebsocketBroker(t)

	for _, tc := range []struct{ name, url string }{
		{"tcp", b.URL()},
		{"tls", "tls://" + tlsAddr},
		{"ws", "ws://" + wsAddr + "/mqtt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var (
				mu    sync.Mutex
				conns []*net.TCPConn
				quick atomic.Int64
			)
			mqtt.SetConnHooks(func(c *net.TCPConn) { mu.Lock(); conns = append(conns, c); mu.Unlock() }, func() { quick.Add(1) })
			defer mqtt.SetConnHooks(nil, nil)
			ctx, cancel := context.WithTimeout(context.Background(), failAfter)
			defer cancel()
			var cl *mqtt.Client
			for { // mochi starts its websocket listener on a goroutine: retry until it listens
				cl, err = mqtt.Connect(ctx, mqtt.Config{URL: tc.url, ClientID: "nd-" + tc.name, CleanSession: true, TLS: clientTLS})
				if err == nil || ctx.Err() != nil {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Disconnect(0)
			if err := cl.PublishWait(ctx, mqtt.Message{Topic: "t/a", Payload: []byte("x"), QoS: 1}); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			defer mu.Unlock()
			if len(conns) == 0 {
				t.Fatal("the connection was not opened by rackwatch's opener: its socket options are paho's defaults")
			}
			c := conns[len(conns)-1]
			raw, err := c.SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var nodelay int
			var gerr error
			raw.Control(func(fd uintptr) { nodelay, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY) })
			if gerr != nil || nodelay == 0 {
				t.Errorf("TCP_NODELAY = %d (%v), want on", nodelay, gerr)
			}
			if quick.Load() == 0 {
				t.Error("quick ACKs were never re-armed after a read (the CONNACK and PUBACK were read)")
			}
		})
	}
}

func startWebsocketBroker(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	srv := mochi.New(&mochi.Options{})
	srv.AddHook(new(auth.AllowHook), nil)
	if err := srv.AddListener(listeners.NewWebsocket(listeners.Config{ID: "ws", Address: addr})); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return addr
}

// BenchmarkAckLatencyMosquitto measures how long a real Mosquitto (default settings: Nagle on its side)
// takes to acknowledge one alarm's two QoS 1 publications (retained state and event, ~500 bytes each),
// sent 20-100 ms apart as alarms are, with and without the quick ACKs. It reports the median and p90 in
// ms. MQTT_URL uses a broker already running instead of starting one.
//
//	go test -run '^$' -bench AckLatencyMosquitto -benchtime 1x ./agent/mqtt/
func BenchmarkAckLatencyMosquitto(b *testing.B) {
	for _, quick := range []bool{false, true} {
		name := "delayed-acks"
		if quick {
			name = "quick-acks"
		}
		b.Run(name, func(b *testing.B) {
			mqtt.SetQuickAck(quick)
			defer mqtt.SetQuickAck(true)
			url := os.Getenv("MQTT_URL")
			if url == "" {
				url = mosquittotest.Start(b, mosquittotest.Options{}).URL
			}
			cl, err := mqtt.Connect(context.Background(), mqtt.Config{URL: url, ClientID: "acklat", CleanSession: true})
			if err != nil {
				b.Fatal(err)
			}
			defer cl.Disconnect(0)
			payload := make([]byte, 500)
			var lat []time.Duration
			for i := 0; i < 100*b.N; i++ {
				time.Sleep(20*time.Millisecond + rand.N(80*time.Millisecond))
				start := time.Now()
				t1 := cl.Publish(mqtt.Message{Topic: "acklat/alarms/x", Payload: payload, QoS: 1, Retain: true})
				t2 := cl.Publish(mqtt.Message{Topic: "acklat/events", Payload: payload, QoS: 1})
				<-t1.Done()
				<-t2.Done()
				lat = append(lat, time.Since(start))
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*9/10].Microseconds())/1000, "p90-ms")
			b.ReportMetric(float64(lat[len(lat)-1].Microseconds())/1000, "max-ms")
		})
	}
}
