//go:build !linux

package mqtt

import "net"

// withQuickAck does nothing outside Linux: TCP_QUICKACK is Linux's.
func withQuickAck(conn net.Conn, _ *net.TCPConn) net.Conn { return conn }
