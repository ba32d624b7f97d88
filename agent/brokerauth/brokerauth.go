package brokerauth

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/bcrypt"

	"github.com/rackwatch/rackwatch/agent/contract"
)

// Role is what a user may do.
type Role int

const (
	// None may log in but do nothing (a user of the password file that no role lists).
	None Role = iota
	// Reader subscribes under the prefix.
	Reader
	// Operator also publishes commands to any gateway.
	Operator
	// Gateway is the gateway's own client: it publishes under <prefix>/<gateway>/.
	Gateway
)

func (r Role) String() string {
	return [...]string{"none", "reader", "operator", "gateway"}[r]
}

// maxFile bounds the password file; a line is about 70 bytes.
const maxFile = 1 << 20

// Users are the users of a password file, with their roles.
type Users struct {
	prefix, gateway string
	hashes          map[string][]byte
	roles           map[string]Role
	// own is the gateway's own user and password, made at each start and known to nobody else.
	ownUser string
	ownPass []byte
	// discovery is Home Assistant's discovery prefix and the gateway's own filter under it, when
	// mqtt.home_assistant is on (AllowDiscovery).
	discovery, ownDiscovery string

	mu sync.Mutex // one bcrypt at a time: a flood of wrong passwords takes one core, not all
	ok map[string][32]byte
}

// ParseFile reads a password file: "user:hash" lines, hash bcrypt's; blank lines and lines starting with
// '#' are skipped. Errors name the line.
func ParseFile(path string) (map[string][]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(b) > maxFile {
		return nil, fmt.Errorf("%s is larger than %d bytes; it should hold one user:hash line per user", path, maxFile)
	}
	return Parse(path, b)
}

// Parse reads the contents of a password file; name names it in errors.
func Parse(name string, b []byte) (map[string][]byte, error) {
	out := map[string][]byte{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 4096), maxFile)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		user, hash, ok := strings.Cut(line, ":")
		switch {
		case !ok || user == "":
			return nil, fmt.Errorf("%s:%d: expected user:hash", name, n)
		case out[user] != nil:
			return nil, fmt.Errorf("%s:%d: user %q appears twice", name, n, user)
		}
		if _, err := bcrypt.Cost([]byte(hash)); err != nil {
			return nil, fmt.Errorf("%s:%d: user %q: not a bcrypt hash ($2a$, $2b$ or $2y$; make one with rackwatch key password): %v", name, n, user, err)
		}
		out[user] = []byte(hash)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return out, nil
}

// Hash returns a password file line for user.
func Hash(user string, password []byte) (string, error) {
	if user == "" || strings.ContainsAny(user, ":\n") {
		return "", errors.New("a user name must not be empty nor contain ':'")
	}
	if len(password) == 0 {
		return "", errors.New("empty password")
	}
	h, err := bcrypt.GenerateFromPassword(password, bcrypt.DefaultCost)
	if err != nil {
		return "", err
	}
	return user + ":" + string(h), nil
}

// New returns the users of the gateway's embedded broker: hashes from the password file, operators and
// readers by name, under the topic prefix of gateway. It also makes the gateway's own user (OwnLogin).
func New(prefix, gateway string, hashes map[string][]byte, operators, readers []string) *Users {
	u := &Users{prefix: prefix, gateway: gateway, hashes: hashes, roles: map[string]Role{}, ok: map[string][32]byte{}}
	for _, n := range readers {
		u.roles[n] = Reader
	}
	for _, n := range operators {
		u.roles[n] = Operator
	}
	var b [24]byte
	rand.Read(b[:])
	u.ownUser = "rackwatch-gateway-" + gateway
	u.ownPass = []byte(base64.RawURLEncoding.EncodeToString(b[:]))
	return u
}

// OwnLogin is the user and password the gateway's own client logs in with.
func (u *Users) OwnLogin() (user, password string) { return u.ownUser, string(u.ownPass) }

// Authenticate checks a login and returns the user's role; ok is false for an unknown user or a wrong
// password.
func (u *Users) Authenticate(user string, password []byte) (Role, bool) {
	if user == u.ownUser {
		return Gateway, subtle.ConstantTimeCompare(password, u.ownPass) == 1
	}
	h := u.hashes[user]
	if h == nil {
		return None, false
	}
	sum := sha256.Sum256(password)
	u.mu.Lock()
	defer u.mu.Unlock()
	// A dashboard reconnecting with the password that worked does not pay for bcrypt again.
	if prev, ok := u.ok[user]; ok && subtle.ConstantTimeCompare(prev[:], sum[:]) == 1 {
		return u.roles[user], true
	}
	if bcrypt.CompareHashAndPassword(h, password) != nil {
		return None, false
	}
	u.ok[user] = sum
	return u.roles[user], true
}

// RoleOf is the role of a user that has logged in.
func (u *Users) RoleOf(user string) Role {
	if user == u.ownUser {
		return Gateway
	}
	return u.roles[user]
}

// AllowDiscovery lets the gateway publish its Home Assistant discovery configs, the topics that match
// filter (prefix/+/NODE/+/config), and every reader and operator (Home Assistant logs in as one) read
// under the discovery prefix.
func (u *Users) AllowDiscovery(prefix, filter string) {
	u.discovery, u.ownDiscovery = prefix, filter
}

// Allowed says whether a client of role may publish on topic (write) or subscribe to the filter topic.
func (u *Users) Allowed(r Role, topic string, write bool) bool {
	if u.discovery != "" && strings.HasPrefix(topic, u.discovery+"/") {
		switch r {
		case Gateway:
			if write {
				return !wild(topic) && matches(u.ownDiscovery, topic)
			}
			return topic == u.ownDiscovery
		case Operator, Reader:
			return !write
		}
		return false
	}
	own := u.prefix + "/" + u.gateway + "/"
	switch r {
	case Gateway:
		if write {
			return strings.HasPrefix(topic, own) && !wild(topic)
		}
		return strings.HasPrefix(topic, own)
	case Operator:
		if write {
			return u.command(topic)
		}
		return u.under(topic)
	case Reader:
		return !write && u.under(topic)
	}
	return false
}

// under reports whether a topic filter stays under the prefix.
func (u *Users) under(filter string) bool {
	return filter == u.prefix+"/#" || strings.HasPrefix(filter, u.prefix+"/")
}

// command reports whether topic is <prefix>/<gateway>/cmd/<action> for a command action (not a result).
func (u *Users) command(topic string) bool {
	p, ok := contract.ParseTopic(u.prefix, topic)
	return ok && !wild(topic) && p.Kind == contract.KindCommand && contract.IsAction(p.Command)
}

func wild(topic string) bool { return strings.ContainsAny(topic, "+#") }

// matches reports whether topic matches filter, whose only wildcards are single levels (+).
func matches(filter, topic string) bool {
	f, t := strings.Split(filter, "/"), strings.Split(topic, "/")
	if len(f) != len(t) {
		return false
	}
	for i := range f {
		if f[i] != "+" && f[i] != t[i] || t[i] == "" {
			return false
		}
	}
	return true
}

// Roles lists the users and their roles, for `rackwatch check`; Missing the users a role names that the
// password file lacks (they cannot log in), and Roleless the users of the file no role names (they can
// log in and do nothing).
func (u *Users) Missing() []string {
	var out []string
	for n := range u.roles {
		if u.hashes[n] == nil {
			out = append(out, n)
		}
	}
	return out
}

// Roleless lists the users of the password file that no role names.
func (u *Users) Roleless() []string {
	var out []string
	for n := range u.hashes {
		if _, ok := u.roles[n]; !ok {
			out = append(out, n)
		}
	}
	return out
}
