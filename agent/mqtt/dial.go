package mqtt

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"os"
	"sync/atomic"

	paho "github.com/eclipse/paho.mqtt.golang"
	"golang.org/x/net/proxy"
)

// openConn opens the network connection to a broker the way paho's own opener does (tcp:// and mqtt://
// through a SOCKS proxy from the environment when one is set, tls:// and its aliases, ws:// and wss://
// through an HTTP proxy from the environment), and then tunes the TCP socket underneath, whatever wraps
// it (TLS, a websocket):
//
//   - Nagle's algorithm off (TCP_NODELAY). Go's net package already turns it off on every TCP connection
//     it makes; set here so that it holds whichever dialer made the connection. With Nagle on, a small
//     write made while an earlier one is unacknowledged waits for that ACK.
//   - Quick ACKs after every read (TCP_QUICKACK, Linux). A broker that leaves Nagle on (Mosquitto does
//     unless set_tcp_nodelay is true) holds its second PUBACK until we acknowledge the TCP segment of the
//     first, and Linux delays that ACK by up to 40 ms once the connection looks interactive: one alarm's
//     two publications (retained state and event) then took ~43 ms to be acknowledged in one try of
//     ten or more, instead of 0.5 ms. The journal keeps transitions until acknowledged, so that lag slows
//     the backlog after a reconnect and the last gasp, and holds the readings that wait for the backlog.
func openConn(uri *url.URL, o paho.ClientOptions) (net.Conn, error) {
	dialer := o.Dialer
	if dialer == nil {
		dialer = &net.Dialer{Timeout: o.ConnectTimeout}
	}
	var (
		conn net.Conn
		err  error
	)
	switch uri.Scheme {
	case "ws", "wss":
		u := *uri
		u.User = nil // gorilla/websocket refuses URLs with user info
		var tc *tls.Config
		if uri.Scheme == "wss" {
			tc = o.TLSConfig
		}
		conn, err = paho.NewWebsocket(u.String(), tc, o.ConnectTimeout, o.HTTPHeaders, o.WebsocketOptions)
	case "mqtt", "tcp":
		conn, err = proxy.FromEnvironmentUsing(dialer).Dial("tcp", uri.Host)
	case "ssl", "tls", "mqtts", "mqtt+ssl", "tcps":
		if os.Getenv("all_proxy") == "" {
			conn, err = tls.DialWithDialer(dialer, "tcp", uri.Host, o.TLSConfig)
			break
		}
		var raw net.Conn
		if raw, err = proxy.FromEnvironment().Dial("tcp", uri.Host); err != nil {
			break
		}
		tc := tls.Client(raw, o.TLSConfig)
		if err = tc.Handshake(); err != nil {
			raw.Close()
			break
		}
		conn = tc
	default:
		return nil, fmt.Errorf("unknown protocol %q", uri.Scheme)
	}
	if err != nil {
		return nil, err
	}
	tcp := tcpOf(conn)
	if tcp == nil {
		return conn, nil // not TCP underneath (a proxy's own conn type): nothing to set
	}
	if err := tcp.SetNoDelay(true); err != nil {
		conn.Close()
		return nil, fmt.Errorf("setting TCP_NODELAY: %w", err)
	}
	if hook := testConnHook.Load(); hook != nil {
		(*hook)(tcp)
	}
	return withQuickAck(conn, tcp), nil
}

// testConnHook, when set by a test, sees the TCP connection under every connection opened.
var testConnHook atomic.Pointer[func(*net.TCPConn)]

// tcpOf finds the TCP connection under conn: itself, or under a TLS or websocket wrapper.
func tcpOf(conn net.Conn) *net.TCPConn {
	for range 4 {
		switch c := conn.(type) {
		case *net.TCPConn:
			return c
		case interface{ NetConn() net.Conn }: // *tls.Conn, gorilla's *websocket.Conn (paho's wrapper embeds it)
			conn = c.NetConn()
		default:
			return nil
		}
	}
	return nil
}

// quickAck turns the quick ACKs on; a benchmark turns them off to compare.
var quickAck atomic.Bool

func init() { quickAck.Store(true) }
