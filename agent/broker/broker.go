package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Broker is a running in-process MQTT broker.
type Broker struct {
	closing *atomic.Bool
	srv     *mqtt.Server
	addr    string
	once    sync.Once
	cerr    error
}

// Start listens on addr (host:port; port 0 picks a free one) and serves MQTT 3.1.1 and 5 clients until
// Close. Retained messages and sessions live in memory only.
func Start(addr string, log *slog.Logger) (*Broker, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	// A gateway has a handful of clients; keep per-client queues small so a stuck subscriber, or a
	// persistent session whose client never comes back, cannot eat the gateway's memory.
	caps.MaximumInflight = 256
	caps.MaximumClientWritesPending = 256
	caps.MaximumSessionExpiryInterval = 24 * 60 * 60
	closing := new(atomic.Bool)
	srv := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		// $SYS statistics every second would cost a Pi CPU for nobody; once a minute is plenty.
		SysTopicResendInterval: 60,
		// mochi logs every connect at info; that belongs at debug in an agent's log.
		Logger: slog.New(quieter{log.Handler(), closing}).With("component", "embedded-broker"),
	})
	if err := srv.AddHook(new(allowAll), nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	// Listen ourselves so that a busy port is reported now, not later from Serve's goroutine.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen %s: %w", addr, err)
	}
	tcp := listeners.NewNet("tcp", ln)
	if err := srv.AddListener(tcp); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	return &Broker{closing: closing, srv: srv, addr: ln.Addr().String()}, nil
}

// Addr is the address the broker listens on, with the real port when Start was given port 0.
func (b *Broker) Addr() string { return b.addr }

// URL is Addr as a broker URL (tcp://host:port) for clients.
func (b *Broker) URL() string { return "tcp://" + b.addr }

// DropClient cuts the network connection of the client with the given id without an MQTT DISCONNECT,
// as a failing link would, so the broker publishes the client's Last Will. It reports whether the client
// was connected.
func (b *Broker) DropClient(id string) bool {
	cl, ok := b.srv.Clients.Get(id)
	if !ok || cl.Closed() || cl.Net.Conn == nil {
		return false
	}
	// Close only the socket, as a failing link would: the broker's read then fails and it publishes the
	// Will. Stopping the client instead races with its read loop, which treats a stopped client as a
	// clean disconnect and discards the Will.
	cl.Net.Conn.Close()
	return true
}

// Close disconnects every client and stops listening. Closing twice is harmless.
func (b *Broker) Close() error {
	b.once.Do(func() {
		b.closing.Store(true)
		if err := b.srv.Close(); err != nil {
			b.cerr = fmt.Errorf("broker: %w", err)
		}
	})
	return b.cerr
}

// quieter moves mochi's info lines (one per client connect and disconnect) down to debug, and silences the
// read errors of connections it closes itself when the broker shuts down.
type quieter struct {
	slog.Handler
	closing *atomic.Bool
}

func (q quieter) Enabled(ctx context.Context, l slog.Level) bool {
	if l == slog.LevelInfo || q.closing.Load() && l < slog.LevelError {
		l = slog.LevelDebug
	}
	return q.Handler.Enabled(ctx, l)
}

func (q quieter) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelInfo {
		r.Level = slog.LevelDebug
	}
	return q.Handler.Handle(ctx, r)
}

func (q quieter) WithAttrs(as []slog.Attr) slog.Handler {
	return quieter{q.Handler.WithAttrs(as), q.closing}
}
func (q quieter) WithGroup(g string) slog.Handler { return quieter{q.Handler.WithGroup(g), q.closing} }

// allowAll lets every client connect and use every topic: the embedded broker listens where the config
// says (loopback by default) and is as open as that address. It is written here rather than taken from
// mochi's auth package, which would link a second YAML library into the binary for its ledger files.
type allowAll struct{ mqtt.HookBase }

func (*allowAll) ID() string { return "allow-all" }

func (*allowAll) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck
}

func (*allowAll) OnConnectAuthenticate(*mqtt.Client, packets.Packet) bool { return true }

func (*allowAll) OnACLCheck(*mqtt.Client, string, bool) bool { return true }
