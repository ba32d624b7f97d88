package mqtt

import "net"

// SetConnHooks lets the external tests see the TCP connection under every connection opened, and every
// re-arming of quick ACKs; nil removes a hook.
func SetConnHooks(conn func(*net.TCPConn), quick func()) {
	if conn == nil {
		testConnHook.Store(nil)
	} else {
		testConnHook.Store(&conn)
	}
	if quick == nil {
		testQuickAckHook.Store(nil)
	} else {
		testQuickAckHook.Store(&quick)
	}
}

// SetQuickAck turns the quick ACKs on or off, for the benchmark that compares them.
func SetQuickAck(on bool) { quickAck.Store(on) }
