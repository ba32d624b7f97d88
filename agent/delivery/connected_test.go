package delivery

import (
	"context"
	"net"
	"testing"
	"time"
)

// Connected counts the embedded broker and each configured broker, and only those connected now.
func TestConnectedCountsBrokers(t *testing.T) {
	b := startEmbedded(t)
	// A port nothing listens on: the broker there stays down.
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	down := l.Addr().String()
	l.Close()
	cfg := testConfig(t, t.TempDir(), "  embedded_broker: "+b.Addr()+"\n  brokers: [{url: tcp://"+down+"}]")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery2(d)
	deadline := time.Now().Add(failAfter)
	for {
		up, total := d.Connected()
		if total != 2 {
			t.Fatalf("Connected() total = %d, want 2 (the embedded broker and one configured)", total)
		}
		if up == 1 {
			break
		}
		if up > 1 || time.Now().After(deadline) {
			t.Fatalf("Connected() = %d of %d, want 1 of 2: %v", up, total, d.Health())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
