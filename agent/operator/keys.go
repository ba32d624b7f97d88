package operator

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// Key files: the private key as PEM "PRIVATE KEY" (PKCS #8) and the public key as PEM "PUBLIC KEY"
// (PKIX), the forms OpenSSL writes too (openssl genpkey -algorithm ed25519; openssl pkey -pubout).
const (
	PrivateSuffix = ".key"
	PublicSuffix  = ".pub"
	// maxKeyFile bounds what is read of a key file; a real one is about 120 bytes.
	maxKeyFile = 64 << 10
)

// NewKeyFiles makes a key pair for operator name and writes dir/NAME.key (mode 0600, never over an
// existing file) and dir/NAME.pub (mode 0644). It returns the two paths.
func NewKeyFiles(dir, name string) (priv, pub string, err error) {
	if !contract.ValidOperator(name) {
		return "", "", fmt.Errorf("operator name %q: 1 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-', not starting with '.' or '-'", name)
	}
	pk, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return "", "", err
	}
	der, err := x509.MarshalPKCS8PrivateKey(sk)
	if err != nil {
		return "", "", err
	}
	pder, err := x509.MarshalPKIXPublicKey(pk)
	if err != nil {
		return "", "", err
	}
	priv = filepath.Join(dir, name+PrivateSuffix)
	pub = filepath.Join(dir, name+PublicSuffix)
	if _, err := os.Lstat(pub); err == nil {
		return "", "", fmt.Errorf("%s exists already; remove it or choose another name", pub)
	}
	f, err := os.OpenFile(priv, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return "", "", fmt.Errorf("%s exists already; a key is never overwritten (remove it or choose another name)", priv)
		}
		return "", "", err
	}
	err = pem.Encode(f, &pem.Block{Type: "PRIVATE KEY", Bytes: der})
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pder}), 0o644)
	}
	if err != nil {
		os.Remove(priv)
		return "", "", err
	}
	return priv, pub, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxKeyFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxKeyFile {
		return nil, fmt.Errorf("%s is larger than a key file (%d bytes read)", path, len(b))
	}
	return b, nil
}

// ReadPublicKey reads an operator's public key file (PEM "PUBLIC KEY", Ed25519).
func ReadPublicKey(path string) (ed25519.PublicKey, error) {
	b, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	return ParsePublicKey(b)
}

// ParsePublicKey reads the contents of a public key file.
func ParsePublicKey(b []byte) (ed25519.PublicKey, error) {
	blk, rest := pem.Decode(b)
	switch {
	case blk == nil:
		return nil, errors.New("not a PEM public key (expected -----BEGIN PUBLIC KEY-----; make one with rackwatch key new NAME)")
	case strings.Contains(blk.Type, "PRIVATE"):
		return nil, errors.New("this is a PRIVATE key: the gateway needs the operator's NAME.pub; the NAME.key stays with the operator, and should be replaced now that it has been copied here")
	case blk.Type != "PUBLIC KEY":
		return nil, fmt.Errorf("a PEM %q block; expected PUBLIC KEY", blk.Type)
	case len(strings.TrimSpace(string(rest))) > 0:
		return nil, errors.New("more than one PEM block; an operator key file holds one public key")
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("not a public key: %v", err)
	}
	pk, ok := k.(ed25519.PublicKey)
	if !ok {
		return nil, fmt.Errorf("a %T; operator keys are Ed25519 (rackwatch key new NAME)", k)
	}
	return pk, nil
}

// ReadPrivateKey reads an operator's private key file (PEM "PRIVATE KEY", Ed25519). Like ssh, it refuses a
// key that other users can read: whoever reads it can command every gateway that lists it.
func ReadPrivateKey(path string) (ed25519.PrivateKey, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if m := st.Mode().Perm(); m&0o077 != 0 {
		return nil, fmt.Errorf("%s can be read by others (mode %04o): anyone who reads it can command the gateways that list it; chmod 600 %s", path, m, path)
	}
	b, err := readBounded(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	switch {
	case blk == nil:
		return nil, fmt.Errorf("%s: not a PEM private key (expected -----BEGIN PRIVATE KEY-----)", path)
	case blk.Type == "PUBLIC KEY":
		return nil, fmt.Errorf("%s is a public key; sign with the private NAME.key", path)
	case blk.Type != "PRIVATE KEY":
		return nil, fmt.Errorf("%s: a PEM %q block; expected PRIVATE KEY", path, blk.Type)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	sk, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%s: a %T; operator keys are Ed25519 (rackwatch key new NAME)", path, k)
	}
	return sk, nil
}

// Fingerprint names a public key in logs and in `rackwatch check`: "SHA256:" and the unpadded base64 of
// the SHA-256 of the 32-byte key.
func Fingerprint(k ed25519.PublicKey) string {
	h := sha256.Sum256(k)
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(h[:])
}
