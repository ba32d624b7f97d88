package delivery

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rackwatch/rackwatch/agent/contract"
	"github.com/rackwatch/rackwatch/agent/internal/mosquittotest"
	"github.com/rackwatch/rackwatch/agent/mqtt"
	"github.com/rackwatch/rackwatch/agent/promtext"
)

func feed(t testing.TB, d *Delivery, from, to uint64) { feedBatch(t, d, from, to, 1) }

func feedBatch(t testing.TB, d *Delivery, from, to uint64, batch int) {
	t.Helper()
	as := make([]contract.Alarm, 0, batch)
	for seq := from; seq <= to; seq++ {
		as = append(as, transition(seq, "batt-heating", fmt.Sprintf("ups%d", seq%3), "battery_temp"))
		if len(as) == batch || seq == to {
			if err := d.Transitions(as); err != nil {
				t.Fatal(err)
			}
			as = as[:0]
		}
	}
}

// A broker outage in the middle of a burst of alarms: a subscriber with a persistent session receives
// every transition in seq order with no gap once the broker is back.
func TestMosquittoOutageAndRestart(t *testing.T) {
	m := mosquittotest.Start(t, mosquittotest.Options{})
	central := subscribe(t, m.URL, "central", false, "rackwatch/gw1/events")
	cfg := testConfig(t, t.TempDir(), "  brokers:\n    - {url: "+m.URL+", keepalive: 5s}")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery(t, d)
	waitReady(t, d)

	feed(t, d, 1, 100)
	m.Stop()
	feed(t, d, 101, 200) // broker down: journaled only
	m.Start()
	feed(t, d, 201, 300)
	central.reconnect(m.URL, "central", false, "rackwatch/gw1/events")
	ms := central.waitFor("seq 300", func(ms []mqtt.Received) bool {
		s := eventSeqs(t, ms, "rackwatch/gw1/events")
		return len(s) > 0 && s[len(s)-1] == 300
	})
	checkInOrder(t, eventSeqs(t, ms, "rackwatch/gw1/events"), 300)
}

// Two brokers, one down for the whole test: the other gets everything, and the down one is reported.
func TestTwoBrokersOneDown(t *testing.T) {
	m := mosquittotest.Start(t, mosquittotest.Options{})
	l, _ := net.Listen("tcp", "127.0.0.1:0")
	dead := "tcp://" + l.Addr().String()
	l.Close()
	s := subscribe(t, m.URL, "site-a", true, "rackwatch/gw1/events")
	cfg := testConfig(t, t.TempDir(), "  brokers:\n    - {url: "+dead+"}\n    - {url: "+m.URL+"}")
	d, err := Open(context.Background(), cfg, testLog(t))
	if err != nil {
		t.Fatal(err)
	}
	defer closeDelivery2(d)
	feed(t, d, 1, 100)
	ms := s.waitFor("100 events", func(ms []mqtt.Received) bool { return len(ms) >= 100 })
	checkInOrder(t, eventSeqs(t, ms, "rackwatch/gw1/events"), 100)

	herr := d.Health()
	if herr == nil || !strings.Contains(herr.Error(), dead) || strings.Contains(herr.Error(), m.URL) {
		t.Fatalf("health = %v; want only the dead broker named", herr)
	}
	waitMetrics(t, d,
		fmt.Sprintf(`rackwatch_mqtt_pending_transitions{broker=%q} 100`, dead),
		fmt.Sprintf(`rackwatch_mqtt_pending_transitions{broker=%q} 0`, m.URL),
		fmt.Sprintf(`rackwatch_mqtt_connected{broker=%q} 0`, dead),
		fmt.Sprintf(`rackwatch_mqtt_transitions_published_total{broker=%q} 100`, m.URL))
}

// waitMetrics waits until the metrics text holds every wanted line (acknowledgements are counted just
// after the subscriber sees the message).
func waitMetrics(t testing.TB, d *Delivery, want ...string) {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for {
		var mb bytes.Buffer
		d.WriteMetrics(promtext.New(&mb))
		missing := ""
		for _, w := range want {
			if !strings.Contains(mb.String(), w+"\n") {
				missing = w
			}
		}
		if missing == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("metrics lack %s:\n%s", missing, mb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

type pki struct {
	dir                                  string
	ca, wrongCA, server, client, clientK string
	serverK                              string
	expired, expiredK                    string // a server certificate that expired an hour ago
}

func writePEM(t testing.TB, path, typ string, der []byte) string {
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func newCert(t testing.TB, tmpl, parent *x509.Certificate, parentKey *ecdsa.PrivateKey) (*x509.Certificate, *ecdsa.PrivateKey, []byte) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if parent == nil {
		parent, parentKey = tmpl, k
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &k.PublicKey, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return c, k, der
}

func makePKI(t testing.TB) pki {
	dir := t.TempDir()
	p := pki{dir: dir}
	now := time.Now()
	caT := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test ca"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	ca, caK, der := newCert(t, caT, nil, nil)
	p.ca = writePEM(t, filepath.Join(dir, "ca.pem"), "CERTIFICATE", der)
	_, _, der = newCert(t, &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "other ca"}, NotBefore: now.Add(-time.Hour),
		NotAfter: now.Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}, nil, nil)
	p.wrongCA = writePEM(t, filepath.Join(dir, "wrong-ca.pem"), "CERTIFICATE", der)
	leaf := func(n int64, cn string, usage x509.ExtKeyUsage) (string, string) {
		notAfter := now.Add(time.Hour)
		if cn == "expired" {
			notAfter = now.Add(-time.Hour)
		}
		tm := &x509.Certificate{SerialNumber: big.NewInt(n), Subject: pkix.Name{CommonName: cn}, NotBefore: now.Add(-2 * time.Hour),
			NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, DNSNames: []string{"broker.test"}}
		_, k, der := newCert(t, tm, ca, caK)
		kd, _ := x509.MarshalECPrivateKey(k)
		return writePEM(t, filepath.Join(dir, cn+".pem"), "CERTIFICATE", der), writePEM(t, filepath.Join(dir, cn+".key"), "EC PRIVATE KEY", kd)
	}
	p.server, p.serverK = leaf(3, "server", x509.ExtKeyUsageServerAuth)
	p.client, p.clientK = leaf(4, "gw1", x509.ExtKeyUsageClientAuth)
	p.expired, p.expiredK = leaf(5, "expired", x509.ExtKeyUsageServerAuth)
	return p
}

// Mutual TLS with a CA generated here; a wrong CA, a missing client certificate and a refused login are
// each reported by Health with a sentence saying what to check.
func TestMosquittoTLSAndAuth(t *testing.T) {
	p := makePKI(t)
	m := mosquittotest.Start(t, mosquittotest.Options{CAFile: p.ca, CertFile: p.server, KeyFile: p.serverK, RequireClientCert: true})

	t.Run("mutual TLS", func(t *testing.T) {
		cfg := testConfig(t, t.TempDir(), fmt.Sprintf("  brokers:\n    - {url: %s, ca_file: %s, cert_file: %s, key_file: %s}", m.URL, p.ca, p.client, p.clientK))
		d, err := Open(context.Background(), cfg, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		defer closeDelivery(t, d)
		feed(t, d, 1, 5)
		ctx, cancel := context.WithTimeout(context.Background(), failAfter)
		defer cancel()
		if err := d.Flush(ctx); err != nil {
			t.Fatalf("flush over mutual TLS: %v (health: %v)", err, d.Health())
		}
	})
	unhealthy := func(t *testing.T, brokerYAML, want string) {
		cfg := testConfig(t, t.TempDir(), "  brokers:\n    - "+brokerYAML)
		d, err := Open(context.Background(), cfg, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		defer closeDelivery2(d)
		deadline := time.Now().Add(failAfter)
		for {
			err := d.Health()
			if err != nil && strings.Contains(err.Error(), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("health = %v; want it to say %q", err, want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	t.Run("wrong CA", func(t *testing.T) {
		unhealthy(t, fmt.Sprintf("{url: %s, ca_file: %s, cert_file: %s, key_file: %s}", m.URL, p.wrongCA, p.client, p.clientK),
			"not signed by a CA we trust (check ca_file)")
	})
	t.Run("name mismatch", func(t *testing.T) {
		unhealthy(t, fmt.Sprintf("{url: %s, ca_file: %s, cert_file: %s, key_file: %s, server_name: other.test}", m.URL, p.ca, p.client, p.clientK),
			"does not name this host (set server_name")
	})
	t.Run("no client certificate", func(t *testing.T) {
		unhealthy(t, fmt.Sprintf("{url: %s, ca_file: %s}", m.URL, p.ca), "rejected our TLS handshake")
	})

	mx := mosquittotest.Start(t, mosquittotest.Options{CAFile: p.ca, CertFile: p.expired, KeyFile: p.expiredK})
	t.Run("expired broker certificate", func(t *testing.T) {
		unhealthy(t, fmt.Sprintf("{url: %s, ca_file: %s}", mx.URL, p.ca), "has expired or is not valid yet")
	})

	ma := mosquittotest.Start(t, mosquittotest.Options{Users: map[string]string{"gw1": "s3cret"}})
	t.Run("refused login", func(t *testing.T) {
		t.Setenv("RW_TEST_PASS", "wrong")
		unhealthy(t, fmt.Sprintf("{url: %s, username: gw1, password_env: RW_TEST_PASS}", ma.URL), "refused the login")
	})
	t.Run("login", func(t *testing.T) {
		pw := filepath.Join(t.TempDir(), "pass")
		os.WriteFile(pw, []byte("s3cret\n"), 0o600)
		cfg := testConfig(t, t.TempDir(), fmt.Sprintf("  brokers:\n    - {url: %s, username: gw1, password_file: %s}", ma.URL, pw))
		d, err := Open(context.Background(), cfg, testLog(t))
		if err != nil {
			t.Fatal(err)
		}
		defer closeDelivery(t, d)
		feed(t, d, 1, 3)
		ctx, cancel := context.WithTimeout(context.Background(), failAfter)
		defer cancel()
		if err := d.Flush(ctx); err != nil {
			t.Fatalf("flush with a password: %v (health: %v)", err, d.Health())
		}
	})
}
