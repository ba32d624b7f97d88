package broker

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rackwatch/rackwatch/agent/mqtt"
)

func TestBrokerBusyPort(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	if _, err := Start(l.Addr().String(), nil); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v", err)
	}
}

func connect(t *testing.T, b *Broker, id string, clean bool, onMsg func(mqtt.Received)) (*mqtt.Client, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := mqtt.Config{URL: b.URL(), ClientID: id, CleanSession: clean, KeepAlive: 30 * time.Second, OnMessage: onMsg}
	if onMsg != nil {
		cfg.Subscribe = map[string]byte{"#": 1}
	}
	cl, err := mqtt.Connect(ctx, cfg)
	if err == nil {
		t.Cleanup(func() { cl.Disconnect(0) })
	}
	return cl, err
}

// Anyone who can reach the embedded broker is a client: a huge packet gets the client disconnected
// instead of the gateway's memory, the sessions are bounded (the gateway's own client always gets in),
// and retained messages beyond the bound are delivered but not kept, except the gateway's own.
func TestLimits(t *testing.T) {
	b, err := StartWith("127.0.0.1:0", nil, Limits{MaxPacket: 64 << 10, MaxClients: 3, MaxRetained: 5,
		MaxRetainedBytes: 1 << 20, Reserved: "rackwatch/gw/", OwnClient: "rackwatch-gw"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	big, err := connect(t, b, "big", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := big.PublishWait(ctx, mqtt.Message{Topic: "x", Payload: make([]byte, 1<<20), QoS: 1}); err == nil {
		t.Fatal("a 1 MiB packet was accepted (bound 64 KiB)")
	}
	<-big.Lost()

	for i := 0; i < 10; i++ {
		pub, err := connect(t, b, fmt.Sprintf("p%d", i), true, nil)
		if i >= 3 {
			if err == nil {
				t.Fatalf("client %d admitted; the bound is 3 sessions", i)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			continue
		}
		for k := 0; k < 10; k++ {
			pub.PublishWait(ctx, mqtt.Message{Topic: fmt.Sprintf("junk/%d", k), Payload: []byte("x"), QoS: 1, Retain: true})
			pub.PublishWait(ctx, mqtt.Message{Topic: fmt.Sprintf("rackwatch/gw/alarms/r%d", k), Payload: []byte("a"), QoS: 1, Retain: true})
		}
	}
	var mu sync.Mutex
	got := map[string]bool{}
	if _, err := connect(t, b, "rackwatch-gw", true, func(m mqtt.Received) {
		mu.Lock()
		got[m.Topic] = true
		mu.Unlock()
	}); err != nil {
		t.Fatalf("the gateway's own client was refused: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		mu.Lock()
		n := len(got)
		mu.Unlock()
		if n >= 15 || time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	junk, own := 0, 0
	for topic := range got {
		if strings.HasPrefix(topic, "junk/") {
			junk++
		} else {
			own++
		}
	}
	if junk != 5 || own != 10 {
		t.Fatalf("retained: %d junk (bound 5), %d of the gateway's own (want all 10)", junk, own)
	}
	if c, r := b.Refused(); c == 0 || r != 5 {
		t.Fatalf("refused: %d clients, %d retained", c, r)
	}
}

// The broker's side of every client connection has Nagle's algorithm off.
func TestBrokerConnectionsNoDelay(t *testing.T) {
	b, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err := connect(t, b, "nd", true, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Disconnect(0)
	c, ok := b.srv.Clients.Get("nd")
	if !ok {
		t.Fatal("client not known to the broker")
	}
	tc, ok := c.Net.Conn.(*net.TCPConn)
	if !ok {
		t.Fatalf("connection is a %T", c.Net.Conn)
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	raw.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NODELAY) })
	if gerr != nil || v == 0 {
		t.Fatalf("TCP_NODELAY = %d (%v), want on", v, gerr)
	}
}
