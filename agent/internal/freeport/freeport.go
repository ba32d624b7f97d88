// Package freeport picks loopback ports for tests that start servers of their own (Mosquitto,
// Alertmanager, the agent): a port is free for TCP and UDP when picked, and no port is handed out twice in
// one test process, so two servers started side by side never get the same one.
package freeport

import (
	"net"
	"sync"
	"testing"
)

var (
	mu    sync.Mutex
	given = map[int]bool{}
)

// Get returns a loopback port that was free for both TCP and UDP (Alertmanager's cluster port uses both)
// and that this process has not handed out before.
func Get(t testing.TB) int {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		u, uerr := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1), Port: port})
		l.Close()
		if uerr != nil || given[port] {
			continue
		}
		u.Close()
		given[port] = true
		return port
	}
	t.Fatal("freeport: no free loopback port after 100 tries")
	return 0
}
