package broker

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/rackwatch/rackwatch/agent/brokerauth"
	"github.com/rackwatch/rackwatch/agent/ratelog"
)

// Broker is a running in-process MQTT broker.
type Broker struct {
	closing *atomic.Bool
	srv     *mqtt.Server
	bounds  *bounds
	addr    string
	once    sync.Once
	cerr    error
}

// Limits bound what clients of the embedded broker can make it hold: it runs inside the agent, on a
// gateway with a few MiB to spare, and anyone who can reach its port is a client.
type Limits struct {
	// MaxPacket is the largest MQTT packet accepted; a client sending a larger one is disconnected.
	MaxPacket uint32
	// MaxClients bounds the sessions, connected or kept for a client that went away; further clients are
	// refused (CONNACK "not authorized", or "server unavailable" once that many are connected).
	MaxClients int
	// MaxRetained and MaxRetainedBytes bound the retained messages (count, and bytes of topics and
	// payloads). A retained publication beyond them is delivered to the current subscribers but not kept.
	// Topics under Reserved (the gateway's own, <prefix>/<gateway>/) are exempt: the gateway's alarm
	// states must be retained whatever other clients did.
	MaxRetained      int
	MaxRetainedBytes int
	Reserved         string
	// OwnClient is the gateway's own client id: it is always admitted, however many sessions others hold.
	OwnClient string
}

// DefaultLimits are the embedded broker's bounds unless StartWith says otherwise: far above what a
// gateway's dashboards and consoles need (an alarm is about 1 KiB), far below the gateway's memory.
var DefaultLimits = Limits{MaxPacket: 256 << 10, MaxClients: 64, MaxRetained: 4096, MaxRetainedBytes: 4 << 20}

// Start is StartWith with DefaultLimits.
func Start(addr string, log *slog.Logger) (*Broker, error) {
	return StartWith(addr, log, DefaultLimits)
}

// StartWith is StartOptions with these limits and no users: every client is admitted, anonymous.
func StartWith(addr string, log *slog.Logger, lim Limits) (*Broker, error) {
	return StartOptions(addr, log, Options{Limits: lim})
}

// Options configure the broker.
type Options struct {
	Limits Limits
	// Users, when set, are the only clients admitted (a user and its password), each doing only what its
	// role allows (brokerauth). Nil admits every client, anonymous, to every topic: loopback only.
	Users *brokerauth.Users
}

// StartOptions listens on addr (host:port; port 0 picks a free one) and serves MQTT 3.1.1 and 5 clients
// until Close, within opt.Limits, to opt.Users. Retained messages and sessions live in memory only.
func StartOptions(addr string, log *slog.Logger, opt Options) (*Broker, error) {
	lim := opt.Limits
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	// A gateway has a handful of clients; keep per-client queues small so a stuck subscriber, or a
	// persistent session whose client never comes back, cannot eat the gateway's memory.
	caps.MaximumInflight = 256
	caps.MaximumClientWritesPending = 256
	caps.MaximumSessionExpiryInterval = 24 * 60 * 60
	caps.MaximumPacketSize = lim.MaxPacket
	if lim.MaxClients > 0 {
		// One more for the gateway's own client; the sessions are counted by the bounds hook.
		caps.MaximumClients = int64(lim.MaxClients) + 1
	}
	closing := new(atomic.Bool)
	srv := mqtt.New(&mqtt.Options{
		Capabilities: caps,
		// $SYS statistics every second would cost a Pi CPU for nobody; once a minute is plenty.
		SysTopicResendInterval: 60,
		// mochi logs every connect at info; that belongs at debug in an agent's log.
		Logger: slog.New(quieter{log.Handler(), closing}).With("component", "embedded-broker"),
	})
	bd := &bounds{lim: lim, users: opt.Users, srv: srv, log: log.With("component", "embedded-broker"), rl: ratelog.New(time.Minute, 0), sizes: map[string]int{}}
	if err := srv.AddHook(bd, nil); err != nil {
		return nil, fmt.Errorf("broker: %w", err)
	}
	// Listen ourselves so that a busy port is reported now, not later from Serve's goroutine.
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("broker: listen %s: %w", addr, err)
	}
	tcp := listeners.NewNet("tcp", noDelay{ln})
	if err := srv.AddListener(tcp); err != nil {
		ln.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	if err := srv.Serve(); err != nil {
		srv.Close()
		return nil, fmt.Errorf("broker: %w", err)
	}
	return &Broker{closing: closing, srv: srv, bounds: bd, addr: ln.Addr().String()}, nil
}

// RefusedAuth counts the logins refused (unknown user, wrong password, a client id or a will not theirs)
// and the publications and subscriptions the users' roles do not allow.
func (b *Broker) RefusedAuth() (logins, denied uint64) {
	return b.bounds.refusedLogins.Load(), b.bounds.denied.Load()
}

// Refused counts what the limits refused: clients, and retained messages not kept.
func (b *Broker) Refused() (clients, retained uint64) {
	return b.bounds.refusedClients.Load(), b.bounds.refusedRetained.Load()
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

// bounds lets every client connect and use every topic, within Limits: the embedded broker listens where
// the config says (loopback by default) and is as open as that address. It is written here rather than
// taken from mochi's auth package, which would link a second YAML library into the binary for its ledger
// files.
type bounds struct {
	mqtt.HookBase
	lim Limits
	srv *mqtt.Server
	log *slog.Logger
	rl  *ratelog.Limiter

	mu    sync.Mutex
	sizes map[string]int // retained topics outside Reserved, and their bytes
	total int

	refusedClients, refusedRetained atomic.Uint64

	// users, when set, decide who logs in and what each may do.
	users                 *brokerauth.Users
	refusedLogins, denied atomic.Uint64
}

func (*bounds) ID() string { return "bounds" }

func (*bounds) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnPublish
}

// OnConnectAuthenticate admits a client that logs in as one of the users (when there are users), unless
// MaxClients sessions exist already (sessions kept for clients that went away count: each holds queued
// messages), and it is not one of them coming back.
func (h *bounds) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	if h.users != nil && !h.login(cl, pk) {
		h.refusedLogins.Add(1)
		return false
	}
	if h.lim.MaxClients <= 0 {
		return true
	}
	if _, known := h.srv.Clients.Get(cl.ID); known || cl.ID == h.lim.OwnClient || h.srv.Clients.Len() < h.lim.MaxClients {
		return true
	}
	h.refusedClients.Add(1)
	h.rl.Log(h.log, slog.LevelWarn, "clients", "embedded broker: refusing a client; too many sessions",
		"client", cl.ID, "remote", cl.Net.Remote, "max_clients", h.lim.MaxClients)
	return false
}

// login checks a client's user and password, and that the client id and the will it brings are its own:
// taking over another user's session (the gateway's own, say) would cut that client off, and mochi
// publishes a will without asking the ACL, so a reader's will on the gateway's status topic would forge
// an "offline".
func (h *bounds) login(cl *mqtt.Client, pk packets.Packet) bool {
	user := string(pk.Connect.Username)
	role, ok := h.users.Authenticate(user, pk.Connect.Password)
	why := ""
	switch {
	case !ok && user == "":
		why = "anonymous clients are not admitted (mqtt.embedded_broker_auth)"
	case !ok:
		why = "unknown user or wrong password"
	case cl.ID == h.lim.OwnClient && role != brokerauth.Gateway:
		why = "the gateway's own client id"
	case pk.Connect.WillFlag && !h.users.Allowed(role, pk.Connect.WillTopic, true):
		why = "a will on a topic this user may not publish to"
	}
	if why == "" {
		if old, known := h.srv.Clients.Get(cl.ID); known && string(old.Properties.Username) != user {
			why = "a client id in use by another user"
		}
	}
	if why != "" {
		h.rl.Log(h.log, slog.LevelWarn, "login", "embedded broker: refusing a client: "+why,
			"client", cl.ID, "user", user, "remote", cl.Net.Remote)
		return false
	}
	return true
}

// OnACLCheck lets a client publish (write) or subscribe and receive only what its user's role allows.
func (h *bounds) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if h.users == nil {
		return true
	}
	user := string(cl.Properties.Username)
	if h.users.Allowed(h.users.RoleOf(user), topic, write) {
		return true
	}
	h.denied.Add(1)
	verb := "subscribe to"
	if write {
		verb = "publish on"
	}
	h.rl.Log(h.log, slog.LevelWarn, "acl:"+user, "embedded broker: a client may not "+verb+" this topic",
		"client", cl.ID, "user", user, "topic", topic)
	return false
}

// OnPublish keeps retained messages within MaxRetained and MaxRetainedBytes: beyond them a retained
// publication still reaches the current subscribers, but is not kept.
func (h *bounds) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !pk.FixedHeader.Retain || h.lim.Reserved != "" && strings.HasPrefix(pk.TopicName, h.lim.Reserved) {
		return pk, nil
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	old, had := h.sizes[pk.TopicName]
	if len(pk.Payload) == 0 { // clears the retained message
		delete(h.sizes, pk.TopicName)
		h.total -= old
		return pk, nil
	}
	size := len(pk.TopicName) + len(pk.Payload)
	if (!had && h.lim.MaxRetained > 0 && len(h.sizes) >= h.lim.MaxRetained) ||
		(h.lim.MaxRetainedBytes > 0 && size > old && h.total-old+size > h.lim.MaxRetainedBytes) {
		pk.FixedHeader.Retain = false
		h.refusedRetained.Add(1)
		h.rl.Log(h.log, slog.LevelWarn, "retained", "embedded broker: not retaining a message; the retained messages are at their bound",
			"client", cl.ID, "topic", pk.TopicName, "max_retained", h.lim.MaxRetained, "max_retained_bytes", h.lim.MaxRetainedBytes)
		return pk, nil
	}
	h.sizes[pk.TopicName] = size
	h.total += size - old
	return pk, nil
}

// noDelay turns Nagle's algorithm off on every connection accepted, explicitly: an acknowledgement or an
// alarm forwarded to a dashboard is a small write that must leave at once, not wait for the ACK of the
// previous one (Go's net package does the same by default; this keeps it so whatever listener is used).
type noDelay struct{ net.Listener }

func (l noDelay) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetNoDelay(true); err != nil {
			c.Close()
			return nil, err
		}
	}
	return c, err
}
