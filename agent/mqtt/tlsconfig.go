package mqtt

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"strings"

	"github.com/rackwatch/rackwatch/agent/settings"
)

// TLSConfig builds the TLS settings of one broker connection: caFile (PEM) replaces the system roots when
// set; certFile and keyFile give a client certificate for mutual TLS; serverName overrides the name
// checked in the broker's certificate.
func TLSConfig(caFile, certFile, keyFile, serverName string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: serverName}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("mqtt: ca_file %s: no PEM certificate in it", caFile)
		}
		c.RootCAs = pool
	}
	if certFile != "" || keyFile != "" {
		cert, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("mqtt: cert_file/key_file: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}

// Secure reports whether a broker URL asks for TLS (tls://, ssl://, mqtts://, wss://).
func Secure(url string) bool {
	for _, s := range []string{"tls://", "ssl://", "mqtts://", "wss://"} {
		if strings.HasPrefix(url, s) {
			return true
		}
	}
	return false
}

// Credentials sets c's TLS (when c.URL is secure) from PEM files and its password from password: the one
// way a broker entry of a gateway's or the pager's config, and the console's flags, become connection
// settings.
func (c *Config) Credentials(caFile, certFile, keyFile, serverName string, password settings.Secret) error {
	if Secure(c.URL) {
		tc, err := TLSConfig(caFile, certFile, keyFile, serverName)
		if err != nil {
			return err
		}
		c.TLS = tc
	}
	p, err := password.Read()
	if err != nil {
		return fmt.Errorf("password: %w", err)
	}
	c.Password = p
	return nil
}
