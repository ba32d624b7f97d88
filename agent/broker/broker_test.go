package broker

import (
	"net"
	"strings"
	"testing"
)

func TestBrokerBusyPort(t *testing.T) {
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	defer l.Close()
	if _, err := Start(l.Addr().String(), nil); err == nil || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v", err)
	}
}
