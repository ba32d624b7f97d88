package mqtt

import (
	"net"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

// quickAckConn re-arms TCP_QUICKACK after every read: Linux leaves quick-ACK mode again on its own (it is
// not a permanent setting), so it is set each time data came in, which is when an ACK is owed.
type quickAckConn struct {
	net.Conn
	raw syscall.RawConn
}

func (c quickAckConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if n > 0 {
		c.raw.Control(func(fd uintptr) {
			// Best effort: a failure only leaves the kernel's delayed ACKs in place.
			_ = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_QUICKACK, 1)
			if hook := testQuickAckHook.Load(); hook != nil {
				(*hook)()
			}
		})
	}
	return n, err
}

// testQuickAckHook, when set by a test, is called after every re-arming.
var testQuickAckHook atomic.Pointer[func()]

func withQuickAck(conn net.Conn, tcp *net.TCPConn) net.Conn {
	if !quickAck.Load() {
		return conn
	}
	raw, err := tcp.SyscallConn()
	if err != nil {
		return conn
	}
	return quickAckConn{Conn: conn, raw: raw}
}
