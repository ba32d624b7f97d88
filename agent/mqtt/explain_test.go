package mqtt_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"io"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/mqtt"
)

// serverCert is a self-signed certificate for 127.0.0.1, and a client config that trusts it.
func serverCert(t *testing.T) (tls.Certificate, *tls.Config) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "broker"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &k.PublicKey, k)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(c)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: k}, &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
}

// serve accepts connections on a loopback listener and hands each to handle, until the test ends.
func serve(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() { defer c.Close(); handle(c) }()
		}
	}()
	return l.Addr().String()
}

// reset closes c with a TCP reset rather than an orderly close.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

func connectErr(t *testing.T, url string, tc *tls.Config) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), failAfter)
	defer cancel()
	cl, err := mqtt.Connect(ctx, mqtt.Config{URL: url, ClientID: "gw1", TLS: tc, ConnectTimeout: failAfter})
	if err == nil {
		cl.Disconnect(0)
		t.Fatal("connected")
	}
	return err
}

// With TLS 1.3 a broker that rejects the client certificate does so after the client's handshake is done;
// the client then often sees the connection reset or closed instead of the alert. Either way the error
// says it is a TLS problem and what to check, not that the broker is down.
func TestExplainTLSDroppedAfterHandshake(t *testing.T) {
	cert, clientTLS := serverCert(t)
	serverTLS := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	for name, after := range map[string]func(net.Conn, *tls.Conn){
		// The broker reads CONNECT, then resets: the client's read of CONNACK fails with ECONNRESET.
		"reset": func(raw net.Conn, c *tls.Conn) { c.Read(make([]byte, 64)); reset(raw) },
		// The broker reads CONNECT, then closes in order: the client reads the end of the stream.
		"closed": func(raw net.Conn, c *tls.Conn) { c.Read(make([]byte, 64)); c.Close() },
		// The broker resets at once, before CONNECT: the client's write or read fails.
		"reset at once": func(raw net.Conn, c *tls.Conn) { reset(raw) },
	} {
		t.Run(name, func(t *testing.T) {
			addr := serve(t, func(raw net.Conn) {
				c := tls.Server(raw, serverTLS)
				if c.Handshake() != nil {
					return
				}
				after(raw, c)
			})
			err := connectErr(t, "tls://"+addr, clientTLS)
			if mqtt.KindOf(err) != mqtt.BadTLS || !strings.Contains(err.Error(), "rejected our TLS handshake") {
				t.Fatalf("kind %v, err %v; want BadTLS saying the broker rejected our TLS handshake", mqtt.KindOf(err), err)
			}
		})
	}

	// The real thing: a TLS 1.3 server that requires a client certificate, and a client without one. Which
	// error the client gets depends on timing; try a few times to meet both.
	t.Run("client certificate required", func(t *testing.T) {
		strict := serverTLS.Clone()
		strict.ClientAuth = tls.RequireAnyClientCert
		addr := serve(t, func(raw net.Conn) {
			c := tls.Server(raw, strict)
			c.Handshake()
			io.Copy(io.Discard, c)
		})
		for range 10 {
			err := connectErr(t, "tls://"+addr, clientTLS)
			if mqtt.KindOf(err) != mqtt.BadTLS || !strings.Contains(err.Error(), "rejected our TLS handshake") {
				t.Fatalf("kind %v, err %v; want BadTLS saying the broker rejected our TLS handshake", mqtt.KindOf(err), err)
			}
		}
	})
}

// A plain TCP connection the broker drops is an outage (a broker restarting, a connection limit), not a
// TLS problem; so is a TLS broker that drops us before the handshake is done.
func TestExplainDroppedWithoutTLSIsUnreachable(t *testing.T) {
	plain := serve(t, func(c net.Conn) { c.Read(make([]byte, 64)); reset(c) })
	if err := connectErr(t, "tcp://"+plain, nil); mqtt.KindOf(err) != mqtt.Unreachable {
		t.Errorf("plain TCP reset: kind %v, err %v; want Unreachable", mqtt.KindOf(err), err)
	}
	_, clientTLS := serverCert(t)
	early := serve(t, func(c net.Conn) { c.Read(make([]byte, 64)); reset(c) }) // reads the ClientHello, resets
	if err := connectErr(t, "tls://"+early, clientTLS); mqtt.KindOf(err) != mqtt.Unreachable {
		t.Errorf("reset during the TLS handshake: kind %v, err %v; want Unreachable", mqtt.KindOf(err), err)
	}
}
