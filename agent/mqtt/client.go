package mqtt

import (
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Message is one MQTT publication.
type Message struct {
	Topic   string
	Payload []byte
	QoS     byte
	Retain  bool
}

// Received is a message delivered to a subscriber. Retain is set only for retained messages the broker
// sends on subscribing (a live publication arrives without the flag).
type Received struct {
	Message
	Duplicate bool
}

// Config describes one connection to one broker.
type Config struct {
	// URL is tcp://, tls://, ws:// or wss:// (also mqtt://, mqtts://, ssl://) followed by host:port.
	URL      string
	ClientID string
	Username string
	Password string
	// TLS is used for tls:// and wss://; nil means the system roots and no client certificate.
	TLS       *tls.Config
	KeepAlive time.Duration
	// CleanSession false asks the broker to keep our subscriptions and queue QoS 1 messages for us while
	// we are away (commands sent to a gateway during an outage arrive when it reconnects).
	CleanSession bool
	// Will is published by the broker if the connection dies without a DISCONNECT.
	Will *Message
	// Subscribe lists topic filters and their QoS, subscribed right after connecting.
	Subscribe map[string]byte
	// OnMessage receives messages on subscribed topics. It runs on the client's goroutine and must not
	// block. The payload is only valid during the call.
	OnMessage func(m Received)
	// ConnectTimeout bounds the TCP, TLS and MQTT handshakes; 10 s when zero.
	ConnectTimeout time.Duration
	// WriteTimeout bounds one write to the connection (a broker that stops reading): past it the
	// connection is dropped. It is also how long Publish may block handing a message over; 10 s when zero.
	WriteTimeout time.Duration
}

// Client is one live connection. When the connection drops, Lost is closed and the Client is spent:
// connect a new one (so that paho never replays its own copy of in-flight messages behind the caller's
// back; the caller replays from its journal in order).
type Client struct {
	c       paho.Client
	lost    chan struct{}
	once    sync.Once
	mu      sync.Mutex
	lostErr error
}

// Connect makes one connection attempt and subscribes. The error explains TLS and login failures (see
// Explain; a tls:// connection the broker drops right after the handshake counts as a TLS failure).
func Connect(ctx context.Context, cfg Config) (*Client, error) {
	cl := &Client{lost: make(chan struct{})}
	o := paho.NewClientOptions().
		AddBroker(cfg.URL).
		SetClientID(cfg.ClientID).
		SetCleanSession(cfg.CleanSession).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		// Handlers run in arrival order on one goroutine: subscribers (tail, tests) see messages in the
		// order the broker sent them. OnMessage must therefore not block.
		SetOrderMatters(true).
		SetWriteTimeout(cmp.Or(cfg.WriteTimeout, 10*time.Second)).
		SetProtocolVersion(4).
		// Our own opener: Nagle off and quick ACKs on whatever the transport (dial.go).
		SetCustomOpenConnectionFn(openConn)
	if cfg.KeepAlive > 0 {
		o.SetKeepAlive(cfg.KeepAlive)
		o.SetPingTimeout(min(cfg.KeepAlive, 10*time.Second))
	}
	ct := cfg.ConnectTimeout
	if ct <= 0 {
		ct = 10 * time.Second
	}
	o.SetConnectTimeout(ct)
	if cfg.Username != "" {
		o.SetUsername(cfg.Username)
		o.SetPassword(cfg.Password)
	}
	if cfg.TLS != nil {
		o.SetTLSConfig(cfg.TLS)
	}
	if w := cfg.Will; w != nil {
		o.SetBinaryWill(w.Topic, w.Payload, w.QoS, w.Retain)
	}
	if cfg.OnMessage != nil {
		h := cfg.OnMessage
		o.SetDefaultPublishHandler(func(_ paho.Client, m paho.Message) {
			h(Received{Message: Message{Topic: m.Topic(), Payload: m.Payload(), QoS: m.Qos(), Retain: m.Retained()}, Duplicate: m.Duplicate()})
		})
	}
	o.SetConnectionLostHandler(func(_ paho.Client, err error) { cl.markLost(err) })
	// paho reports a failure to open the connection (TCP connect, and for tls:// the TLS handshake) as
	// BrokerFailed; a failure without it happened after the handshake, in the MQTT CONNECT exchange.
	var dialFailed atomic.Bool
	o.SetConnectionNotificationHandler(func(_ paho.Client, n paho.ConnectionNotification) {
		if _, ok := n.(paho.ConnectionNotificationBrokerFailed); ok {
			dialFailed.Store(true)
		}
	})
	cl.c = paho.NewClient(o)

	if err := wait(ctx, cl.c.Connect()); err != nil {
		cl.c.Disconnect(0)
		return nil, fmt.Errorf("mqtt: connect %s: %w", cfg.URL, explain(err, Secure(cfg.URL) && !dialFailed.Load()))
	}
	if len(cfg.Subscribe) > 0 {
		if err := wait(ctx, cl.c.SubscribeMultiple(cfg.Subscribe, nil)); err != nil {
			cl.c.Disconnect(0)
			return nil, fmt.Errorf("mqtt: subscribe on %s: %w", cfg.URL, err)
		}
	}
	return cl, nil
}

func (cl *Client) markLost(err error) {
	cl.once.Do(func() {
		cl.mu.Lock()
		cl.lostErr = err
		cl.mu.Unlock()
		close(cl.lost)
	})
}

// Lost is closed when the connection has dropped (or was closed by Disconnect).
func (cl *Client) Lost() <-chan struct{} { return cl.lost }

// Err says why the connection was lost, once Lost is closed.
func (cl *Client) Err() error {
	cl.mu.Lock()
	defer cl.mu.Unlock()
	return cl.lostErr
}

// Token is a publication in flight. Done is closed when the broker acknowledged it (QoS 1), when it was
// written (QoS 0), or when it failed; then Err says which.
type Token struct{ t paho.Token }

// Done is closed when the publication completed or failed.
func (t Token) Done() <-chan struct{} { return t.t.Done() }

// Err is the publication's outcome once Done is closed.
func (t Token) Err() error { return t.t.Error() }

// Publish sends m without waiting. The payload must not be modified until the token is done.
// A QoS 0 message published while the connection is down is lost without an error (paho's behaviour);
// alarms therefore go at QoS 1.
func (cl *Client) Publish(m Message) Token {
	return Token{cl.c.Publish(m.Topic, m.QoS, m.Retain, m.Payload)}
}

// PublishWait publishes m and waits for its acknowledgement, the connection's loss or ctx.
func (cl *Client) PublishWait(ctx context.Context, m Message) error {
	t := cl.c.Publish(m.Topic, m.QoS, m.Retain, m.Payload)
	select {
	case <-t.Done():
		return t.Error()
	case <-cl.lost:
		return fmt.Errorf("mqtt: connection lost: %w", cl.Err())
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Disconnect sends DISCONNECT (so the broker discards the Will) after waiting up to quiesce for work in
// progress, and closes the connection.
func (cl *Client) Disconnect(quiesce time.Duration) {
	cl.c.Disconnect(uint(quiesce / time.Millisecond))
	cl.markLost(ErrClosed)
}

// ErrClosed is the reason of a connection closed by Disconnect.
var ErrClosed = errors.New("mqtt: closed by us")

func wait(ctx context.Context, t paho.Token) error {
	select {
	case <-t.Done():
		return t.Error()
	case <-ctx.Done():
		return ctx.Err()
	}
}
