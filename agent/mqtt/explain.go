package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/eclipse/paho.mqtt.golang/packets"
)

// Kind classifies why a connection failed, so the caller can tell a broker that is down (retry quietly)
// from a configuration problem (say so loudly: retrying will not fix it).
type Kind int

// Kinds of connection failure.
const (
	Unreachable Kind = iota // network down, broker down, refused, timed out
	BadTLS                  // wrong CA, expired or mismatched certificate, client certificate rejected
	BadLogin                // refused login or client id
)

// Error is a connection failure with a sentence for the operator.
type Error struct {
	Kind Kind
	Hint string
	Err  error
}

func (e *Error) Error() string {
	if e.Hint == "" {
		return e.Err.Error()
	}
	return e.Hint + ": " + e.Err.Error()
}

func (e *Error) Unwrap() error { return e.Err }

// KindOf returns the Kind of err, Unreachable when it is not an *Error.
func KindOf(err error) Kind {
	var e *Error
	if errors.As(err, &e) {
		return e.Kind
	}
	return Unreachable
}

// Explain wraps a connection error in an *Error whose text says what to check.
func Explain(err error) error { return explain(err, false) }

// explain is Explain for Connect, which also knows whether a TLS handshake with the broker completed.
// With TLS 1.3 the broker checks our client certificate after our side of the handshake is done: a broker
// that rejects it sends an alert and closes the connection, and the client, by then writing CONNECT or
// waiting for CONNACK, often sees the reset or the end of the stream instead of the alert. A TLS
// connection that the broker drops at once after the handshake is therefore a TLS problem, not an outage.
func explain(err error, afterTLSHandshake bool) error {
	if err == nil {
		return nil
	}
	var (
		ua   x509.UnknownAuthorityError
		inv  x509.CertificateInvalidError
		host x509.HostnameError
		vErr *tls.CertificateVerificationError
		rec  tls.RecordHeaderError
		alrt tls.AlertError
		ne   net.Error
	)
	switch {
	case errors.As(err, &ua):
		return &Error{BadTLS, "the broker's certificate is not signed by a CA we trust (check ca_file)", err}
	case errors.As(err, &inv):
		if inv.Reason == x509.Expired {
			return &Error{BadTLS, "a certificate has expired or is not valid yet (check the broker's certificate and the gateway's clock)", err}
		}
		return &Error{BadTLS, "the broker's certificate is not valid for this use", err}
	case errors.As(err, &host):
		return &Error{BadTLS, fmt.Sprintf("the broker's certificate does not name this host (set server_name to one of its names: %s)", strings.Join(host.Certificate.DNSNames, ", ")), err}
	case errors.As(err, &vErr):
		return &Error{BadTLS, "the broker's certificate failed verification (check ca_file)", err}
	case errors.As(err, &rec):
		return &Error{BadTLS, "the broker did not answer in TLS (tls:// URL to a plain MQTT port?)", err}
	case errors.As(err, &alrt), strings.Contains(err.Error(), "remote error: tls:"):
		return &Error{BadTLS, "the broker rejected our TLS handshake (client certificate missing, expired or not signed by its CA?)", err}
	case afterTLSHandshake && closedByPeer(err):
		return &Error{BadTLS, "the broker closed the connection right after the TLS handshake: it probably rejected our TLS handshake (client certificate missing, expired or not signed by its CA, or TLS settings it does not accept?)", err}
	case errors.Is(err, packets.ErrorRefusedBadUsernameOrPassword), errors.Is(err, packets.ErrorRefusedNotAuthorised):
		return &Error{BadLogin, "the broker refused the login (check username and password_file/password_env)", err}
	case errors.Is(err, packets.ErrorRefusedIDRejected):
		return &Error{BadLogin, "the broker rejected the client id (check client_id)", err}
	case errors.Is(err, syscall.ECONNREFUSED):
		return &Error{Unreachable, "nothing listens at the broker's address (broker down?)", err}
	case errors.As(err, &ne) && ne.Timeout():
		return &Error{Unreachable, "the broker did not answer in time", err}
	}
	return &Error{Unreachable, "", err}
}

// closedByPeer reports whether err says the other end reset or closed the connection.
func closedByPeer(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNABORTED) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}
